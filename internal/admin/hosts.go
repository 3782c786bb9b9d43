package admin

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// hostGuard decides whether a request's Host names this admin listener.
//
// Without it, DNS rebinding reaches the admin API from any web page: the
// page's own name is made to resolve to 127.0.0.1, so the browser treats
// the admin API as same-origin and sends Host and Origin both naming the
// attacker's domain. Neither header is then evidence of anything but the
// name the browser used; only that name can be checked. Accepted are the
// loopback names (localhost, 127/8, ::1), the address the connection
// reached (so a listener on 0.0.0.0 answers for the address a client
// dialled, but a client on loopback cannot claim another address), and the
// names the operator lists (the listen hosts and --admin-allowed-hosts).
// An IP literal cannot be rebound, but one that is none of these names
// another machine, so it is refused like a foreign name.
type hostGuard struct {
	names map[string]bool
	addrs map[netip.Addr]bool
}

func newHostGuard(listen, allowed []string) hostGuard {
	g := hostGuard{names: map[string]bool{}, addrs: map[netip.Addr]bool{}}
	add := func(h string) {
		h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
		if a, err := netip.ParseAddr(h); err == nil {
			if !a.IsUnspecified() {
				g.addrs[a.Unmap()] = true
			}
			return
		}
		if h != "" {
			g.names[h] = true
		}
	}
	for _, l := range listen {
		if h, _, err := net.SplitHostPort(l); err == nil {
			add(h)
		}
	}
	for _, h := range allowed {
		add(h)
	}
	return g
}

// allows reports whether r's Host names this listener. A request without
// Host (HTTP/1.0) passes: browsers always send one.
func (g hostGuard) allows(r *http.Request) bool {
	if r.Host == "" {
		return true
	}
	host, ok := hostPart(r.Host)
	if !ok {
		return false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.IsLoopback() || g.addrs[a] {
			return true
		}
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if tcp, ok := local.(*net.TCPAddr); ok {
			la, _ := netip.AddrFromSlice(tcp.IP)
			return la.Unmap() == a
		}
		return false
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == "localhost" || g.names[host]
}

// hostPart is the host of a Host header value, without brackets and port;
// false when the port is not a number or the value has more colons than
// an IPv6 literal in brackets may.
func hostPart(h string) (string, bool) {
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 || !validPort(h[end+1:]) {
			return "", false
		}
		return h[1:end], true
	}
	if i := strings.IndexByte(h, ':'); i >= 0 {
		if !validPort(h[i:]) {
			return "", false
		}
		h = h[:i]
	}
	return h, true
}

// validPort reports whether s is empty or ":" followed by digits only
// (RFC 9110 §4.2.1 allows an empty port).
func validPort(s string) bool {
	if s == "" {
		return true
	}
	if s[0] != ':' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParseAllowedHosts reads --admin-allowed-hosts: comma-separated host names
// or IP addresses, without scheme or port, that the admin API answers for
// besides its loopback names and listen address.
func ParseAllowedHosts(s string) ([]string, error) {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		h := strings.Trim(part, "[]")
		if _, err := netip.ParseAddr(h); err != nil && !validHostName(h) {
			return nil, fmt.Errorf("%q: want a host name or IP address, without scheme, port or wildcard", part)
		}
		out = append(out, h)
	}
	return out, nil
}

// validHostName reports a DNS name of letters, digits, '-', '_' and dots
// (an optional trailing dot).
func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
