package tracing

import (
	"net/http"
	"slices"
	"testing"
)

// Kong's get_plugin_params: the deprecated header_type and
// default_header_type apply only when extract, inject and clear are all
// absent.
func TestResolve(t *testing.T) {
	var errs []string
	add := func(path, msg string) { errs = append(errs, path+": "+msg) }
	p := Resolve(Propagation{DefaultFormat: "w3c"}, "preserve", "b3-single", add)
	if !slices.Equal(p.Extract, KongExtractOrder) || !slices.Equal(p.Inject, []Format{Preserve}) || p.DefaultFormat != B3Single {
		t.Errorf("preserve: %+v", p)
	}
	p = Resolve(Propagation{DefaultFormat: "w3c"}, "ignore", "", add)
	if p.Extract != nil || !slices.Equal(p.Inject, []Format{W3C}) {
		t.Errorf("ignore: %+v", p)
	}
	p = Resolve(Propagation{DefaultFormat: "b3", Extract: []string{"w3c"}, Clear: []string{"x-foo"}}, "jaeger", "ot", add)
	if !slices.Equal(p.Extract, []Format{W3C}) || p.Inject != nil || !slices.Equal(p.Clear, []string{"X-Foo"}) || p.DefaultFormat != B3 {
		t.Errorf("record: %+v", p)
	}
	if len(errs) != 0 {
		t.Fatalf("errors %v", errs)
	}
	Resolve(Propagation{DefaultFormat: "b3", Extract: []string{"instana"}, Inject: []string{"x"}, Clear: []string{"a b"}}, "", "", add)
	want := []string{
		"propagation.extract[0]: the instana format is not supported",
		"propagation.inject[0]: expected one of: preserve, w3c, b3, b3-single, jaeger, ot, aws, gcp, datadog",
		"propagation.clear[0]: bad header name 'a b', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
	}
	if !slices.Equal(errs, want) {
		t.Fatalf("errors %q, want %q", errs, want)
	}
}

// Propagate answers a single b3 header in the single form (Preserve)
// and clears the named headers first.
func TestPropagatePreserve(t *testing.T) {
	h := http.Header{"B3": {"0123456789abcdef-1111111111111111-1"}, "X-Foo": {"x"}}
	var parent SpanContext
	if !Extract(h, KongExtractOrder, &parent) || !parent.Single || parent.From != B3 || parent.Sampled != SampledYes {
		t.Fatalf("extracted %+v", parent)
	}
	out := parent
	out.SpanID = [8]byte{2, 2, 2, 2, 2, 2, 2, 2}
	out.ParentID = [8]byte{3, 3, 3, 3, 3, 3, 3, 3}
	p := Params{Inject: []Format{Preserve}, Clear: []string{"X-Foo"}, DefaultFormat: W3C}
	p.Propagate(h, &out, &parent, nil)
	if got := h.Get("B3"); got != "0123456789abcdef-0202020202020202-1-0303030303030303" {
		t.Fatalf("b3 %q", got)
	}
	if _, ok := h["X-Foo"]; ok || h.Get("Traceparent") != "" {
		t.Fatalf("headers %v", h)
	}
}
