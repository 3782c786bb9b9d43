package plugin

import (
	"reflect"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"
	"github.com/turnpikegw/turnpike/internal/store"
)

func ptr[T any](v T) *T { return &v }

func TestRedisValidate(t *testing.T) {
	tests := []struct {
		name     string
		r        RedisConfig
		optional bool
		want     Errors
	}{
		{name: "host", r: RedisConfig{Host: ptr("h")}},
		{name: "nothing", want: Errors{{Path: "host", Message: "required field missing"}}},
		{name: "nothing, not required", optional: true},
		{name: "ranges, not required", r: RedisConfig{Port: ptr(70000)}, optional: true,
			want: Errors{{Path: "port", Message: "value should be between 0 and 65535"}}},
		{name: "cluster nodes", r: RedisConfig{ClusterNodes: []RedisClusterNode{{IP: "10.0.0.1", Port: 7000}}}},
		{name: "sentinel nodes", r: RedisConfig{SentinelNodes: []RedisSentinelNode{{Host: "s", Port: 26379}}, SentinelMaster: "m", SentinelRole: "master"}},
		{
			name: "both topologies, with a host",
			r:    RedisConfig{Host: ptr("h"), ClusterAddresses: []string{"a:1"}, SentinelAddresses: []string{"b:2"}, SentinelMaster: "m"},
			want: Errors{
				{Path: "", Message: "cluster_nodes/cluster_addresses and sentinel_nodes/sentinel_addresses are mutually exclusive"},
				{Path: "host", Message: "must not be set with cluster or sentinel nodes"},
			},
		},
		{
			name: "sentinel without master, a replica role",
			r:    RedisConfig{SentinelAddresses: []string{"s:26379"}, SentinelRole: "slave"},
			want: Errors{
				{Path: "sentinel_master", Message: "required field missing"},
				{Path: "sentinel_role", Message: "expected one of: master (entries are written, so only the master can hold them)"},
			},
		},
		{
			name: "master without sentinels",
			r:    RedisConfig{Host: ptr("h"), SentinelMaster: "m"},
			want: Errors{{Path: "sentinel_master", Message: "only used with sentinel_nodes or sentinel_addresses"}},
		},
		{
			name: "cluster shapes",
			r: RedisConfig{Database: ptr(1), ClusterNodes: []RedisClusterNode{{Port: 70000}},
				ClusterAddresses: []string{"10.0.0.2"}},
			want: Errors{
				{Path: "database", Message: "Redis Cluster has only database 0"},
				{Path: "cluster_nodes[0].ip", Message: "required field missing"},
				{Path: "cluster_nodes[0].port", Message: "value should be between 1 and 65535"},
				{Path: "cluster_addresses[0]", Message: "invalid address '10.0.0.2': expected host:port"},
			},
		},
		{
			name: "node port 0",
			r:    RedisConfig{ClusterNodes: []RedisClusterNode{{IP: "10.0.0.1", Port: 7000}, {IP: "10.0.0.2"}}},
			want: Errors{{Path: "cluster_nodes[1].port", Message: "value should be between 1 and 65535"}},
		},
		{
			name: "sentinel port 0",
			r:    RedisConfig{SentinelNodes: []RedisSentinelNode{{Host: "s"}}, SentinelMaster: "m"},
			want: Errors{{Path: "sentinel_nodes[0].port", Message: "value should be between 1 and 65535"}},
		},
		{
			name: "ranges",
			r: RedisConfig{Host: ptr("h"), Port: ptr(-1), Timeout: ptr(-1), ConnectTimeout: ptr(-1), SendTimeout: ptr(1 << 31),
				ReadTimeout: ptr(-1), Database: ptr(-1)},
			want: Errors{
				{Path: "port", Message: "value should be between 0 and 65535"},
				{Path: "timeout", Message: "value should be between 0 and 2147483646"},
				{Path: "connect_timeout", Message: "value should be between 0 and 2147483646"},
				{Path: "send_timeout", Message: "value should be between 0 and 2147483646"},
				{Path: "read_timeout", Message: "value should be between 0 and 2147483646"},
				{Path: "database", Message: "value must be greater than or equal to 0"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.r.Validate("entries", !tt.optional)); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRedisOptions(t *testing.T) {
	tests := []struct {
		name string
		r    RedisConfig
		want store.RedisOptions
	}{
		{
			name: "defaults",
			r:    RedisConfig{Host: ptr("h")},
			want: store.RedisOptions{Addrs: []string{"h:6379"}, Timeout: 2 * time.Second},
		},
		{
			name: "single node",
			r:    RedisConfig{Host: ptr("::1"), Port: ptr(6380), Username: ptr("u"), Password: ptr("p"), Database: ptr(3), Timeout: ptr(150)},
			want: store.RedisOptions{Addrs: []string{"[::1]:6380"}, Username: "u", Password: "p", Database: 3, Timeout: 150 * time.Millisecond},
		},
		{
			name: "the longest enterprise timeout",
			r:    RedisConfig{Host: ptr("h"), ConnectTimeout: ptr(100), SendTimeout: ptr(300), ReadTimeout: ptr(200)},
			want: store.RedisOptions{Addrs: []string{"h:6379"}, Timeout: 300 * time.Millisecond},
		},
		{
			name: "timeout moved off its default wins",
			r:    RedisConfig{Host: ptr("h"), Timeout: ptr(50), ConnectTimeout: ptr(100), SendTimeout: ptr(300)},
			want: store.RedisOptions{Addrs: []string{"h:6379"}, Timeout: 50 * time.Millisecond},
		},
		{
			name: "cluster",
			r: RedisConfig{ClusterNodes: []RedisClusterNode{{IP: "10.0.0.1", Port: 7000}},
				ClusterAddresses: []string{"10.0.0.3:7002"}, Password: ptr("p")},
			want: store.RedisOptions{Addrs: []string{"10.0.0.1:7000", "10.0.0.3:7002"}, Cluster: true, Password: "p", Timeout: 2 * time.Second},
		},
		{
			name: "sentinel",
			r: RedisConfig{SentinelNodes: []RedisSentinelNode{{Host: "s1", Port: 26379}}, SentinelAddresses: []string{"s2:26380"},
				SentinelMaster: "mymaster", SentinelUsername: "su", SentinelPassword: "sp"},
			want: store.RedisOptions{Addrs: []string{"s1:26379", "s2:26380"}, MasterName: "mymaster",
				SentinelUsername: "su", SentinelPassword: "sp", Timeout: 2 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.r.Options()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRedisTLS: Kong's ssl_verify is off by default, and the name sent
// (and verified) is server_name, else the host when it is not an address.
func TestRedisTLS(t *testing.T) {
	tests := []struct {
		r          RedisConfig
		name       string
		skipVerify bool
		plain      bool
	}{
		{r: RedisConfig{Host: ptr("redis.test")}, plain: true},
		{r: RedisConfig{Host: ptr("redis.test"), SSL: ptr(true)}, name: "redis.test", skipVerify: true},
		{r: RedisConfig{Host: ptr("10.0.0.1"), SSL: ptr(true), SSLVerify: ptr(true)}, name: ""},
		{r: RedisConfig{Host: ptr("10.0.0.1"), SSL: ptr(true), ServerName: ptr("r.test")}, name: "r.test", skipVerify: true},
	}
	for i, tt := range tests {
		got := tt.r.Options().TLS
		if (got == nil) != tt.plain {
			t.Fatalf("%d: TLS %v", i, got)
		}
		if got != nil && (got.ServerName != tt.name || got.InsecureSkipVerify != tt.skipVerify) {
			t.Errorf("%d: server name %q, skip verify %v", i, got.ServerName, got.InsecureSkipVerify)
		}
	}
}

// TestRedisShown: the record shows with the defaults of Kong's record,
// and the Enterprise timeouts only when given.
func TestRedisShown(t *testing.T) {
	raw, err := yaml.Marshal(RedisConfig{Host: ptr("h"), ReadTimeout: ptr(100)})
	if err != nil {
		t.Fatal(err)
	}
	var shown map[string]any
	if err := yaml.Unmarshal(raw, &shown); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"host": "h", "port": uint64(6379), "timeout": uint64(2000), "read_timeout": uint64(100), "database": uint64(0), "ssl": false, "ssl_verify": false}
	if !reflect.DeepEqual(want, shown) {
		t.Fatalf("shown %v, want %v", shown, want)
	}
}

func TestErrorsUnder(t *testing.T) {
	got := Errors{{Path: "", Message: "a"}, {Path: "host", Message: "b"}}.Under("redis")
	want := Errors{{Path: "redis", Message: "a"}, {Path: "redis.host", Message: "b"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if Errors(nil).Under("redis") != nil {
		t.Fatal("no problems became some")
	}
}
