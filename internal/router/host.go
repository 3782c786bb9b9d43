package router

import (
	"errors"
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
		return name, rest[1:], nil
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
	return h[:i], h[i+1:], nil
}

func validPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n > 0 && n <= 65535
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
