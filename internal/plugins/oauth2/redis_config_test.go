package oauth2

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// TestRedisConfigErrors: a redis block must name a server, with the
// record's paths under config.redis.
func TestRedisConfigErrors(t *testing.T) {
	port := 70000
	for _, tt := range []struct {
		name  string
		redis *plugin.RedisConfig
		want  plugin.Errors
	}{
		{"empty", &plugin.RedisConfig{}, plugin.Errors{{Path: "redis.host", Message: "required field missing"}}},
		{"port", &plugin.RedisConfig{Host: new("127.0.0.1"), Port: &port}, plugin.Errors{{Path: "redis.port", Message: "value should be between 0 and 65535"}}},
		{"sentinel role", &plugin.RedisConfig{SentinelAddresses: []string{"127.0.0.1:26379"}, SentinelMaster: "m", SentinelRole: "slave"}, plugin.Errors{
			{Path: "redis.sentinel_role", Message: "expected one of: master (tokens are written, so only the master can hold them)"},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{}
			c.SetDefaults()
			c.EnableClientCredentials = true
			c.Redis = tt.redis
			_, err := New(c, plugin.Env{})
			got, _ := err.(plugin.Errors)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
