package plugin

import (
	"net/http"
	"testing"
)

func TestHeaderName(t *testing.T) {
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	tests := []struct {
		name      string
		h         http.Header
		values    string // Values' first value ("" for none)
		first     string
		wantFirst bool
	}{
		{"api_key", h("api_key", "exact"), "exact", "exact", true},
		{"api_key", h("API_KEY", "exact"), "exact", "exact", true},
		{"api_key", h("api-key", "dashed"), "dashed", "dashed", true},
		{"api_key", h("api-key", "dashed", "api_key", "exact"), "exact", "exact", true},
		{"api-key", h("api-key", "dashed"), "dashed", "dashed", true},
		// get_headers()["api-key"] misses an api_key header; get_header
		// ($http_api_key) finds it.
		{"api-key", h("api_key", "underscore"), "", "underscore", true},
		{"x-a-b", h("X-a_B", "mixed"), "", "mixed", true},
		{"api-key", h("api_keys", "no"), "", "", false},
		{"api-key", h("apikey", "no"), "", "", false},
	}
	for _, tt := range tests {
		n := NewHeaderName(tt.name)
		_, vs := n.Values(tt.h)
		got := ""
		if len(vs) > 0 {
			got = vs[0]
		}
		if got != tt.values {
			t.Errorf("%s in %v: Values %q, want %q", tt.name, tt.h, got, tt.values)
		}
		if v, ok := n.First(tt.h); v != tt.first || ok != tt.wantFirst {
			t.Errorf("%s in %v: First %q %v, want %q %v", tt.name, tt.h, v, ok, tt.first, tt.wantFirst)
		}
	}
}

func TestHeaderNameFirstDoesNotAllocate(t *testing.T) {
	n := NewHeaderName("x-client-id")
	h := http.Header{"Accept": {"*/*"}, "User-Agent": {"t"}, "X_client_id": {"c"}}
	if a := testing.AllocsPerRun(100, func() { n.First(h) }); a != 0 {
		t.Fatalf("First allocates %v times", a)
	}
}

func TestSameDashFold(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"X-User-Id", "X-User-Id", true},
		{"x_user_ID", "X-User-Id", true},
		{"X-User-Id", "X_user_id", true},
		{"X-User-Id", "X-User-Ix", false},
		{"X-User-Id", "X-User-Id2", false},
		{"X-User-@d", "X-User-`d", false},
		{"X-User-[d", "X-User-{d", false},
	} {
		if got := SameDashFold(c.a, c.b); got != c.want {
			t.Errorf("SameDashFold(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func TestValidHeaderName(t *testing.T) {
	for name, want := range map[string]bool{"apikey": true, "api_key": true, "X-Api-Key9": true, "": false, "a b": false, "a:b": false, "é": false} {
		if got := ValidHeaderName(name); got != want {
			t.Errorf("ValidHeaderName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestIsHopByHop(t *testing.T) {
	for name, want := range map[string]bool{"Connection": true, "Te": true, "Proxy-Authorization": true,
		"Http2-Settings": true, "connection": false, "Accept": false, "Host": false} {
		if got := IsHopByHop(name); got != want {
			t.Errorf("IsHopByHop(%q) = %v, want %v", name, got, want)
		}
	}
}
