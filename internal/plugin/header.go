package plugin

import (
	"net/http"
	"net/textproto"
	"strings"
)

// HeaderName is a request header name from a plugin's config, read as Kong
// reads it. Kong's NGINX keeps headers with underscores
// (underscores_in_headers), and its two ways of reading a header differ:
//
//   - Kong's kong.request.get_headers()[name] (key-auth's key_names, jwt's
//     header_names, request-termination's trigger) finds the header spelt
//     as name, in any case, and failing that the one spelt with '-' for
//     each '_' of name: `api_key` reads `api_key`, else `api-key`; `api-key`
//     reads only `api-key`. That is Values.
//   - kong.request.get_header(name) (rate-limiting's header_name) is
//     NGINX's $http_ variable, for which '-' and '_' are the same: `api-key`
//     also reads `api_key`. That is First.
//
// The proxy drops the underscore spellings of the headers the gateway owns
// (identity, forwarding, framing) before any plugin runs, so neither finds
// those.
type HeaderName struct {
	// exact is name in the header map's canonical form; dashed is name
	// with '-' for '_', canonical (the same when name has no '_').
	exact, dashed string
}

// ValidHeaderName is Kong's typedefs.header_name rule: one or more ASCII
// letters, digits, '-' and '_'.
func ValidHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// IsHopByHop reports whether canonical (a canonical header name) is a
// connection's own field, which a request or answer passed on must not
// carry: RFC 9110 section 7.6.1's, RFC 2616's hop-by-hop list, and the
// obsolete Proxy-Connection and HTTP/2's upgrade Http2-Settings.
func IsHopByHop(canonical string) bool {
	switch canonical {
	case "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Http2-Settings":
		return true
	}
	return false
}

// NewHeaderName prepares name (checked by the plugin's config as Kong's
// typedefs.header_name: letters, digits, '-' and '_').
func NewHeaderName(name string) HeaderName {
	return HeaderName{
		exact:  textproto.CanonicalMIMEHeaderKey(name),
		dashed: textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(name, "_", "-")),
	}
}

// Values returns the values of the header as get_headers()[name] finds it,
// and its key in h (to delete it); nil when it is absent.
func (n HeaderName) Values(h http.Header) (key string, vs []string) {
	if vs, ok := h[n.exact]; ok {
		return n.exact, vs
	}
	if vs, ok := h[n.dashed]; ok {
		return n.dashed, vs
	}
	return "", nil
}

// First returns the first value of the header as get_header(name) finds
// it: spelt as name, else with '-' for '_', else any spelling that differs
// from name only in case and '-' against '_'. ok is false when there is
// none. It does not allocate.
func (n HeaderName) First(h http.Header) (v string, ok bool) {
	if _, vs := n.Values(h); len(vs) > 0 {
		return vs[0], true
	}
	for k, vs := range h {
		if len(vs) > 0 && len(k) == len(n.dashed) && strings.IndexByte(k, '_') >= 0 && SameDashFold(k, n.dashed) {
			return vs[0], true
		}
	}
	return "", false
}

// SameDashFold reports whether header names a and b are equal ignoring
// ASCII case and reading '_' as '-', as CGI-style upstreams and NGINX's
// $http_ variables read them. It does not allocate.
func SameDashFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// FirstValue is kong.request.get_header for a canonical name: the first
// value, and whether the header is present at all (an empty value is).
func FirstValue(h http.Header, canonical string) (string, bool) {
	if vs := h[canonical]; len(vs) > 0 {
		return vs[0], true
	}
	return "", false
}
