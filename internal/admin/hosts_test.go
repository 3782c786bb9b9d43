package admin

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHostGuard(t *testing.T) {
	g := newHostGuard([]string{"0.0.0.0:8001", "[::]:8001", "admin.lan:8001", "10.0.0.5:8001"},
		[]string{"Gw.Example.COM.", "192.0.2.9", "2001:db8::9"})
	local := &net.TCPAddr{IP: net.ParseIP("198.51.100.7"), Port: 8001}
	tests := []struct {
		host string
		want bool
	}{
		{"", true},
		{"localhost", true},
		{"LOCALHOST:8001", true},
		{"localhost.:8001", true},
		{"localhost:", false},
		{"127.0.0.1", true},
		{"127.255.0.3:1", true},
		{"[::1]:8001", true},
		{"[::ffff:127.0.0.1]:8001", true},
		{"198.51.100.7:8001", true},
		{"[::ffff:198.51.100.7]", true},
		{"admin.lan", true},
		{"gw.example.com:443", true},
		{"gw.example.com.", true},
		{"192.0.2.9:8001", true},
		{"[2001:db8::9]", true},
		{"10.0.0.5:8001", true},

		{"rebind.attacker.example:8001", false},
		{"localhost.attacker.example", false},
		{"sub.gw.example.com", false},
		{"0.0.0.0:8001", false},
		{"[::]:8001", false},
		{"198.51.100.8:8001", false},
		{"2001:db8::9", false},
		{"localhost:8001:8001", false},
		{"localhost:80a", false},
		{"[::1]x", false},
		{"[::1", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = tt.host
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, local))
		if got := g.allows(r); got != tt.want {
			t.Errorf("Host %q: allowed %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestParseAllowedHosts(t *testing.T) {
	got, err := ParseAllowedHosts(" a.example , [2001:db8::1],10.0.0.1,,")
	if err != nil || len(got) != 3 || got[0] != "a.example" || got[1] != "2001:db8::1" || got[2] != "10.0.0.1" {
		t.Errorf("got %q, %v", got, err)
	}
	for _, bad := range []string{"http://a.example", "a.example:8001", "*.example.com", "a..example", "a/b"} {
		if _, err := ParseAllowedHosts(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
