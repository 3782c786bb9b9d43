package cors

import "strings"

// normalizeOrigin reduces an origin to scheme://host[:port] the way Kong
// does with LuaSocket's url.parse: the default port of http and https is
// dropped, and anything without an authority (`example.test`,
// `example.test:8080`) is kept verbatim as both domain and host. Origins
// already in normal form are returned without allocating.
func normalizeOrigin(s string) (domain, host string) {
	rest := s
	changed := false
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest, changed = rest[:i], true
	}
	scheme := ""
	if i := schemeLen(rest); i > 0 {
		scheme, rest = rest[:i], rest[i+1:]
	}
	if !strings.HasPrefix(rest, "//") {
		return s, s
	}
	if scheme == "" {
		changed = true
	}
	authority := rest[2:]
	if i := strings.IndexByte(authority, '/'); i >= 0 {
		authority, changed = authority[:i], true
	}
	if i := strings.IndexByte(authority, '@'); i >= 0 {
		authority, changed = authority[i+1:], true
	}
	port, hasPort := "", false
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.Contains(authority[i+1:], "]") {
		port, hasPort = authority[i+1:], true
		authority = authority[:i]
	}
	if authority == "" {
		return s, s
	}
	host = authority
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host, changed = host[1:len(host)-1], true
	}
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		hasPort, changed = false, true
	}
	if !changed {
		return s, host
	}
	var b strings.Builder
	b.Grow(len(s))
	if scheme != "" {
		b.WriteString(scheme)
		b.WriteString("://")
	}
	b.WriteString(host)
	if hasPort {
		b.WriteByte(':')
		b.WriteString(port)
	}
	return b.String(), host
}

// schemeLen is the length of a leading `scheme:` (without the colon), as
// LuaSocket matches it: an alphanumeric followed by alphanumerics, '+',
// '-' or '.'.
func schemeLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':':
			return i
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '+' || c == '-' || c == '.') && i > 0:
		default:
			return 0
		}
	}
	return 0
}
