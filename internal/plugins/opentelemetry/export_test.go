package opentelemetry

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// traceOne runs a request through the plugin.
func traceOne(in *Instance) *plugin.Ctx {
	c := request(nil)
	in.Access(c)
	finish(c)
	in.Log(c)
	return c
}

// waitFor polls cond for 5 s at most.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A request's spans travel together: a batch that would overflow
// max_batch_size is sent before them.
func TestBatchHoldsWholeRequests(t *testing.T) {
	r := newReceiver(t)
	in := newInstance(t, `{traces_endpoint: "`+r.srv.URL+`/v1/traces", queue: {max_batch_size: 10, max_coalescing_delay: 3600}}`, plugin.Env{})
	for range 3 {
		traceOne(in)
	}
	in.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) != 3 {
		t.Fatalf("%d exports, want 3 of one request each", len(r.got))
	}
	for _, m := range r.got {
		spans, traces := 0, map[string]bool{}
		for _, rs := range m.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				spans += len(ss.Spans)
				for _, s := range ss.Spans {
					traces[hexs(s.TraceId)] = true
				}
			}
		}
		if spans != 7 || len(traces) != 1 {
			t.Fatalf("an export holds %d spans of %d traces, want one request's 7", spans, len(traces))
		}
	}
}

// 429, 502, 503 and 504 are retried (Retry-After honoured); others are
// not, and the batch is dropped and counted.
func TestExportRetries(t *testing.T) {
	r := newReceiver(t)
	r.failStatus = http.StatusServiceUnavailable
	r.fail.Store(2)
	reg := prometheus.NewRegistry()
	in := newInstance(t, `{traces_endpoint: "`+r.srv.URL+`/v1/traces",
		queue: {max_coalescing_delay: 0, initial_retry_delay: 0.001, max_retry_delay: 0.01}}`, plugin.Env{Metrics: reg})
	traceOne(in)
	waitSpans(t, r, 7)
	if n := r.tries.Load(); n != 3 || in.q.lost.Load() != 0 {
		t.Fatalf("%d tries, %d spans lost: want 2 failures, then the spans received", n, in.q.lost.Load())
	}

	r.failStatus = http.StatusBadRequest
	r.fail.Store(1)
	traceOne(in)
	waitFor(t, "the failed export's spans counted", func() bool { return in.q.lost.Load() == 7 })
	if got := testutil.ToFloat64(in.q.dropped.WithLabelValues(dropExport)); got != 7 {
		t.Fatalf("export_failed = %v, want 7", got)
	}
	in.Close()
	if n := r.tries.Load(); n != 4 {
		t.Fatalf("%d tries: a 400 was retried", n)
	}
}

// Values of any length and resource attributes of every type the config
// takes are encoded as the OTLP types decode them; the span flags are
// the SDK exporter's.
func TestEncoding(t *testing.T) {
	r := newReceiver(t)
	in := newInstance(t, `{traces_endpoint: "`+r.srv.URL+`/v1/traces", queue: {max_coalescing_delay: 0},
		resource_attributes: {replicas: 3, ratio: 0.5, canary: true, zone: eu}}`, plugin.Env{})
	long := strings.Repeat("a", 20000) // a span over 16 KiB: a three-byte length
	c := request(http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	c.Record.UserAgent = long
	in.Access(c)
	finish(c)
	in.Log(c)
	spans := waitSpans(t, r, 7)
	root := byName(spans, "GET /users")
	if len(root) != 1 || attrs(root[0])["user_agent.original"] != long || attrs(root[0])["kong.request.id"] != "req-1" {
		t.Fatalf("server span with a long user agent not decoded: %d", len(root))
	}
	for _, s := range spans {
		want := uint32(0x101)
		if s == root[0] {
			want = 0x301 // sampled, a remote parent
		}
		if s.Flags != want {
			t.Errorf("%s flags %#x, want %#x", s.Name, s.Flags, want)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	res := map[string]any{}
	for _, kv := range r.got[0].ResourceSpans[0].Resource.Attributes {
		switch v := kv.Value; {
		case v.GetStringValue() != "":
			res[kv.Key] = v.GetStringValue()
		case v.GetDoubleValue() != 0:
			res[kv.Key] = v.GetDoubleValue()
		case v.GetIntValue() != 0:
			res[kv.Key] = v.GetIntValue()
		default:
			res[kv.Key] = v.GetBoolValue()
		}
	}
	if res["replicas"] != int64(3) || res["ratio"] != 0.5 || res["canary"] != true || res["zone"] != "eu" || res["service.name"] != "kong" {
		t.Fatalf("resource %v", res)
	}
	if sc := r.got[0].ResourceSpans[0].ScopeSpans[0].Scope; sc.GetName() != "turnpike" {
		t.Fatalf("scope %v", sc)
	}
}
