package admin

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/turnpikegw/turnpike/internal/router"
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
	// The proxy's syntax rule: a host name or IP literal, an optional port.
	if !router.ValidHost(r.Host) {
		return false
	}
	name, _ := router.SplitHost(r.Host)
	host := strings.Trim(name, "[]")
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
		if _, err := netip.ParseAddr(h); err != nil && (strings.IndexByte(h, ':') >= 0 || h == "" || !router.ValidHost(h)) {
			return nil, fmt.Errorf("%q: want a host name or IP address, without scheme, port or wildcard", part)
		}
		out = append(out, h)
	}
	return out, nil
}
