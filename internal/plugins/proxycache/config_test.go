package proxycache

import (
	"reflect"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		set  func(c *Config)
		want plugin.Errors
	}{
		{"no strategy", func(c *Config) { c.Strategy = "" }, plugin.Errors{{Path: "strategy", Message: "required field missing"}}},
		{"bad strategy", func(c *Config) { c.Strategy = "disk" }, plugin.Errors{{Path: "strategy", Message: "expected one of: memory, redis"}}},
		{"codes", func(c *Config) { c.ResponseCode = []int{200, 99, 901} }, plugin.Errors{
			{Path: "response_code[1]", Message: "value should be between 100 and 900"},
			{Path: "response_code[2]", Message: "value should be between 100 and 900"}}},
		{"no codes", func(c *Config) { c.ResponseCode = nil }, plugin.Errors{{Path: "response_code", Message: "length must be at least 1"}}},
		{"method", func(c *Config) { c.RequestMethod = []string{"GET", "DELETE"} }, plugin.Errors{
			{Path: "request_method[1]", Message: "expected one of: HEAD, GET, POST, PATCH, PUT"}}},
		{"ttl", func(c *Config) { c.CacheTTL = 0 }, plugin.Errors{{Path: "cache_ttl", Message: "value must be greater than 0"}}},
		{"cache_control map on proxy-cache", func(c *Config) { c.CacheControl = map[string]any{"enabled": true} },
			plugin.Errors{{Path: "cache_control", Message: "expected a boolean"}}},
		{"vary header", func(c *Config) { c.VaryHeaders = []string{"ok", "bad header"} }, plugin.Errors{
			{Path: "vary_headers[1]", Message: "bad header name 'bad header', allowed characters are A-Z, a-z, 0-9, '_', and '-'"}}},
		{"cache_key", func(c *Config) { c.CacheKey = "$host$nope" }, plugin.Errors{{Path: "cache_key", Message: "unknown variable '$nope'"}}},
		{"use_stale", func(c *Config) { c.UseStale = []string{"error", "http_404"} }, plugin.Errors{
			{Path: "use_stale[1]", Message: "expected one of: error, timeout, http_500, http_502, http_503, http_504, updating"}}},
		{"redis without host", func(c *Config) { c.Strategy = "redis" }, plugin.Errors{{Path: "redis.host", Message: "required field missing"}}},
		{"redis port", func(c *Config) { c.Strategy = "redis"; c.Redis.Host = "h"; c.Redis.Port = 70000 },
			plugin.Errors{{Path: "redis.port", Message: "value should be between 0 and 65535"}}},
		{"lock_timeout", func(c *Config) { c.LockTimeout = 0 }, plugin.Errors{{Path: "lock_timeout", Message: "value should be between 0 and 3600 (exclusive of 0)"}}},
		{"max_size", func(c *Config) { c.MaxSize = 10 }, plugin.Errors{{Path: "max_size", Message: "value must be at least 1048576"}}},
		{"content type", func(c *Config) { c.ContentType = []string{"text/plain", "nope"} }, plugin.Errors{{Path: "content_type[1]", Message: "invalid media type 'nope'"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{}
			c.SetDefaults()
			c.Strategy = strategyMemory
			tc.set(c)
			_, errs := compile(c, nil)
			if !reflect.DeepEqual(errs, tc.want) {
				t.Fatalf("got %v\nwant %v", errs, tc.want)
			}
		})
	}
}

func TestResponseCacheShapes(t *testing.T) {
	rc := &ResponseCacheConfig{}
	rc.SetDefaults()
	rc.CacheControl = map[string]any{"enabled": true}
	host, port := "redis.internal", 6380
	rc.RedisHost, rc.RedisPort = &host, &port
	s, errs := compile(&rc.Config, rc)
	if errs != nil {
		t.Fatal(errs)
	}
	if !s.ccOn || s.strategy != strategyRedis || s.redis.Addrs[0] != "redis.internal:6380" {
		t.Fatalf("settings %+v", s)
	}
	rc = &ResponseCacheConfig{}
	rc.SetDefaults()
	if s, errs := compile(&rc.Config, rc); errs != nil || s.strategy != strategyMemory {
		t.Fatalf("default strategy %q %v", s.strategy, errs)
	}
}
