package opentelemetry

import (
	"encoding/binary"
	"net/http"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// propagate runs the access phase of a plugin configured with doc on a
// request carrying h, and returns the upstream's headers and the state
// the log phase will use.
func propagate(t *testing.T, doc string, h http.Header) (http.Header, *plugin.Ctx, *traceState) {
	t.Helper()
	in := newInstance(t, `{endpoint: "127.0.0.1:1", `+doc+`}`, plugin.Env{})
	c := request(h)
	in.Access(c)
	st, _ := c.Shared[Name].(*traceState)
	return c.Req.Header, c, st
}

func TestB3MultiRoundTrip(t *testing.T) {
	out, c, st := propagate(t, `sampling_rate: 0`, http.Header{
		"X-B3-Traceid": {"80f198ee56343ba864fe8b2a57d3eff7"}, "X-B3-Spanid": {"e457b5a2e4d86bd1"},
		"X-B3-Parentspanid": {"05e3ac9a4f6e3b90"}, "X-B3-Sampled": {"1"},
	})
	if st == nil || hexs(st.parent.SpanID[:]) != "e457b5a2e4d86bd1" {
		t.Fatalf("sampled parent not honoured or not extracted: %+v", st)
	}
	if got := out.Get("X-B3-Traceid"); got != "80f198ee56343ba864fe8b2a57d3eff7" || c.Record.TraceID != got {
		t.Errorf("X-B3-TraceId %q, record %q", got, c.Record.TraceID)
	}
	if got := out.Get("X-B3-Spanid"); got != hexs(st.upstreamID[:]) {
		t.Errorf("X-B3-SpanId %q, want the upstream span %x", got, st.upstreamID)
	}
	if got := out.Get("X-B3-Parentspanid"); got != hexs(st.rootID[:]) {
		t.Errorf("X-B3-ParentSpanId %q, want the server span %x", got, st.rootID)
	}
	if out.Get("X-B3-Sampled") != "1" || out.Get("Traceparent") != "" || out.Get("B3") != "" {
		t.Errorf("headers %v", out)
	}
}

func TestB3SingleRoundTrip(t *testing.T) {
	// A 64-bit trace id goes back as it came; the single header stays
	// single under preserve.
	out, c, st := propagate(t, `sampling_rate: 1`, http.Header{"B3": {"80f198ee56343ba8-e457b5a2e4d86bd1-0-05e3ac9a4f6e3b90"}})
	if st != nil {
		t.Fatal("b3 sampled=0 was not honoured")
	}
	b3 := out.Get("B3")
	f := strings.Split(b3, "-")
	if len(f) != 4 || f[0] != "80f198ee56343ba8" || f[2] != "0" || len(f[1]) != 16 || len(f[3]) != 16 || f[1] == "e457b5a2e4d86bd1" {
		t.Fatalf("b3 %q", b3)
	}
	if c.Record.TraceID != "000000000000000080f198ee56343ba8" {
		t.Errorf("record trace id %q", c.Record.TraceID)
	}
	if out.Get("X-B3-Traceid") != "" {
		t.Errorf("multi headers injected: %v", out)
	}
	// b3: d is debug: sampled, and sent back as debug.
	out, _, st = propagate(t, `sampling_rate: 0`, http.Header{"B3": {"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d"}})
	if st == nil || !strings.HasSuffix(strings.Split(out.Get("B3"), "-")[2], "d") {
		t.Fatalf("debug: %v %v", st, out)
	}
}

func TestAWSXRayRoundTrip(t *testing.T) {
	out, c, st := propagate(t, `sampling_rate: 0`, http.Header{
		"X-Amzn-Trace-Id": {"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:0"},
	})
	if st == nil || hexs(st.parent.SpanID[:]) != "53995c3f42cd8ad8" {
		t.Fatalf("not extracted: %+v", st)
	}
	if c.Record.TraceID != "5759e988bd862e3fe1be46a994272793" {
		t.Errorf("record trace id %q", c.Record.TraceID)
	}
	want := "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=" + hexs(st.upstreamID[:]) + ";Sampled=1"
	if got := out.Get("X-Amzn-Trace-Id"); got != want {
		t.Errorf("X-Amzn-Trace-Id %q, want %q", got, want)
	}
	for _, bad := range []string{"Root=1-5759e988-bd862e3fe1be46a99427279", "Root=2-5759e988-bd862e3fe1be46a994272793", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=x"} {
		_, c, _ := propagate(t, `propagation: {extract: [aws], inject: [w3c]}`, http.Header{"X-Amzn-Trace-Id": {bad}})
		if c.Record.TraceID == "5759e988bd862e3fe1be46a994272793" {
			t.Errorf("invalid %q extracted", bad)
		}
	}
}

func TestJaegerOTGCPDatadogExtraction(t *testing.T) {
	cases := []struct {
		name    string
		h       http.Header
		trace   string
		span    string
		inject  string
		outName string
		out     func(st *traceState) string
	}{
		{"jaeger", http.Header{"Uber-Trace-Id": {"4bf92f3577b34da6a3ce929d0e0e4736:f067aa0ba902b7:0:1"}},
			"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "jaeger", "Uber-Trace-Id",
			func(st *traceState) string {
				return "4bf92f3577b34da6a3ce929d0e0e4736:" + hexs(st.upstreamID[:]) + ":" + hexs(st.rootID[:]) + ":01"
			}},
		{"ot", http.Header{"Ot-Tracer-Traceid": {"a3ce929d0e0e4736"}, "Ot-Tracer-Spanid": {"00f067aa0ba902b7"}, "Ot-Tracer-Sampled": {"1"}},
			"0000000000000000a3ce929d0e0e4736", "00f067aa0ba902b7", "ot", "Ot-Tracer-Traceid",
			func(*traceState) string { return "a3ce929d0e0e4736" }},
		{"gcp", http.Header{"X-Cloud-Trace-Context": {"105445aa7843bc8bf206b12000100000/123;o=1"}},
			"105445aa7843bc8bf206b12000100000", "000000000000007b", "gcp", "X-Cloud-Trace-Context",
			func(st *traceState) string {
				return "105445aa7843bc8bf206b12000100000/" + itoaU(binary.BigEndian.Uint64(st.upstreamID[:])) + ";o=1"
			}},
		{"datadog", http.Header{"X-Datadog-Trace-Id": {"1234"}, "X-Datadog-Parent-Id": {"5678"}, "X-Datadog-Sampling-Priority": {"1"}},
			"000000000000000000000000000004d2", "000000000000162e", "datadog", "X-Datadog-Trace-Id",
			func(*traceState) string { return "1234" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, c, st := propagate(t, `sampling_rate: 0, propagation: {extract: [`+tc.name+`], inject: [preserve]}`, tc.h)
			if st == nil {
				t.Fatal("sampled flag not honoured")
			}
			if c.Record.TraceID != tc.trace || hexs(st.parent.SpanID[:]) != tc.span {
				t.Fatalf("extracted trace %s span %x", c.Record.TraceID, st.parent.SpanID)
			}
			if got, want := out.Get(tc.outName), tc.out(st); got != want {
				t.Errorf("%s = %q, want %q", tc.outName, got, want)
			}
		})
	}
}

func itoaU(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// With Kong's default (header_type preserve) formats are tried in Kong's
// order, B3 before W3C, and the upstream gets the format that came in.
func TestDefaultExtractOrderAndPreserve(t *testing.T) {
	out, c, _ := propagate(t, ``, http.Header{
		"Traceparent":  {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"X-B3-Traceid": {"80f198ee56343ba864fe8b2a57d3eff7"}, "X-B3-Spanid": {"e457b5a2e4d86bd1"},
	})
	if c.Record.TraceID != "80f198ee56343ba864fe8b2a57d3eff7" {
		t.Fatalf("extracted %s, want the B3 trace", c.Record.TraceID)
	}
	if out.Get("X-B3-Traceid") != "80f198ee56343ba864fe8b2a57d3eff7" {
		t.Errorf("b3 not injected back: %v", out)
	}
	// The client's traceparent is left as it was: only the preserved format is written.
	if out.Get("Traceparent") != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Errorf("traceparent %q", out.Get("Traceparent"))
	}
}

func TestExtractInjectClearDefaultFormat(t *testing.T) {
	out, c, _ := propagate(t, `propagation: {extract: [w3c], inject: [b3-single, aws], clear: [traceparent]}`,
		http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	if c.Record.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || out.Get("Traceparent") != "" {
		t.Fatalf("trace %s, traceparent %q", c.Record.TraceID, out.Get("Traceparent"))
	}
	if !strings.HasPrefix(out.Get("B3"), "4bf92f3577b34da6a3ce929d0e0e4736-") || !strings.HasPrefix(out.Get("X-Amzn-Trace-Id"), "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;") {
		t.Errorf("headers %v", out)
	}
	// Nothing extracted: preserve means default_format.
	out, _, _ = propagate(t, `propagation: {extract: [w3c], inject: [preserve], default_format: jaeger}`, nil)
	if out.Get("Uber-Trace-Id") == "" || out.Get("Traceparent") != "" {
		t.Errorf("default_format not used: %v", out)
	}
	// header_type ignore: the client's context is not extracted.
	out, c, _ = propagate(t, `header_type: ignore`, http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	if c.Record.TraceID == "4bf92f3577b34da6a3ce929d0e0e4736" || !strings.Contains(out.Get("Traceparent"), c.Record.TraceID) {
		t.Errorf("ignore: trace %s traceparent %q", c.Record.TraceID, out.Get("Traceparent"))
	}
	// An empty inject list turns injection off.
	out, _, _ = propagate(t, `propagation: {extract: [w3c], inject: []}`, nil)
	if out.Get("Traceparent") != "" {
		t.Errorf("injected with inject: []: %v", out)
	}
}

func TestInvalidHeadersStartANewTrace(t *testing.T) {
	for _, tp := range []string{
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
		"garbage",
	} {
		_, c, _ := propagate(t, `propagation: {extract: [w3c], inject: [w3c]}`, http.Header{"Traceparent": {tp}})
		if c.Record.TraceID == "4bf92f3577b34da6a3ce929d0e0e4736" || len(c.Record.TraceID) != 32 {
			t.Errorf("%q: trace %q", tp, c.Record.TraceID)
		}
	}
	// A later version may add fields.
	_, c, _ := propagate(t, `propagation: {extract: [w3c], inject: [w3c]}`,
		http.Header{"Traceparent": {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"}})
	if c.Record.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("version 01 not read: %q", c.Record.TraceID)
	}
}
