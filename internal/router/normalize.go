package router

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

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
