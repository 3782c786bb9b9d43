package logging

import (
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// discard takes lines and keeps nothing, so that the benchmark measures
// the plugin's own work.
type discard struct{}

func (discard) WriteLine([]byte) {}

// BenchmarkLogGuideFormat is one request's Log call with the guide's
// format: render into a pooled buffer and hand the line on.
func BenchmarkLogGuideFormat(b *testing.B) {
	in := build(b, guide, plugin.Env{AccessLog: discard{}})
	c := request()
	c.Secrets = plugin.NewSecrets(nil, []string{"apikey"})
	b.ReportAllocs()
	for b.Loop() {
		in.Log(c)
	}
}

// BenchmarkLogHeaders adds the header, host and time variables.
func BenchmarkLogHeaders(b *testing.B) {
	in := build(b, guide+"  client: {ip: $remote_addr, agent: $http_user_agent, auth: $http_authorization, host: $host}\n"+
		"  time: $time_iso8601\n  route: $route\n", plugin.Env{AccessLog: discard{}})
	c := request()
	b.ReportAllocs()
	for b.Loop() {
		in.Log(c)
	}
}
