package router

import (
	"errors"
	"net/netip"
	"strings"
)

type hostKind uint8

const (
	hostExact  hostKind = iota
	hostSuffix          // "*.example.com": name holds ".example.com"
	hostPrefix          // "example.*": name holds "example."
)

// hostPattern is one configured host, lower-cased, split from its port.
type hostPattern struct {
	kind hostKind
	name string
	port string // "" when the pattern does not constrain the port
}

func parseHostPattern(h string) (hostPattern, error) {
	if h == "" {
		return hostPattern{}, errors.New("empty host")
	}
	name, port, err := splitConfigHost(h)
	if err != nil {
		return hostPattern{}, err
	}
	name = lowerASCII(name)
	p := hostPattern{name: name, port: port}
	switch n := strings.Count(name, "*"); {
	case n == 0:
	case n > 1:
		return hostPattern{}, errors.New("invalid wildcard: only one '*' is allowed")
	case strings.HasPrefix(name, "*.") && len(name) > 2:
		p.kind, p.name = hostSuffix, name[1:]
	case strings.HasSuffix(name, ".*") && len(name) > 2:
		p.kind, p.name = hostPrefix, name[:len(name)-1]
	default:
		return hostPattern{}, errors.New("invalid wildcard: '*' must be the leftmost or rightmost label")
	}
	return p, nil
}

func splitConfigHost(h string) (name, port string, err error) {
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", "", errors.New("unterminated IPv6 address")
		}
		name, rest := h[:end+1], h[end+1:]
		if rest == "" {
			return name, "", nil
		}
		if rest[0] != ':' || !validPort(rest[1:]) {
			return "", "", errors.New("invalid port")
		}
		return name, canonicalPort(rest[1:]), nil
	}
	i := strings.IndexByte(h, ':')
	if i < 0 {
		return h, "", nil
	}
	if strings.IndexByte(h[i+1:], ':') >= 0 {
		return "", "", errors.New("an IPv6 address must be in brackets")
	}
	if i == 0 || !validPort(h[i+1:]) {
		return "", "", errors.New("invalid port")
	}
	return h[:i], canonicalPort(h[i+1:]), nil
}

// canonicalPort drops the leading zeros of a valid port of a route's
// hosts. Requests that spell a port so are refused (ValidHost); a route
// written `:08000` is meant for port 8000, as Kong reads it, and would
// otherwise never match.
func canonicalPort(p string) string {
	return strings.TrimLeft(p, "0")
}

// validPort is a port of a route's hosts: 1-65535.
func validPort(s string) bool {
	n, ok := parsePort(s)
	return ok && n > 0
}

// parsePort reads 1 to 5 digits up to 65535.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= 65535
}

// ValidHost reports whether h is a well-formed Host header or HTTP/2
// :authority (RFC 9110 7.2): a host name or IPv4 address, or an IPv6
// address in brackets, optionally followed by ':' and a port of 0-65535
// without leading zeros.
// "" (HTTP/1.0 without Host) is valid here. Anything else gets 400 before
// routing: SplitHost cannot split `admin.example.com:80:80`, so a route's
// hosts would not match it while an upstream reading the Host from
// preserve_host would still see admin.example.com.
//
// Host names are held to what DNS names use (letters, digits, '-', '_' and
// '.', no empty label but a trailing root dot). RFC 3986 also allows
// percent-escapes and sub-delimiters (`,;=!$&'()*+`) in a reg-name; they are
// refused because an upstream may decode or split them into a name other
// than the one the router compared. It does not allocate.
func ValidHost(h string) bool {
	if h == "" {
		return true
	}
	rest := h
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 || !validIPv6Literal(h[1:end]) {
			return false
		}
		rest = h[end+1:]
	} else {
		i := strings.IndexByte(h, ':')
		if i < 0 {
			i = len(h)
		}
		if !validHostName(h[:i]) {
			return false
		}
		rest = h[i:]
	}
	if rest == "" {
		return true
	}
	// Port 0 is syntactically valid in a request, unlike in a route's
	// hosts. Leading zeros are not: routes compare ports as written, so
	// `admin.example.com:08000` would miss the route for port 8000 and
	// reach a catch-all, while an upstream reading the preserved Host
	// takes it for port 8000.
	port := rest[1:]
	_, ok := parsePort(port)
	return rest[0] == ':' && ok && (len(port) == 1 || port[0] != '0')
}

// validHostName checks a host name (or IPv4 address) of a request.
func validHostName(s string) bool {
	if s == "" || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if i+1 < len(s) && s[i+1] == '.' {
				return false
			}
		case 'a' <= c|0x20 && c|0x20 <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// validIPv6Literal checks the inside of a bracketed host. Only hex digits,
// ':' and '.' (for an embedded IPv4 address) are let through to the
// parser, which keeps zones ("%eth0") and IPvFuture out.
func validIPv6Literal(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isHex(c) && c != ':' && c != '.' {
			return false
		}
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}

// SplitHost splits a Host header value into name and port without
// allocating, exactly as the router does before matching. A trailing dot on the name is dropped because nginx does so
// before Kong ever sees the host.
func SplitHost(h string) (name, port string) {
	if h != "" && h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return h, ""
		}
		name = h[:end+1]
		if len(h) > end+1 && h[end+1] == ':' {
			port = h[end+2:]
		}
		return name, port
	}
	name = h
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h[:i], ':') < 0 {
		name, port = h[:i], h[i+1:]
	}
	if len(name) > 1 && name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	return name, port
}

func (p *hostPattern) match(name, port string) bool {
	if p.port != "" && p.port != port {
		return false
	}
	switch p.kind {
	case hostSuffix:
		return len(name) > len(p.name) && equalFoldASCII(name[len(name)-len(p.name):], p.name)
	case hostPrefix:
		return len(name) > len(p.name) && equalFoldASCII(name[:len(p.name)], p.name)
	default:
		return equalFoldASCII(name, p.name)
	}
}

// equalFoldASCII compares s with lower, which is already lower-case. Host
// names reach Kong as ASCII (IDNs are punycoded), so ASCII folding suffices
// and keeps the exact-host index keys and this check in agreement.
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
