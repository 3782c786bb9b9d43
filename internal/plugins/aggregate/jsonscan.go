package aggregate

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// A validating JSON scanner over raw bytes: an answer is checked once,
// then walked by offsets, and the merged answer copies its values as
// they are. Decoding into maps would cost an allocation per value.

// valid reports whether b is one JSON value (UTF-8, nested at most
// maxDepth deep) with white space around it only.
func valid(b []byte) bool {
	_, _, ok := span(b)
	return ok
}

// span is where the one JSON value of b starts and ends; ok is false when
// b is not valid (see valid).
func span(b []byte) (start, end int, ok bool) {
	if !utf8.Valid(b) {
		return 0, 0, false
	}
	start = skipWS(b, 0)
	end = valueEnd(b, start, 0)
	return start, end, end >= 0 && skipWS(b, end) == len(b)
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// valueEnd is the end of the value starting at b[i], or -1 when it is
// not valid JSON.
func valueEnd(b []byte, i, depth int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '{' || c == '[':
		return containerEnd(b, i, depth)
	case c == '"':
		return stringEnd(b, i)
	case c == '-' || c >= '0' && c <= '9':
		return numberEnd(b, i)
	case c == 't':
		return literalEnd(b, i, "true")
	case c == 'f':
		return literalEnd(b, i, "false")
	case c == 'n':
		return literalEnd(b, i, "null")
	}
	return -1
}

func containerEnd(b []byte, i, depth int) int {
	if depth >= maxDepth {
		return -1
	}
	obj := b[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1
	}
	for {
		if obj {
			if i >= len(b) || b[i] != '"' {
				return -1
			}
			if i = stringEnd(b, i); i < 0 {
				return -1
			}
			if i = skipWS(b, i); i >= len(b) || b[i] != ':' {
				return -1
			}
			i = skipWS(b, i+1)
		}
		if i = valueEnd(b, i, depth+1); i < 0 {
			return -1
		}
		i = skipWS(b, i)
		switch {
		case i >= len(b):
			return -1
		case b[i] == ',':
			i = skipWS(b, i+1)
		case b[i] == closer:
			return i + 1
		default:
			return -1
		}
	}
}

func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return -1
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f' }

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func numberEnd(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func literalEnd(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// nextKey reads the key of the next member of a valid object: i is
// just after its '{' or just after the previous member's value. It
// returns the raw key (with its quotes) and where the value starts; ok is
// false at the object's end. The value is not scanned: the caller walks
// or skips it, so that each byte is looked at once.
func nextKey(b []byte, i int) (key []byte, value int, ok bool) {
	i = skipWS(b, i)
	if b[i] == ',' {
		i = skipWS(b, i+1)
	}
	if b[i] == '}' {
		return nil, i, false
	}
	ke := stringEnd(b, i)
	return b[i:ke], skipWS(b, skipWS(b, ke)+1), true
}

// nextElem is where the next element of a valid array starts (i as for
// nextKey); ok is false at the array's end.
func nextElem(b []byte, i int) (int, bool) {
	i = skipWS(b, i)
	if b[i] == ',' {
		i = skipWS(b, i+1)
	}
	return i, b[i] != ']'
}

// keyIs reports whether a raw key names name.
func keyIs(key []byte, name string) bool { return string(unquote(key)) == name }

// find is the value at the dot path under the value at b[start:end] of a
// valid document.
func find(b []byte, start, end int, path []string) (int, int, bool) {
	if len(path) == 0 {
		return start, end, true
	}
	for _, name := range path {
		if b[start] != '{' {
			return 0, 0, false
		}
		found := false
		for key, v, ok := nextKey(b, start+1); ok; key, v, ok = nextKey(b, valueEnd(b, v, 0)) {
			if keyIs(key, name) {
				start, found = v, true
				break
			}
		}
		if !found {
			return 0, 0, false
		}
	}
	return start, valueEnd(b, start, 0), true
}

// scalarAt is the string, number or boolean at path in a valid document,
// as text. path is never empty ({resp.<call>.<path>}), so find never
// returns the end passed to it: len(b) spares a scan of the whole answer.
func scalarAt(b []byte, path []string) (string, bool) {
	s := skipWS(b, 0)
	if s >= len(b) {
		return "", false
	}
	s, e, ok := find(b, s, len(b), path)
	if !ok {
		return "", false
	}
	switch b[s] {
	case '{', '[', 'n':
		return "", false
	case '"':
		raw := b[s+1 : e-1]
		if bytes.IndexByte(raw, '\\') < 0 {
			return string(raw), true
		}
		var v string
		return v, json.Unmarshal(b[s:e], &v) == nil
	}
	return string(b[s:e]), true
}
