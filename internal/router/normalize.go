package router

import "strings"

// NormalizePath normalises a raw (still percent-encoded) request path the way
// Kong does before matching; the upstream receives the same result.
//
// Percent-encoded triplets are upper-cased, encoded unreserved characters
// (ALPHA / DIGIT / "-" / "." / "_" / "~") are decoded, dot segments are
// removed (RFC 3986 5.2.4, including %2E spellings, since those decode first)
// and runs of slashes are merged. Reserved characters stay encoded, so %2F
// never becomes a separator. Kong also decodes characters that are neither
// reserved nor unreserved and re-escapes them on the way out; keeping them
// encoded gives the same bytes upstream without a second pass.
//
// A path that is already normal is returned as is, without allocating.
// ok is false when raw is not an origin-form path: it does not start with
// '/' or has a malformed % escape.
func NormalizePath(raw string) (string, bool) {
	if raw == "" || raw[0] != '/' {
		return "", false
	}
	normal, ok := scanPath(raw)
	if !ok {
		return "", false
	}
	if normal {
		return raw, true
	}
	return rewritePath(raw), true
}

// scanPath validates the escapes in s and reports whether s would come out of
// rewritePath unchanged, so the common case costs one read-only pass.
func scanPath(s string) (normal, ok bool) {
	normal = true
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false, false
			}
			if isLowerHex(s[i+1]) || isLowerHex(s[i+2]) || isUnreserved(unhex(s[i+1])<<4|unhex(s[i+2])) {
				normal = false
			}
			i += 2
		case '/':
			if normal && needsSegmentWork(s[i+1:]) {
				normal = false
			}
		}
	}
	return normal, true
}

// needsSegmentWork reports whether the segment starting at rest (just after a
// slash) is empty (a doubled slash) or a dot segment.
func needsSegmentWork(rest string) bool {
	if rest == "" {
		return false
	}
	if rest[0] == '/' {
		return true
	}
	if rest[0] != '.' {
		return false
	}
	rest = rest[1:]
	if rest != "" && rest[0] == '.' {
		rest = rest[1:]
	}
	return rest == "" || rest[0] == '/'
}

// rewritePath expects a path that scanPath accepted.
func rewritePath(s string) string {
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			buf = append(buf, c)
			continue
		}
		b := unhex(s[i+1])<<4 | unhex(s[i+2])
		if isUnreserved(b) {
			buf = append(buf, b)
		} else {
			buf = append(buf, '%', upperHex(s[i+1]), upperHex(s[i+2]))
		}
		i += 2
	}

	// Decoding happens first so that %2E%2E is treated as "..". Segments are
	// then rewritten in place: out never grows past the read position. out
	// ends in '/' between segments, which is what keeps a trailing slash (and
	// the one left by a final "." or "..").
	out := buf[:1]
	for r := 1; r <= len(buf); {
		j := r
		for j < len(buf) && buf[j] != '/' {
			j++
		}
		seg := buf[r:j]
		switch {
		case len(seg) == 0, len(seg) == 1 && seg[0] == '.':
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			if len(out) > 1 {
				k := len(out) - 2
				for out[k] != '/' {
					k--
				}
				out = out[:k+1]
			}
		default:
			out = append(out, seg...)
			if j < len(buf) {
				out = append(out, '/')
			}
		}
		r = j + 1
	}
	return string(out)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isLowerHex(c byte) bool { return 'a' <= c && c <= 'f' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

func upperHex(c byte) byte {
	if isLowerHex(c) {
		return c - 'a' + 'A'
	}
	return c
}

// requestForm writes a configured prefix path as NormalizePath leaves a
// request path: characters that are neither reserved nor unreserved
// (a space, non-ASCII bytes) percent-encoded. Kong's normal form of a route
// path decodes them (`/café`), and Kong decodes the request the same way;
// NormalizePath keeps them encoded instead, so the route must be encoded to
// match (`/caf%C3%A9`). The path length for priority stays the configured
// one, as Kong counts it.
func requestForm(p string) string {
	n := 0
	for i := 0; i < len(p); i++ {
		if !keptInRequestForm(p[i]) {
			n++
		}
	}
	if n == 0 {
		return p
	}
	const hex = "0123456789ABCDEF"
	buf := make([]byte, 0, len(p)+2*n)
	for i := 0; i < len(p); i++ {
		if c := p[i]; keptInRequestForm(c) {
			buf = append(buf, c)
		} else {
			buf = append(buf, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(buf)
}

func keptInRequestForm(c byte) bool {
	return isUnreserved(c) || c == '%' || strings.IndexByte(":/?#[]@!$&'()*+,;=", c) >= 0
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
