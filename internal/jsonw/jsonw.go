// Package jsonw appends JSON strings to byte slices without allocating, for
// the hot path (access log lines, error bodies, plugin responses) where
// encoding/json's reflection and HTML escaping are not wanted.
package jsonw

import "unicode/utf8"

// AppendString appends s as a JSON string without HTML escaping (like
// Kong's cjson), escaping quotes, backslashes and every control character
// (DEL included) so that a client cannot forge or split log lines. Invalid
// UTF-8 becomes U+FFFD, so the output is always valid JSON.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = AppendInner(b, s)
	return append(b, '"')
}

// plain are the ASCII bytes a JSON string holds as they are.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendInner appends s escaped as AppendString does, without the quotes
// around it: for values written inside a string the caller quotes. Runs
// of plain bytes are copied whole.
func AppendInner(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	done := 0
	for i := 0; i < len(s); {
		// s[i] after the plain run needs escaping or decoding.
		i += plainRun(s[i:])
		if i == len(s) {
			break
		}
		c := s[i]
		b = append(b, s[done:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
		done = i
	}
	return append(b, s[done:]...)
}

// Bytes repeated in each of a word's 8 bytes, for plainRun.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainRun returns how many bytes from the start of s are plain, testing
// 8 bytes a step as one word (none below 0x20, at or above 0x7f, '"' or
// '\\'): header values and paths are mostly plain.
func plainRun(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		v := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		below := (v - ones*0x20) & ^v       // a byte below 0x20 sets its high bit
		above := (v + ones*(0x80-0x7f)) | v // a byte at or above 0x7f sets its high bit
		quote := v ^ (ones * '"')           // a '"' byte becomes 0
		slash := v ^ (ones * '\\')          // a '\\' byte becomes 0
		if (below|above|(quote-ones)&^quote|(slash-ones)&^slash)&highs != 0 {
			break
		}
	}
	for i < len(s) && s[i] < utf8.RuneSelf && plain[s[i]] {
		i++
	}
	return i
}

// AppendCJSONString appends s as a JSON string the way Kong's cjson writes
// it: '/' escaped too (`Invalid key\/secret`), so that bodies Kong's
// clients compare byte for byte come out the same. Bytes are copied as they
// are, for strings the gateway wrote itself.
func AppendCJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '/':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 || c == 0x7f {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// LowerASCII turns ASCII upper case into lower case in place: safe on
// this package's output, whose escapes hold no upper-case letters.
func LowerASCII(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// Len is the size of s as a JSON string, quotes included, as
// encoding/json writes it with HTML escaping off (what the admin API
// answers with), or more: a control character is six bytes (\u0007), a
// quote or a backslash two, U+2028, U+2029 and a byte that is not UTF-8
// six (\ufffd). For bounds on what a value will cost once written out.
func Len(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case plain[c]:
				n++
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			default:
				n += 6
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			n += 6
		} else {
			n += size
		}
		i += size
	}
	return n
}
