package prometheus

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// BenchmarkLog is the plugin's cost per request once its series exist.
func BenchmarkLog(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"defaults", Config{}},
		{"status", Config{StatusCodeMetrics: true}},
		{"all", allOn},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in, err := New(&bc.cfg, plugin.Env{Metrics: prometheus.NewRegistry()})
			if err != nil {
				b.Fatal(err)
			}
			c := proxied(&plugin.Consumer{Username: "alice"})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					in.(*Instance).Log(c)
				}
			})
		})
	}
}
