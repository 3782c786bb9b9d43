package proxy

import (
	"net/netip"
	"strings"
	"testing"
)

func TestRealIP(t *testing.T) {
	trusted := TrustedIPs{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		name      string
		values    []string
		recursive bool
		want      string
	}{
		{"none", nil, false, ""},
		{"one", []string{"203.0.113.7"}, false, "203.0.113.7"},
		{"last of a list", []string{"198.51.100.1, 203.0.113.7"}, false, "203.0.113.7"},
		{"last of several headers", []string{"198.51.100.1", "203.0.113.7, 10.0.0.2"}, false, "10.0.0.2"},
		{"recursive skips trusted", []string{"198.51.100.1", "203.0.113.7, 10.0.0.2"}, true, "203.0.113.7"},
		{"recursive, all trusted", []string{"10.0.0.3, 10.0.0.2"}, true, "10.0.0.3"},
		{"spaces", []string{" 2001:db8::1 ,  203.0.113.9 "}, false, "203.0.113.9"},
		{"mapped v4", []string{"::ffff:203.0.113.7"}, false, "203.0.113.7"},
		{"garbage", []string{"not-an-ip"}, false, ""},
		{"garbage left of a trusted hop", []string{"junk, 10.0.0.2"}, true, "10.0.0.2"},
	}
	for _, c := range cases {
		if got := realIP(c.values, trusted, c.recursive); got != c.want {
			t.Errorf("%s: realIP(%q, recursive=%v) = %q, want %q", c.name, c.values, c.recursive, got, c.want)
		}
	}
}

func TestRequestIDsUniqueAcrossBatches(t *testing.T) {
	g := newIDGen()
	seen := map[string]bool{}
	for range 3*idBatch + 1 {
		id := g.next()
		if len(id) != 32 || seen[id] || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("id %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}
