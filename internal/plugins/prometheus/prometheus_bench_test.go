package prometheus

import (
	"strconv"
	"sync/atomic"
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

// BenchmarkLogPastCap is the cost per request of keys past the cache's
// maxSeries (a per_consumer instance with more consumers in use), their
// series already made, from every CPU at once.
func BenchmarkLogPastCap(b *testing.B) {
	in, err := New(&allOn, plugin.Env{Metrics: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	for i := range maxSeries {
		in.(*Instance).Log(proxied(&plugin.Consumer{Username: "c" + strconv.Itoa(i)}))
	}
	past := make([]*plugin.Ctx, 64)
	for i := range past {
		past[i] = proxied(&plugin.Consumer{Username: "past" + strconv.Itoa(i)})
		in.(*Instance).Log(past[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Uint32
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7))
		for pb.Next() {
			in.(*Instance).Log(past[i%len(past)])
			i++
		}
	})
}
