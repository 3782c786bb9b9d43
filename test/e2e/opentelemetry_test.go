package e2e

import (
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// otlpSpan is a received span with the service.name of its resource.
type otlpSpan struct {
	*tracepb.Span
	service string
}

// otlpReceiver is a loopback OTLP/HTTP traces endpoint decoding what it
// gets with the OTLP protobuf types.
type otlpReceiver struct {
	addr  string
	mu    sync.Mutex
	spans []otlpSpan
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.addr = startServer(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var m coltrace.ExportTraceServiceRequest
		if req.URL.Path != "/v1/traces" || proto.Unmarshal(body, &m) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range m.ResourceSpans {
			var service string
			for _, kv := range rs.Resource.Attributes {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					r.spans = append(r.spans, otlpSpan{s, service})
				}
			}
		}
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	return r
}

// find waits for a span of service named name.
func (r *otlpReceiver) find(t *testing.T, service, name string) otlpSpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		for _, s := range r.spans {
			if s.service == service && s.Name == name {
				r.mu.Unlock()
				return s
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %s span %q received", service, name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A trace crosses two gateways: client → A → B → upstream. The client's
// trace id is kept throughout, each gateway's server span is the child
// of the span that called it, and the upstream's parent is B's last
// upstream attempt.
func TestOpenTelemetryThroughTwoGateways(t *testing.T) {
	recv := startOTLPReceiver(t)
	seen := make(chan string, 4)
	upstream := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Traceparent")
		io.WriteString(w, "ok")
	}))
	redis := gwtest.StartRedis(t)
	plugin := func(service string) string {
		return `
  - name: opentelemetry
    config:
      endpoint: ` + recv.addr + `
      service_name: ` + service + `
      tags: {environment: test}
      queue: {max_coalescing_delay: 0.05}`
	}
	b := gwtest.Start(t, `
_format_version: "3.0"
services:
- name: api
  url: http://`+upstream+`
  routes: [{name: api, paths: [/api]}]
plugins:`+plugin("gw-b")+`
  - name: rate-limiting
    config: {minute: 100, policy: redis, redis: {host: 127.0.0.1, port: `+strconv.Itoa(redis.Port)+`}}
`, gwtest.Options{})
	a := gwtest.Start(t, `
_format_version: "3.0"
services:
- name: api
  url: `+b.URL+`
  routes: [{name: api, paths: [/api], strip_path: false}]
plugins:`+plugin("gw-a")+`
`, gwtest.Options{})

	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	resp, body := a.Get("/api/x", "Traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	var tp string
	select {
	case tp = <-seen:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream saw no request")
	}
	f := strings.Split(tp, "-")
	if len(f) != 4 || f[0] != "00" || f[1] != clientTrace || f[3] != "01" {
		t.Fatalf("upstream traceparent %q: not the client's trace", tp)
	}

	aRoot := recv.find(t, "gw-a", "GET /api")
	aTry := recv.find(t, "gw-a", "kong.balancer")
	bRoot := recv.find(t, "gw-b", "GET /api")
	bTry := recv.find(t, "gw-b", "kong.balancer")
	bRedis := recv.find(t, "gw-b", "redis EVALSHA")
	for _, s := range []otlpSpan{aRoot, aTry, bRoot, bTry, bRedis} {
		if got := hex.EncodeToString(s.TraceId); got != clientTrace {
			t.Errorf("%s %s in trace %s", s.service, s.Name, got)
		}
	}
	links := []struct {
		what          string
		child, parent []byte
	}{
		{"A's server span is the client's span's child", aRoot.ParentSpanId, mustHex(t, clientSpan)},
		{"A's attempt is a child of A's server span", aTry.ParentSpanId, aRoot.SpanId},
		{"B's server span is a child of A's attempt", bRoot.ParentSpanId, aTry.SpanId},
		{"B's attempt is a child of B's server span", bTry.ParentSpanId, bRoot.SpanId},
		{"B's Redis call is a child of B's server span", bRedis.ParentSpanId, bRoot.SpanId},
		{"the upstream's parent is B's attempt", mustHex(t, f[2]), bTry.SpanId},
	}
	for _, l := range links {
		if hex.EncodeToString(l.child) != hex.EncodeToString(l.parent) {
			t.Errorf("%s: parent %x, want %x", l.what, l.child, l.parent)
		}
	}
	if aRoot.Kind != tracepb.Span_SPAN_KIND_SERVER || bTry.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("kinds: %v %v", aRoot.Kind, bTry.Kind)
	}
	for _, g := range []*gwtest.Gateway{a, b} {
		if lines := g.AccessLog(1); len(lines) == 0 || lines[0]["trace_id"] != clientTrace {
			t.Errorf("access log %v: no trace_id %s", lines, clientTrace)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The guide's config runs as written, and a collector that is down does
// not slow requests.
func TestOpenTelemetryCollectorDown(t *testing.T) {
	upstream := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	g := gwtest.Start(t, `
_format_version: "3.0"
services:
- name: api
  url: http://`+upstream+`
  routes: [{name: api, paths: [/api]}]
plugins:
- name: opentelemetry
  config:
    endpoint: `+deadAddr(t)+`
    service_name: api-gateway
    tags:
      environment: production
`, gwtest.Options{})
	start := time.Now()
	for range 50 {
		if resp, _ := g.Get("/api"); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("50 requests took %v with the collector down", d)
	}
}
