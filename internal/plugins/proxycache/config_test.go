package proxycache

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/store"
)

func ptr[T any](v T) *T { return &v }

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
		{"redis port", func(c *Config) { c.Strategy = "redis"; c.Redis.Host = ptr("h"); c.Redis.Port = ptr(70000) },
			plugin.Errors{{Path: "redis.port", Message: "value should be between 0 and 65535"}}},
		{"lock_timeout", func(c *Config) { c.LockTimeout = 0 }, plugin.Errors{{Path: "lock_timeout", Message: "value should be between 0 and 3600 (exclusive of 0)"}}},
		{"max_size", func(c *Config) { c.MaxSize = 10 }, plugin.Errors{{Path: "max_size", Message: "value must be at least 1048576"}}},
		{"content type", func(c *Config) { c.ContentType = []string{"text/plain", "nope"} }, plugin.Errors{{Path: "content_type[1]", Message: "invalid media type 'nope'"}}},
		{"max_body_size over max_size", func(c *Config) { c.MaxSize, c.MaxBodySize = 1<<20, 2<<20 },
			plugin.Errors{{Path: "max_body_size", Message: "must not be greater than max_size with strategy memory (1048576)"}}},
		{"max_body_size over max_size, redis", func(c *Config) {
			c.Strategy, c.Redis.Host, c.MaxSize, c.MaxBodySize = strategyRedis, ptr("h"), 1<<20, 2<<20
		}, nil},
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
	// Its own pool size: not the store's default of 2, and not the
	// rate-limit pipeline's client.
	if s.redis.PoolSize != redisPoolSize {
		t.Fatalf("pool size %d", s.redis.PoolSize)
	}
	rc = &ResponseCacheConfig{}
	rc.SetDefaults()
	if s, errs := compile(&rc.Config, rc); errs != nil || s.strategy != strategyMemory {
		t.Fatalf("default strategy %q %v", s.strategy, errs)
	}
}

// TestRedisRecordShapes: the redis record's Enterprise forms (Cluster and
// Sentinel nodes as well as addresses) reach the store, and its rules
// hold, with the paths of the plugin's config.
func TestRedisRecordShapes(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want *store.RedisOptions
		errs plugin.Errors
	}{
		{
			name: "cluster nodes",
			doc:  `{strategy: redis, redis: {cluster_nodes: [{ip: 10.0.0.1, port: 7000}, {ip: 10.0.0.2}], cluster_addresses: ["10.0.0.3:7002"]}}`,
			want: &store.RedisOptions{Addrs: []string{"10.0.0.1:7000", "10.0.0.2:6379", "10.0.0.3:7002"}, Cluster: true, Timeout: 2 * time.Second, PoolSize: redisPoolSize},
		},
		{
			name: "sentinel nodes",
			doc:  `{strategy: redis, redis: {sentinel_nodes: [{host: s1}], sentinel_addresses: ["s2:26380"], sentinel_master: mymaster, sentinel_role: master, read_timeout: 2500}}`,
			want: &store.RedisOptions{Addrs: []string{"s1:26379", "s2:26380"}, MasterName: "mymaster", Timeout: 2500 * time.Millisecond, PoolSize: redisPoolSize},
		},
		{
			name: "memory strategy, Redis for the admin API's purges",
			doc:  `{strategy: memory, redis: {sentinel_nodes: [{host: s1, port: 26380}], sentinel_master: m}}`,
			want: &store.RedisOptions{Addrs: []string{"s1:26380"}, MasterName: "m", Timeout: 2 * time.Second, PoolSize: redisPoolSize},
		},
		{
			name: "sentinel rules",
			doc:  `{strategy: redis, redis: {host: h, sentinel_nodes: [{host: ""}], sentinel_role: any}}`,
			errs: plugin.Errors{
				{Path: "redis.host", Message: "must not be set with cluster or sentinel nodes"},
				{Path: "redis.sentinel_master", Message: "required field missing"},
				{Path: "redis.sentinel_role", Message: "expected one of: master (cache entries are written, so only the master can hold them)"},
				{Path: "redis.sentinel_nodes[0].host", Message: "required field missing"},
			},
		},
		{
			name: "both topologies",
			doc:  `{strategy: redis, redis: {cluster_nodes: [{ip: a}], sentinel_nodes: [{host: b}], sentinel_master: m}}`,
			errs: plugin.Errors{{Path: "redis", Message: "cluster_nodes/cluster_addresses and sentinel_nodes/sentinel_addresses are mutually exclusive"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := config.ParseRaw([]byte(tt.doc), "")
			if err != nil {
				t.Fatal(err)
			}
			c := Registration().NewConfig().(*Config)
			if errs := raw.Decode(c); len(errs) > 0 {
				t.Fatal(errs)
			}
			s, errs := compile(c, nil)
			if diff := cmp.Diff(tt.errs, errs); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, s.redis); diff != "" {
					t.Fatalf("options (-want +got):\n%s", diff)
				}
			}
		})
	}
}
