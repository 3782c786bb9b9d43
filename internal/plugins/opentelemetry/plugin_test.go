package opentelemetry

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRegistration(t *testing.T) {
	if reg := Registration(); reg.Name != "opentelemetry" || reg.Priority != 14 {
		t.Fatalf("registration = %+v", reg)
	}
}

// waitSpans waits until the receiver holds n spans.
func waitSpans(t *testing.T, r *receiver, n int) []*tracepb.Span {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := r.spans()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver has %d spans, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSpansOfARequest(t *testing.T) {
	r := newReceiver(t)
	in := newInstance(t, `{endpoint: "`+strings.TrimPrefix(r.srv.URL, "http://")+`", service_name: api-gateway,
		tags: {environment: production}, queue: {max_coalescing_delay: 0.01}}`, plugin.Env{})
	client := "4bf92f3577b34da6a3ce929d0e0e4736"
	c := request(http.Header{"Traceparent": {"00-" + client + "-00f067aa0ba902b7-01"}, "Tracestate": {"congo=t61rcWkgMzE"}})
	in.Access(c)
	finish(c)
	in.Log(c)
	spans := waitSpans(t, r, 7)
	if len(spans) != 7 {
		t.Fatalf("got %d spans", len(spans))
	}

	roots := byName(spans, "GET /users")
	if len(roots) != 1 {
		t.Fatalf("no server span: %v", spans)
	}
	root := roots[0]
	if hexs(root.TraceId) != client || hexs(root.ParentSpanId) != "00f067aa0ba902b7" || root.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("server span: trace %x parent %x kind %v", root.TraceId, root.ParentSpanId, root.Kind)
	}
	if root.TraceState != "congo=t61rcWkgMzE" {
		t.Errorf("tracestate %q", root.TraceState)
	}
	a := attrs(root)
	for k, want := range map[string]string{
		"http.request.method": "GET", "url.path": "/users/7", "http.route": "/users", "http.response.status_code": "200",
		"server.address": "api.test", "client.address": "198.51.100.7", "network.peer.address": "192.0.2.1",
		"network.protocol.version": "1.1", "kong.request.id": "req-1", "turnpike.route": "users",
		"turnpike.service": "users-svc", "user_agent.original": "curl/8",
	} {
		if a[k] != want {
			t.Errorf("server span %s = %q, want %q", k, a[k], want)
		}
	}
	if dur := time.Duration(root.EndTimeUnixNano - root.StartTimeUnixNano); dur != 40*time.Millisecond {
		t.Errorf("server span lasts %v, want the record's 40ms", dur)
	}
	if got := uint64(c.Record.Time.UnixNano()); root.StartTimeUnixNano != got {
		t.Errorf("server span starts at %d, want the record's %d", root.StartTimeUnixNano, got)
	}
	if c.Record.TraceID != client {
		t.Errorf("record trace id %q", c.Record.TraceID)
	}

	for _, s := range spans {
		if hexs(s.TraceId) != client {
			t.Errorf("%s in trace %x", s.Name, s.TraceId)
		}
		if s != root && hexs(s.ParentSpanId) != hexs(root.SpanId) {
			t.Errorf("%s is not a child of the server span", s.Name)
		}
	}
	for _, name := range []string{"kong.router", "kong.access.plugin.key-auth", "kong.access.plugin.opentelemetry", "redis EVALSHA"} {
		if len(byName(spans, name)) != 1 {
			t.Errorf("no %s span", name)
		}
	}
	if s := byName(spans, "redis EVALSHA"); len(s) == 1 {
		if a := attrs(s[0]); a["db.system.name"] != "redis" || a["server.port"] != "6379" {
			t.Errorf("redis span attributes %v", a)
		}
	}
	tries := byName(spans, "kong.balancer")
	if len(tries) != 2 {
		t.Fatalf("%d balancer spans", len(tries))
	}
	if tries[0].StartTimeUnixNano > tries[1].StartTimeUnixNano {
		tries[0], tries[1] = tries[1], tries[0]
	}
	first, last := attrs(tries[0]), attrs(tries[1])
	if first["try_count"] != "1" || first["turnpike.upstream.outcome"] != "connect_error" || tries[0].Status.Code != tracepb.Status_STATUS_CODE_ERROR ||
		first["http.response.body.size"] != "" {
		t.Errorf("first try %v status %v", first, tries[0].Status)
	}
	if last["try_count"] != "2" || last["http.request.resend_count"] != "1" || last["http.response.status_code"] != "200" ||
		last["server.address"] != "10.0.0.2" || last["server.port"] != "8080" || last["http.response.body.size"] != "1234" {
		t.Errorf("last try %v", last)
	}
	// The upstream was told the last try's span is its parent.
	want := "00-" + client + "-" + hexs(tries[1].SpanId) + "-01"
	if got := c.Req.Header.Get("Traceparent"); got != want {
		t.Errorf("upstream traceparent %q, want %q", got, want)
	}
	if res := r.resourceAttrs(); res["service.name"] != "api-gateway" || res["environment"] != "production" {
		t.Errorf("resource %v", res)
	}
}

func TestUnsampledRequestOnlyPropagates(t *testing.T) {
	r := newReceiver(t)
	in := newInstance(t, `{traces_endpoint: "`+r.srv.URL+`/v1/traces", sampling_rate: 0, queue: {max_coalescing_delay: 0}}`, plugin.Env{})
	c := request(nil)
	in.Access(c)
	finish(c)
	// Checked before Log, which removes any state it finds.
	if c.Shared[Name] != nil {
		t.Fatal("an unsampled request kept a state")
	}
	in.Log(c)
	tp := c.Req.Header.Get("Traceparent")
	if len(tp) != 55 || !strings.HasSuffix(tp, "-00") || tp[3:35] != c.Record.TraceID {
		t.Fatalf("traceparent %q, record trace id %q", tp, c.Record.TraceID)
	}
	// A sampled parent is honoured whatever the rate.
	const sampledTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	c = request(http.Header{"Traceparent": {"00-" + sampledTrace + "-00f067aa0ba902b7-01"}})
	in.Access(c)
	finish(c)
	in.Log(c)
	in.Close() // flushes everything queued: nothing can arrive later
	spans := r.spans()
	if len(spans) != 7 {
		t.Fatalf("%d spans, want the sampled request's 7", len(spans))
	}
	for _, s := range spans {
		if hexs(s.TraceId) != sampledTrace {
			t.Errorf("%s in trace %x: the unsampled request sent it", s.Name, s.TraceId)
		}
	}
}

func TestUnsampledParentIsHonoured(t *testing.T) {
	r := newReceiver(t)
	in := newInstance(t, `{traces_endpoint: "`+r.srv.URL+`/v1/traces", sampling_rate: 1}`, plugin.Env{})
	c := request(http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}})
	in.Access(c)
	finish(c)
	in.Log(c)
	in.Close()
	if n := len(r.spans()); n != 0 {
		t.Fatalf("%d spans of an unsampled parent", n)
	}
	if got := c.Req.Header.Get("Traceparent"); !strings.HasPrefix(got, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || !strings.HasSuffix(got, "-00") {
		t.Fatalf("traceparent %q", got)
	}
}

func TestSamplingRate(t *testing.T) {
	in := newInstance(t, `{endpoint: "127.0.0.1:1", sampling_rate: 0.25}`, plugin.Env{})
	n := 0
	for range 4000 {
		c := request(nil)
		if in.begin(c, false) != nil {
			n++
		}
	}
	if n < 800 || n > 1200 {
		t.Fatalf("%d of 4000 sampled at 0.25", n)
	}
}

// An answer from an earlier plugin means the access phase never ran
// here: the request is traced from the log phase.
func TestRequestAnsweredBeforeAccessIsTraced(t *testing.T) {
	r := newReceiver(t)
	in := newInstance(t, `{traces_endpoint: "`+r.srv.URL+`/v1/traces", queue: {max_coalescing_delay: 0}}`, plugin.Env{})
	c := request(http.Header{"X-B3-Traceid": {"80f198ee56343ba864fe8b2a57d3eff7"}, "X-B3-Spanid": {"e457b5a2e4d86bd1"}, "X-B3-Sampled": {"1"}})
	c.Record.AddPlugin("key-auth", 0, 0, time.Millisecond)
	c.Record.Status, c.Record.Latency, c.Record.Exit = 401, 2*time.Millisecond, "key-auth"
	in.Log(c)
	spans := waitSpans(t, r, 2)
	root := byName(spans, "GET /users")
	if len(root) != 1 || hexs(root[0].TraceId) != "80f198ee56343ba864fe8b2a57d3eff7" || hexs(root[0].ParentSpanId) != "e457b5a2e4d86bd1" {
		t.Fatalf("spans %v", spans)
	}
	if c.Record.TraceID != "80f198ee56343ba864fe8b2a57d3eff7" {
		t.Fatalf("record trace id %q", c.Record.TraceID)
	}
}

func TestResponseHeaderForTraceID(t *testing.T) {
	inst, err := New(decode(t, `{endpoint: "127.0.0.1:1", http_response_header_for_traceid: x-trace-id}`), plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.(plugin.Closer).Close()
	c := request(nil)
	inst.(plugin.Accessor).Access(c)
	c.Resp.Header = http.Header{}
	inst.(plugin.HeaderFilter).HeaderFilter(c)
	if got := c.Resp.Header.Get("X-Trace-Id"); got == "" || got != c.Record.TraceID {
		t.Fatalf("X-Trace-Id %q, trace %q", got, c.Record.TraceID)
	}
	plain := newInstance(t, `{endpoint: "127.0.0.1:1"}`, plugin.Env{})
	if _, ok := any(plain).(plugin.HeaderFilter); ok {
		t.Fatal("without the header the plugin should not filter headers")
	}
}

// A collector that does not answer never slows a request: the queue
// fills, the rest is dropped and counted, and Close gives up in time.
func TestSlowCollectorDropsAndCounts(t *testing.T) {
	r := newReceiver(t)
	r.block = make(chan struct{})
	reg := prometheus.NewRegistry()
	in := newInstance(t, `{traces_endpoint: "`+r.srv.URL+`/v1/traces", read_timeout: 60000, send_timeout: 60000,
		queue: {max_entries: 10, max_batch_size: 5, max_coalescing_delay: 0}}`, plugin.Env{Metrics: reg})
	start := time.Now()
	for range 50 {
		c := request(nil)
		in.Access(c)
		finish(c)
		in.Log(c)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("50 requests took %v against a stuck collector", d)
	}
	dropped := testutil.ToFloat64(in.q.dropped.WithLabelValues(dropQueueFull))
	if dropped < 300 {
		t.Fatalf("dropped %v of 350 spans, want most", dropped)
	}
	start = time.Now()
	in.closeWait = 200 * time.Millisecond
	in.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
}

func TestCloseFlushesQueuedSpans(t *testing.T) {
	r := newReceiver(t)
	in := newInstance(t, `{traces_endpoint: "`+r.srv.URL+`/v1/traces", queue: {max_coalescing_delay: 3600}}`, plugin.Env{})
	c := request(nil)
	in.Access(c)
	finish(c)
	in.Log(c)
	in.Close()
	if n := len(r.spans()); n != 7 {
		t.Fatalf("%d spans after Close, want 7", n)
	}
}

func TestExporterHeaders(t *testing.T) {
	r := newReceiver(t)
	in := newInstance(t, `{traces_endpoint: "`+r.srv.URL+`/v1/traces", headers: {Authorization: "Bearer t0k3n"}}`, plugin.Env{})
	c := request(nil)
	in.Access(c)
	finish(c)
	in.Log(c)
	in.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.hdr) == 0 || r.hdr[0].Get("Authorization") != "Bearer t0k3n" {
		t.Fatalf("headers %v", r.hdr)
	}
}

// With logs_endpoint every request, sampled or not, sends one OTLP log
// record carrying its trace id.
func TestLogRecordPerRequest(t *testing.T) {
	r := newReceiver(t)
	in := newInstance(t, `{traces_endpoint: "`+r.srv.URL+`/v1/traces", logs_endpoint: "`+r.srv.URL+`/v1/logs",
		sampling_rate: 0, queue: {max_coalescing_delay: 0}}`, plugin.Env{})
	c := request(nil)
	in.Access(c)
	finish(c)
	c.Record.Status = 503
	in.Log(c)
	in.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.logs) != 1 || len(r.got) != 0 {
		t.Fatalf("%d log records, %d span exports", len(r.logs), len(r.got))
	}
	l := r.logs[0]
	if hexs(l.TraceId) != c.Record.TraceID || len(l.SpanId) != 8 || l.Body.GetStringValue() != "GET /users/7 503" ||
		l.SeverityText != "ERROR" || l.TimeUnixNano != uint64(c.Record.Time.UnixNano()) {
		t.Fatalf("log record %v", l)
	}
	a := map[string]string{}
	for _, kv := range l.Attributes {
		a[kv.Key] = anyString(kv.Value)
	}
	if a["kong.request.id"] != "req-1" || a["turnpike.upstream"] != "10.0.0.2:8080" || strings.Contains(l.String(), "secret") {
		t.Fatalf("attributes %v", a)
	}
}

func TestHostOnlyServerAddress(t *testing.T) {
	for in, want := range map[string]string{
		"api.test": "api.test", "api.test:8443": "api.test", "192.0.2.1:80": "192.0.2.1",
		"[2001:db8::1]:443": "2001:db8::1", "[2001:db8::1]": "2001:db8::1", "": "",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

// An aggregation's calls are client spans named for their call, not
// balancer retries.
func TestSpansOfAggregationCalls(t *testing.T) {
	r := newReceiver(t)
	in := newInstance(t, `{endpoint: "`+strings.TrimPrefix(r.srv.URL, "http://")+`", queue: {max_coalescing_delay: 0.01}}`, plugin.Env{})
	c := request(nil)
	in.Access(c)
	rec := c.Record
	for _, name := range []string{"user", "orders"} {
		k := rec.AddAttempt("10.0.0.3:8080", 5*time.Millisecond)
		a := &rec.Attempts[k]
		a.Call, a.Outcome, a.Status, a.Head, a.End = name, record.OutcomeResponse, 200, time.Millisecond, 2*time.Millisecond
	}
	rec.Status, rec.Latency, rec.Source = 200, 10*time.Millisecond, record.SourceGateway
	in.Log(c)
	spans := waitSpans(t, r, 3)
	if n := len(byName(spans, "kong.balancer")); n != 0 {
		t.Errorf("%d balancer spans for aggregation calls", n)
	}
	for _, name := range []string{"user", "orders"} {
		s := byName(spans, "aggregate "+name)
		if len(s) != 1 {
			t.Fatalf("no span of call %s in %d spans", name, len(spans))
		}
		a := attrs(s[0])
		if a["turnpike.aggregate.call"] != name || a["try_count"] != "" || a["http.request.resend_count"] != "" ||
			a["http.response.status_code"] != "200" || s[0].Kind != tracepb.Span_SPAN_KIND_CLIENT {
			t.Errorf("call %s span %v kind %v", name, a, s[0].Kind)
		}
	}
}
