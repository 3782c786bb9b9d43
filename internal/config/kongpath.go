package config

import "strings"

// Kong's checks of service and route paths (kong/db/schema/typedefs.lua:
// validate_path, validate_path_with_regexes; kong/tools/uri.lua:
// normalize), so that a path Turnpike accepts is one Kong accepts.

// rfc3986Path reports whether p holds only the characters Kong allows in a
// service path: unreserved, sub-delims, ':', '@', '/' and '%'.
func rfc3986Path(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-._~/%:@!$&'()*+,;=", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// badPercent returns the first '%' of p that does not start a percent
// escape and the two bytes after it, quoted as Kong quotes it (escapes
// after it shown as "___"); "" if there is none.
func badPercent(p string) string {
	if strings.IndexByte(p, '%') < 0 {
		return ""
	}
	raw := []byte(p)
	bad := -1
	for i := 0; i < len(raw); i++ {
		if raw[i] != '%' {
			continue
		}
		if i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]) {
			raw[i], raw[i+1], raw[i+2] = '_', '_', '_'
			i += 2
		} else if bad < 0 {
			bad = i
		}
	}
	if bad < 0 {
		return ""
	}
	return string(raw[bad:min(bad+3, len(raw))])
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// uriReserved are the characters whose percent escapes Kong keeps (in upper
// case) when it normalises a path; every other escape is decoded.
const uriReserved = "!*'();:@&=+$,/?%#[]"

// normalizePath is Kong's normalisation of a prefix route path: escapes of
// characters that are not reserved decoded, the others in upper case, dot
// segments removed and repeated slashes merged.
func normalizePath(p string) string {
	if p == "" || p == "/" {
		return p
	}
	if strings.IndexByte(p, '%') >= 0 {
		p = decodeUnreserved(p)
	}
	if !strings.Contains(p, ".") && !strings.Contains(p, "//") {
		return p
	}
	var out []string
	pop := func() {
		if len(out) > 0 {
			out = out[:len(out)-1]
		}
	}
	for p != "" {
		switch {
		case p == "/.":
			p = "/"
		case p == "/..":
			p = "/"
			pop()
		case p == "." || p == "..":
			p = ""
		case strings.HasPrefix(p, "../"):
			p = p[3:]
		case strings.HasPrefix(p, "./"):
			p = p[2:]
		case strings.HasPrefix(p, "/./"):
			p = p[2:]
		case strings.HasPrefix(p, "/../"):
			p = p[3:]
			pop()
		case strings.HasPrefix(p, "//"):
			p = p[1:]
		default:
			i := strings.IndexByte(p[1:], '/')
			if i < 0 {
				out, p = append(out, p), ""
			} else {
				out, p = append(out, p[:i+1]), p[i+1:]
			}
		}
	}
	return strings.Join(out, "")
}

func decodeUnreserved(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			c := unhex(p[i+1])<<4 | unhex(p[i+2])
			if strings.IndexByte(uriReserved, c) >= 0 {
				b.WriteString(strings.ToUpper(p[i : i+3]))
			} else {
				b.WriteByte(c)
			}
			i += 2
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
