package opentelemetry

import (
	"context"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// nopExport takes spans and does nothing: the request path alone.
func nopExport(_ context.Context, sent []*spanChunk) error { release(sent); return nil }
func nopShutdown(context.Context) error                    { return nil }

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRequest runs the plugin's access and log phases on one request
// (two attempts, two plugin runs and a Redis call in its record) b.N
// times, as the proxy would per request; parent is the client's
// traceparent ("" for none). With export, spans go by OTLP/HTTP to a
// loopback receiver that does not decode them, the loop waiting for the
// exporter to keep up so that none is dropped, and cpu-ns/op is the
// process's CPU time a request, the export and Close's flush included;
// else spans go to nopExport.
func benchRequest(b *testing.B, doc, parent string, export bool) {
	r := newReceiver(b)
	r.discard = true
	in := newInstance(b, `{traces_endpoint: "`+r.srv.URL+`/v1/traces", `+doc+`}`, plugin.Env{})
	if !export {
		in.q.shutdown(context.Background())
		in.q = newQueue(chunkSize, nopExport, nopShutdown, "spans", in.s, nil, slog.New(slog.DiscardHandler))
	}
	c := request(nil)
	base := *c.Record
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime(b)
	for i := range b.N {
		if export && i%100 == 0 {
			// The exporter drains to a loopback receiver: the wait ends.
			for len(in.q.ch) > 1000 {
				time.Sleep(100 * time.Microsecond)
			}
		}
		*c.Record = base
		c.Shared = nil
		if parent != "" {
			c.Req.Header["Traceparent"] = []string{parent}
		} else {
			delete(c.Req.Header, "Traceparent")
		}
		in.Access(c)
		finish(c)
		in.Log(c)
	}
	in.Close()
	if export {
		b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
	}
	b.StopTimer()
	b.ReportMetric(float64(in.q.lost.Load())/float64(b.N), "dropped/op")
}

func BenchmarkUnsampled(b *testing.B) { benchRequest(b, `sampling_rate: 0`, "", false) }

func BenchmarkUnsampledParent(b *testing.B) {
	benchRequest(b, `sampling_rate: 1`, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", false)
}

func BenchmarkSampled(b *testing.B) {
	benchRequest(b, `sampling_rate: 1`, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false)
}

// BenchmarkSampledExport counts the export too: cpu-ns/op is the CPU a
// request costs in all (its spans encoded and sent by OTLP/HTTP).
func BenchmarkSampledExport(b *testing.B) {
	benchRequest(b, `sampling_rate: 1, queue: {max_entries: 1000000}`, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true)
}

// BenchmarkHarness is the loop without the plugin (the record filled as
// the proxy would), to subtract from the others.
func BenchmarkHarness(b *testing.B) {
	c := request(nil)
	base := *c.Record
	b.ReportAllocs()
	for range b.N {
		*c.Record = base
		c.Shared = nil
		c.Req.Header["Traceparent"] = []string{"x"}
		finish(c)
	}
}
