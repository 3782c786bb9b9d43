package proxy

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/pathsafe"
	"github.com/turnpikegw/turnpike/internal/router"
)

func TestStripRequestHeadersUnderscoreAliases(t *testing.T) {
	h := http.Header{
		"X-Real_ip":           {"forged"},
		"X_forwarded_for":     {"forged"},
		"X-Forwarded_proto":   {"forged"},
		"X_FORWARDED_HOST":    {"forged"},
		"Transfer_encoding":   {"chunked"},
		"Content_length":      {"5"},
		"Proxy_connection":    {"close"},
		"Keep_alive":          {"1"},
		"Proxy_authorization": {"forged"},
		"X_consumer_id":       {"forged"},
		"X_request_id":        {"forged"},
		"Cf_connecting_ip":    {"forged"},
		"Api_key":             {"kept"},
		"X-Custom_name":       {"kept"},
		"X_forwarded_":        {"kept: no name after the prefix"},
		"Content_lengths":     {"kept: another name"},
	}
	stripRequestHeaders(h, []string{"Cf-Connecting-Ip", "X-Request-Id"})
	want := http.Header{
		"Api_key":         {"kept"},
		"X-Custom_name":   {"kept"},
		"X_forwarded_":    {"kept: no name after the prefix"},
		"Content_lengths": {"kept: another name"},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	owned := []string{"X-Real-Ip", "X-Request-Id"}
	if n := testing.AllocsPerRun(100, func() { underscoreAlias("X_forwarded_for", owned) }); n != 0 {
		t.Errorf("underscoreAlias: %v allocations", n)
	}
}

func TestHasDotSegmentParams(t *testing.T) {
	tests := []struct {
		name, raw string
		want      bool
	}{
		{name: "servlet climb", raw: "/public/x/..;/..;/admin", want: true},
		{name: "dot-dot params", raw: "/public/..;jsessionid=1/admin", want: true},
		{name: "dot params", raw: "/public/.;/x", want: true},
		{name: "encoded dots", raw: "/public/%2e%2e;/admin", want: true},
		{name: "encoded semicolon", raw: "/public/..%3b/admin", want: true},
		{name: "all encoded", raw: "/public/%2E%2E%3B/admin", want: true},
		{name: "at the end", raw: "/public/x/..;", want: true},
		{name: "at the start", raw: "/.;/admin", want: true},
		{name: "params on an empty segment", raw: "/;/admin", want: true},
		{name: "encoded params on an empty segment", raw: "/public/%3bx/admin", want: true},
		{name: "final params on an empty segment", raw: "/app/;jsessionid=1"},
		{name: "params on a name", raw: "/public/a;b/c"},
		{name: "three dots", raw: "/public/...;/x"},
		{name: "dots then a letter", raw: "/public/..a;/x"},
		{name: "name ending in a dot", raw: "/public/a.;/x"},
		{name: "plain dots resolved", raw: "/public/x/../y"},
		{name: "encoded other byte", raw: "/public/..%3a/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := router.NormalizePath(tt.raw)
			if !ok {
				t.Fatalf("NormalizePath(%q) refused it", tt.raw)
			}
			if got := pathsafe.HasDotSegmentParams(p); got != tt.want {
				t.Errorf("HasDotSegmentParams(%q) = %v, want %v", p, got, tt.want)
			}
		})
	}
}
