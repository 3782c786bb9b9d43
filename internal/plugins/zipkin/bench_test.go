package zipkin

import (
	"net/http"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// BenchmarkAccessUnsampled is the common request: context extracted,
// ids drawn, B3 headers injected, nothing reported.
func BenchmarkAccessUnsampled(b *testing.B) {
	in := build(b, "{}")
	h := http.Header{"X-B3-Traceid": {"0123456789abcdef0123456789abcdef"}, "X-B3-Spanid": {"1111111111111111"}, "X-B3-Sampled": {"0"}}
	c := request(h)
	b.ReportAllocs()
	for b.Loop() {
		run(in, c)
	}
}

// BenchmarkSampled adds the three spans written into a queue entry
// (the collector here is a closed port: entries are dropped).
func BenchmarkSampled(b *testing.B) {
	in := build(b, "http_endpoint: http://127.0.0.1:9/api/v2/spans\nqueue: {max_retry_time: 0}")
	c := request(http.Header{"X-B3-Sampled": {"1"}})
	c.Consumer = &plugin.Consumer{ID: "consumer-id"}
	b.ReportAllocs()
	for b.Loop() {
		run(in, c)
	}
}
