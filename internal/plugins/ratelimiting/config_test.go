package ratelimiting

import (
	"errors"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/ratelimiting/engine"
	"github.com/turnpikegw/turnpike/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// decode reads a plugin config as the loader does: defaults, then the
// document's values.
func decode(t testing.TB, doc string) *Config {
	t.Helper()
	raw, err := config.ParseRaw([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Registration().NewConfig().(*Config)
	if errs := raw.Decode(cfg); len(errs) > 0 {
		t.Fatal(errs)
	}
	return cfg
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "rate-limiting" || reg.Priority != 910 || reg.NoConsumer {
		t.Fatalf("registration = %+v", reg)
	}
}

func TestDefaults(t *testing.T) {
	cfg := decode(t, `{minute: 5}`)
	five := 5.0
	want := &Config{
		Minute: &five, LimitBy: "consumer", Policy: "local", FaultTolerant: true,
		ErrorCode: 429, ErrorMessage: "API rate limit exceeded", SyncRate: -1, WindowType: "fixed",
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
	s, errs := compile(cfg)
	if errs != nil {
		t.Fatal(errs)
	}
	if diff := cmp.Diff(engine.Policy{Algorithm: engine.Fixed, Limits: []engine.Limit{{Period: engine.Minute, Max: 5}}}, s.policy); diff != "" {
		t.Fatalf("policy (-want +got):\n%s", diff)
	}
}

// TestValidation follows Kong's spec/03-plugins/23-rate-limiting/
// 01-schema_spec.lua and adds Turnpike's fields.
func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want plugin.Errors
	}{
		{name: "one limit", doc: `{second: 10}`},
		{name: "all limits", doc: `{second: 10, minute: 20, hour: 30, day: 40, month: 50, year: 60}`},
		{name: "header", doc: `{second: 10, limit_by: header, header_name: X-App-Version}`},
		{name: "path", doc: `{second: 10, limit_by: path, path: /request}`},
		{
			name: "longer period with a smaller limit",
			doc:  `{second: 20, hour: 10}`,
			want: plugin.Errors{{Path: "", Message: "The limit for hour(10.0) cannot be lower than the limit for second(20.0)"}},
		},
		{
			name: "the first bad pair is reported",
			doc:  `{second: 10, minute: 20, hour: 30, day: 40, month: 60, year: 50}`,
			want: plugin.Errors{{Path: "", Message: "The limit for year(50.0) cannot be lower than the limit for month(60.0)"}},
		},
		{
			name: "no limit",
			doc:  `{}`,
			want: plugin.Errors{{Path: "", Message: "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'"}},
		},
		{
			name: "limits above zero",
			doc:  `{minute: 0, hour: -1}`,
			want: plugin.Errors{
				{Path: "minute", Message: "value must be greater than 0"},
				{Path: "hour", Message: "value must be greater than 0"},
			},
		},
		{
			name: "limit_by header without header_name",
			doc:  `{second: 10, limit_by: header}`,
			want: plugin.Errors{{Path: "header_name", Message: "required field missing"}},
		},
		{
			name: "bad header name",
			doc:  `{second: 10, limit_by: header, header_name: "x app"}`,
			want: plugin.Errors{{Path: "header_name", Message: "bad header name 'x app', allowed characters are A-Z, a-z, 0-9, '_', and '-'"}},
		},
		{
			name: "limit_by path without path",
			doc:  `{second: 10, limit_by: path}`,
			want: plugin.Errors{{Path: "path", Message: "required field missing"}},
		},
		{
			name: "relative path",
			doc:  `{second: 10, limit_by: path, path: request}`,
			want: plugin.Errors{{Path: "path", Message: "should start with: /"}},
		},
		{
			name: "limit_by jwt-claim without claim_name",
			doc:  `{second: 10, limit_by: jwt-claim}`,
			want: plugin.Errors{{Path: "claim_name", Message: "required field missing"}},
		},
		{name: "limit_by jwt-claim", doc: `{second: 10, limit_by: jwt-claim, claim_name: client_id}`},
		{name: "limit_by consumer-group", doc: `{second: 10, limit_by: consumer-group}`},
		{
			name: "unknown limit_by",
			doc:  `{second: 10, limit_by: tenant}`,
			want: plugin.Errors{{Path: "limit_by", Message: "expected one of: consumer, credential, ip, service, header, path, jwt-claim, consumer-group"}},
		},
		{
			name: "unknown policy",
			doc:  `{second: 10, policy: postgres}`,
			want: plugin.Errors{{Path: "policy", Message: "expected one of: local, cluster, redis"}},
		},
		{
			name: "redis without host",
			doc:  `{second: 10, policy: redis, redis: {port: 6379, database: 0, username: test, password: test-password, ssl: true, timeout: 1100}}`,
			want: plugin.Errors{{Path: "redis.host", Message: "required field missing"}},
		},
		{
			name: "cluster needs redis too",
			doc:  `{second: 10, policy: cluster}`,
			want: plugin.Errors{{Path: "redis.host", Message: "required field missing"}},
		},
		{name: "redis new structure", doc: `{second: 10, policy: redis, redis: {host: localhost, port: 6380, database: 1, username: test, password: test-password, ssl: true, ssl_verify: false, timeout: 1100, server_name: redis.test}}`},
		{name: "redis legacy structure", doc: `{second: 10, policy: redis, redis_host: localhost, redis_port: 6380, redis_database: 0, redis_username: test, redis_password: test-password, redis_ssl: true, redis_ssl_verify: false, redis_timeout: 1100, redis_server_name: redis.test}`},
		{
			name: "deprecated and new redis fields disagree",
			doc:  `{second: 10, policy: redis, redis_host: a, redis_port: 6380, redis_database: 1, redis_ssl: true, redis_password: p1, redis: {host: b, port: 6379, database: 0, ssl: false, password: p2}}`,
			want: plugin.Errors{
				{Path: "redis_host", Message: "both deprecated and new field are used but their values mismatch: redis_host = a vs redis.host = b"},
				{Path: "redis_port", Message: "both deprecated and new field are used but their values mismatch: redis_port = 6380 vs redis.port = 6379"},
				{Path: "redis_password", Message: "both deprecated and new field are used but their values mismatch: redis_password = (hidden) vs redis.password = (hidden)"},
				{Path: "redis_database", Message: "both deprecated and new field are used but their values mismatch: redis_database = 1 vs redis.database = 0"},
				{Path: "redis_ssl", Message: "both deprecated and new field are used but their values mismatch: redis_ssl = true vs redis.ssl = false"},
			},
		},
		{
			name: "the mismatch is refused whatever the policy",
			doc:  `{second: 10, redis_timeout: 100, redis: {timeout: 200}}`,
			want: plugin.Errors{{Path: "redis_timeout", Message: "both deprecated and new field are used but their values mismatch: redis_timeout = 100 vs redis.timeout = 200"}},
		},
		{name: "deprecated and new redis fields agree", doc: `{second: 10, policy: redis, redis_host: a, redis_port: 6380, redis_ssl: false, redis: {host: a, port: 6380, ssl: false}}`},
		{
			name: "redis ranges",
			doc:  `{second: 10, policy: redis, redis: {host: h, port: 70000, timeout: -1, database: -2}}`,
			want: plugin.Errors{
				{Path: "redis.port", Message: "value should be between 0 and 65535"},
				{Path: "redis.timeout", Message: "value should be between 0 and 2147483646"},
				{Path: "redis.database", Message: "value must be greater than or equal to 0"},
			},
		},
		{name: "redis cluster", doc: `{second: 10, policy: redis, redis: {cluster_nodes: [{ip: 10.0.0.1, port: 7000}], cluster_addresses: ["10.0.0.2:7000"]}}`},
		{
			name: "redis cluster with a host and a database",
			doc:  `{second: 10, policy: redis, redis: {host: h, database: 2, cluster_addresses: ["10.0.0.2"]}}`,
			want: plugin.Errors{
				{Path: "redis.host", Message: "must not be set with cluster or sentinel nodes"},
				{Path: "redis.database", Message: "Redis Cluster has only database 0"},
				{Path: "redis.cluster_addresses[0]", Message: "invalid address '10.0.0.2': expected host:port"},
			},
		},
		{name: "redis sentinel", doc: `{second: 10, policy: redis, redis: {sentinel_nodes: [{host: s1}], sentinel_addresses: ["s2:26379"], sentinel_master: mymaster, sentinel_role: master}}`},
		{
			name: "redis sentinel without master, wrong role",
			doc:  `{second: 10, policy: redis, redis: {sentinel_addresses: ["s2:26379"], sentinel_role: slave}}`,
			want: plugin.Errors{
				{Path: "redis.sentinel_master", Message: "required field missing"},
				{Path: "redis.sentinel_role", Message: "expected one of: master (counters are written, so only the master can hold them)"},
			},
		},
		{
			name: "cluster and sentinel",
			doc:  `{second: 10, policy: redis, redis: {cluster_addresses: ["a:1"], sentinel_addresses: ["b:2"], sentinel_master: m}}`,
			want: plugin.Errors{{Path: "redis", Message: "cluster_nodes/cluster_addresses and sentinel_nodes/sentinel_addresses are mutually exclusive"}},
		},
		{
			name: "sync_rate without redis",
			doc:  `{second: 10, sync_rate: 10}`,
			want: plugin.Errors{{Path: "", Message: "sync_rate can only be used with the redis policy"}},
		},
		{
			name: "sync_rate with the cluster policy",
			doc:  `{second: 10, policy: cluster, redis: {host: h}, sync_rate: 10}`,
			want: plugin.Errors{{Path: "", Message: "sync_rate can only be used with the redis policy"}},
		},
		{
			name: "fractional sync_rate",
			doc:  `{second: 10, policy: redis, redis: {host: h}, sync_rate: 0.5}`,
			want: plugin.Errors{{Path: "sync_rate", Message: "sync_rate must be -1 to disable, or a whole number of permits between 1 and 1000000"}},
		},
		{name: "sync_rate batches", doc: `{second: 10, policy: redis, redis: {host: h}, sync_rate: 20}`},
		{
			name: "error_code",
			doc:  `{second: 10, error_code: 0}`,
			want: plugin.Errors{{Path: "error_code", Message: "value should be between 100 and 599"}},
		},
		{
			name: "unknown window_type",
			doc:  `{second: 10, window_type: leaky}`,
			want: plugin.Errors{{Path: "window_type", Message: "expected one of: fixed, sliding, token-bucket"}},
		},
		{name: "sliding", doc: `{minute: 10, window_type: sliding}`},
		{name: "token bucket", doc: `{window_type: token-bucket, rate: 10, burst: 20, nodelay: true}`},
		{
			name: "token bucket without rate",
			doc:  `{window_type: token-bucket, burst: 20}`,
			want: plugin.Errors{{Path: "rate", Message: "required field missing"}},
		},
		{
			name: "token bucket with periods",
			doc:  `{window_type: token-bucket, rate: 1, burst: -1, minute: 5}`,
			want: plugin.Errors{
				{Path: "minute", Message: "not used with window_type token-bucket (set rate and burst)"},
				{Path: "burst", Message: "value should be between 0 and 1000000000"},
			},
		},
		{
			name: "token bucket fields on a fixed window",
			doc:  `{minute: 5, rate: 1, burst: 2, nodelay: true}`,
			want: plugin.Errors{
				{Path: "rate", Message: "only used with window_type token-bucket"},
				{Path: "burst", Message: "only used with window_type token-bucket"},
				{Path: "nodelay", Message: "only used with window_type token-bucket"},
			},
		},
		{
			name: "token bucket and sync_rate",
			doc:  `{window_type: token-bucket, rate: 5, policy: redis, redis: {host: h}, sync_rate: 10}`,
			want: plugin.Errors{{Path: "sync_rate", Message: "not used with window_type token-bucket"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := New(decode(t, tt.doc), plugin.Env{})
			if in != nil {
				in.(*Instance).Close()
			}
			var got plugin.Errors
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("error %v is not a plugin.Errors", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFractionalLimitAdmitsItsCeiling(t *testing.T) {
	s, errs := compile(decode(t, `{minute: 1.5, hour: 2}`))
	if errs != nil {
		t.Fatal(errs)
	}
	want := []engine.Limit{{Period: engine.Minute, Max: 2}, {Period: engine.Hour, Max: 2}}
	if diff := cmp.Diff(want, s.policy.Limits); diff != "" {
		t.Fatal(diff)
	}
}

// TestRedisOptions: the new and the deprecated flat fields reach the store
// alike, and the topology follows the fields given.
func TestRedisOptions(t *testing.T) {
	tests := []struct {
		name       string
		doc        string
		want       engine.RedisOptions
		tls        bool
		serverName string
		verify     bool
		deprecated []string
	}{
		{
			name: "single node",
			doc:  `{minute: 5, policy: redis, redis: {host: redis.test, port: 6380, username: u, password: p, database: 2, timeout: 150}}`,
			want: engine.RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{"redis.test:6380"}, Username: "u", Password: "p", Database: 2, Timeout: 150 * time.Millisecond}},
		},
		{
			name: "flat fields",
			doc:  `{minute: 5, policy: redis, redis_host: 10.1.2.3, redis_port: 6390, redis_password: p, redis_database: 1, redis_timeout: 300, redis_ssl: true, redis_ssl_verify: true, redis_server_name: r.test}`,
			want: engine.RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{"10.1.2.3:6390"}, Password: "p", Database: 1, Timeout: 300 * time.Millisecond}},
			tls:  true, serverName: "r.test", verify: true,
			deprecated: []string{"redis_host", "redis_port", "redis_password", "redis_database", "redis_timeout", "redis_ssl", "redis_ssl_verify", "redis_server_name"},
		},
		{
			name:       "a flat field fills a redis field not given, beside others given",
			doc:        `{minute: 5, policy: redis, redis: {host: redis.test, database: 3}, redis_port: 6390, redis_host: redis.test}`,
			want:       engine.RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{"redis.test:6390"}, Database: 3, Timeout: 2 * time.Second}},
			deprecated: []string{"redis_host", "redis_port"},
		},
		{
			name: "tls names the host",
			doc:  `{minute: 5, policy: cluster, redis: {host: redis.test, ssl: true}}`,
			want: engine.RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{"redis.test:6379"}, Timeout: 2 * time.Second}},
			tls:  true, serverName: "redis.test",
		},
		{
			name: "cluster",
			doc:  `{minute: 5, policy: redis, redis: {cluster_nodes: [{ip: 10.0.0.1, port: 7000}, {ip: 10.0.0.2}], cluster_addresses: ["10.0.0.3:7002"]}}`,
			want: engine.RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{"10.0.0.1:7000", "10.0.0.2:6379", "10.0.0.3:7002"}, Cluster: true, Timeout: 2 * time.Second}},
		},
		{
			name: "sentinel",
			doc:  `{minute: 5, policy: redis, redis: {sentinel_nodes: [{host: s1}], sentinel_addresses: ["s2:26380"], sentinel_master: mymaster, sentinel_username: su, sentinel_password: sp, password: p}}`,
			want: engine.RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{"s1:26379", "s2:26380"}, MasterName: "mymaster", SentinelUsername: "su", SentinelPassword: "sp", Password: "p", Timeout: 2 * time.Second}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, errs := compile(decode(t, tt.doc))
			if errs != nil {
				t.Fatal(errs)
			}
			got := redisOptions(s)
			if (got.TLS != nil) != tt.tls {
				t.Fatalf("TLS = %v, want %v", got.TLS, tt.tls)
			}
			if got.TLS != nil && (got.TLS.ServerName != tt.serverName || got.TLS.InsecureSkipVerify == tt.verify) {
				t.Fatalf("TLS server name %q, skip verify %v", got.TLS.ServerName, got.TLS.InsecureSkipVerify)
			}
			got.TLS = nil
			tt.want.KeyPrefix = keyPrefix
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("options (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.deprecated, s.deprecated); diff != "" {
				t.Fatalf("deprecated (-want +got):\n%s", diff)
			}
		})
	}
}

// TestShownConfig: the config as the admin API shows it (marshaled by its
// yaml tags) carries Kong's redis defaults for the fields not given.
func TestShownConfig(t *testing.T) {
	raw, err := yaml.Marshal(decode(t, `{minute: 5, redis: {host: h, port: 6380}}`))
	if err != nil {
		t.Fatal(err)
	}
	var shown struct {
		Redis map[string]any `yaml:"redis"`
	}
	if err := yaml.Unmarshal(raw, &shown); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"host": "h", "port": uint64(6380), "timeout": uint64(2000), "database": uint64(0), "ssl": false, "ssl_verify": false}
	if diff := cmp.Diff(want, shown.Redis); diff != "" {
		t.Fatalf("redis (-want +got):\n%s", diff)
	}
}

// TestNamespace: without a plugin id (unit tests of the plugin alone) the
// fallback namespace is the same for the same plugin config; any other
// setting separates them, and connection settings do not matter. An
// explicit namespace is kept as given.
func TestNamespace(t *testing.T) {
	ns := func(doc string) string {
		s, errs := compile(decode(t, doc))
		if errs != nil {
			t.Fatal(errs)
		}
		if s.namespace != "" {
			return s.namespace
		}
		return s.defaultNS
	}
	base := ns(`{minute: 5, policy: redis, redis: {host: a}}`)
	for _, doc := range []string{
		`{minute: 5, policy: redis, redis: {host: b, timeout: 10}}`,
		`{minute: 5, policy: cluster, redis_host: c, redis_port: 7000}`,
	} {
		if ns(doc) != base {
			t.Errorf("%s: connection settings changed the namespace", doc)
		}
	}
	for _, doc := range []string{
		`{minute: 6, policy: redis, redis: {host: a}}`,
		`{minute: 5, hour: 100, policy: redis, redis: {host: a}}`,
		`{minute: 5, limit_by: ip, policy: redis, redis: {host: a}}`,
		`{minute: 5, window_type: sliding, policy: redis, redis: {host: a}}`,
		`{minute: 5, hide_client_headers: true, policy: redis, redis: {host: a}}`,
		`{minute: 5, fault_tolerant: false, policy: redis, redis: {host: a}}`,
	} {
		if ns(doc) == base {
			t.Errorf("%s shares the namespace of the base config", doc)
		}
	}
	if got := ns(`{minute: 5, policy: redis, redis: {host: a}, namespace: team-a}`); got != "team-a" {
		t.Fatalf("explicit namespace = %q", got)
	}
}
