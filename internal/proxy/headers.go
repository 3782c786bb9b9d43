package proxy

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// stripRequestHeaders removes, before anything else sees the request, the
// hop-by-hop headers (RFC 9110 7.6.1, including those named in Connection)
// and every client-sent identity header, which only the gateway's auth
// plugins may set. Underscore spellings of the headers the gateway owns or
// frames the request with are removed too (see underscoreAlias): CGI-style
// upstreams read `X_Forwarded_For` as X-Forwarded-For. Other underscore
// headers pass, as in Kong (key-auth's `api_key` header). owned names
// headers besides the built-in ones (the real-IP and request id headers).
// It returns the Upgrade protocol when the client asked for a WebSocket,
// which the proxy re-adds for the upstream. Other upgrades are dropped, as
// Kong drops them, and the request goes on as a plain one: an h2c upgrade
// passed through would let the client speak HTTP/2 straight to the
// upstream, past every per-request check of the gateway. The admin
// dashboard's session cookie is removed from Cookie (stripAdminCookie).
func stripRequestHeaders(h http.Header, owned []string) (upgrade string) {
	if conn, ok := h["Connection"]; ok {
		for _, v := range conn {
			for tok := range strings.SplitSeq(v, ",") {
				tok = strings.TrimSpace(tok)
				if tok == "" {
					continue
				}
				if strings.EqualFold(tok, "upgrade") {
					if up := h["Upgrade"]; len(up) == 1 && strings.EqualFold(strings.TrimSpace(up[0]), "websocket") {
						upgrade = "websocket"
					}
					continue
				}
				delete(h, http.CanonicalHeaderKey(tok))
			}
		}
	}
	for k := range h {
		if isHopByHop(k) || isIdentityHeader(k) || (strings.IndexByte(k, '_') >= 0 && underscoreAlias(k, owned)) {
			delete(h, k)
		}
	}
	if c, ok := h["Cookie"]; ok {
		stripAdminCookie(h, c)
	}
	return upgrade
}

// adminCookie is the admin dashboard's session cookie
// (dashboard.CookieName). A browser sends a cookie to every port of its
// host, so one logged in to the dashboard on the admin port sends the
// session with its requests to the proxy port of the same host name, and
// an upstream serving /dashboard there (Grafana, Kibana) would receive a
// full admin session.
const adminCookie = "turnpike_dashboard"

// stripAdminCookie removes adminCookie from the Cookie values c of h. A
// request whose cookies do not name it pays a byte search per value.
func stripAdminCookie(h http.Header, c []string) {
	found := false
	for _, v := range c {
		if strings.Contains(v, adminCookie) {
			found = true
			break
		}
	}
	if !found {
		return
	}
	out := make([]string, 0, len(c))
	for _, v := range c {
		if strings.Contains(v, adminCookie) {
			v = withoutCookie(v, adminCookie)
		}
		if v != "" {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = out
}

// withoutCookie is the Cookie value v without its pairs named name, the
// others kept in order and joined as a browser joins them.
func withoutCookie(v, name string) string {
	var b strings.Builder
	for pair := range strings.SplitSeq(v, ";") {
		pair = strings.TrimSpace(pair)
		n, _, _ := strings.Cut(pair, "=")
		if pair == "" || strings.TrimSpace(n) == name {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(pair)
	}
	return b.String()
}

// aliasedNames are the headers whose underscore spellings are dropped:
// CGI, PHP, WSGI and Rack turn both `X-Forwarded-For` and `X_Forwarded_For`
// into HTTP_X_FORWARDED_FOR, so a client could otherwise forge forwarding
// and identity headers past the gateway, or framing headers the upstream
// acts on. Names without a dash have no underscore spelling.
var aliasedNames = [...]string{
	"Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Transfer-Encoding", "Content-Length", "X-Real-Ip", "X-Credential-Identifier", "X-Anonymous-Consumer",
}

// aliasedPrefixes are the header families dropped when spelt with
// underscores.
var aliasedPrefixes = [...]string{"X-Forwarded-", "X-Consumer-", "X-Authenticated-"}

// underscoreAlias reports whether k reads, with underscores as dashes and
// in any case, as one of aliasedNames, aliasedPrefixes or owned. It does
// not allocate.
func underscoreAlias(k string, owned []string) bool {
	for _, p := range aliasedPrefixes {
		if len(k) > len(p) && plugin.SameDashFold(k[:len(p)], p) {
			return true
		}
	}
	for _, n := range aliasedNames {
		if plugin.SameDashFold(k, n) {
			return true
		}
	}
	for _, n := range owned {
		if plugin.SameDashFold(k, n) {
			return true
		}
	}
	return false
}

func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Http2-Settings":
		return true
	}
	return false
}

// isIdentityHeader matches X-Consumer-*, X-Credential-Identifier,
// X-Anonymous-Consumer and X-Authenticated-* in canonical form.
func isIdentityHeader(k string) bool {
	if len(k) < 12 || k[0] != 'X' || k[1] != '-' {
		return false
	}
	return strings.HasPrefix(k, "X-Consumer-") || strings.HasPrefix(k, "X-Authenticated-") ||
		k == "X-Credential-Identifier" || k == "X-Anonymous-Consumer"
}

// TrustedIPs decides whose X-Forwarded-* and X-Real-IP headers are believed
// (Kong's trusted_ips).
type TrustedIPs []netip.Prefix

// Contains reports whether addr is trusted.
func (t TrustedIPs) Contains(addr netip.Addr) bool {
	for _, p := range t {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// realIP is the client address a trusted peer reports in the real-IP
// header's values, as NGINX's realip module reads it: the last address
// of the list, or with recursive the last one that is not itself
// trusted (the first of the list when all are). "" when the header holds
// no valid address.
func realIP(values []string, trusted TrustedIPs, recursive bool) string {
	last := ""
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for v != "" {
			item := v
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				item, v = v[j+1:], v[:j]
			} else {
				v = ""
			}
			addr, err := netip.ParseAddr(strings.TrimSpace(item))
			if err != nil {
				if last == "" {
					return ""
				}
				return last
			}
			last = addr.Unmap().String()
			if !recursive || !trusted.Contains(addr.Unmap()) {
				return last
			}
		}
	}
	return last
}

// clientAddr parses the peer of r without allocating.
func clientAddr(remote string) (ip string, addr netip.Addr) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		host := remote
		if i := strings.LastIndexByte(remote, ':'); i > 0 {
			host = strings.Trim(remote[:i], "[]")
		}
		addr, _ = netip.ParseAddr(host)
		return host, addr
	}
	a := ap.Addr().Unmap()
	host := remote[:strings.LastIndexByte(remote, ':')]
	return strings.Trim(host, "[]"), a
}

// idGen makes request ids: a random per-process prefix and a counter, hex
// encoded to 32 characters like Kong's ids. Unique without a syscall per
// request; not meant to be unguessable.
//
// The ids are made idBatch at a time into one string and handed out as
// its slices, one allocation for idBatch requests; an id kept after its
// request (a log plugin's queue) keeps its batch's 1 KiB alive.
type idGen struct {
	prefix  [8]byte
	n       atomic.Uint64
	batches sync.Pool // *idRun with ids left
}

// idBatch is how many ids one allocation holds.
const idBatch = 32

// idRun is a batch of ids, of which the first i are handed out.
type idRun struct {
	s string
	i int
}

func newIDGen() *idGen {
	g := &idGen{}
	rand.Read(g.prefix[:])
	var seed [8]byte
	rand.Read(seed[:])
	g.n.Store(uint64(seed[0])<<16 | uint64(seed[1])<<8 | uint64(seed[2]))
	return g
}

func (g *idGen) next() string {
	run, _ := g.batches.Get().(*idRun)
	if run == nil {
		run = new(idRun)
		g.fill(run)
	}
	id := run.s[run.i*32 : run.i*32+32]
	run.i++
	if run.i == idBatch {
		g.fill(run)
	}
	g.batches.Put(run)
	return id
}

// fill makes run a new batch: the next idBatch values of the counter.
func (g *idGen) fill(run *idRun) {
	n := g.n.Add(idBatch) - idBatch
	var raw [16]byte
	copy(raw[:8], g.prefix[:])
	var out [idBatch * 32]byte
	for k := range idBatch {
		n++
		binary.BigEndian.PutUint64(raw[8:], n)
		hex.Encode(out[k*32:], raw[:])
	}
	run.s, run.i = string(out[:]), 0
}

// validRequestID accepts a client-supplied id from a trusted peer only if it
// is short and printable, so it cannot inject into logs or headers.
func validRequestID(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}
