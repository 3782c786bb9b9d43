package keyauth

import (
	"strings"
	"unicode/utf8"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// maxArgs is how many arguments Kong reads from a query string or a form
// body (kong.request.get_query's and ngx.req.get_post_args' default).
const maxArgs = 100

// argsValue finds name among urlencoded arguments the way Kong's
// ngx.decode_args-based readers do: names and values are decoded ('+' is a
// space), an argument without '=' is the Lua value true, and a repeated
// name is a table.
func argsValue(args, name string) value {
	var v value
	n := 0
	for len(args) > 0 && n < maxArgs {
		var seg string
		seg, args, _ = strings.Cut(args, "&")
		if seg == "" {
			continue
		}
		n++
		k, val, hasEq := strings.Cut(seg, "=")
		if k == "" || plugin.UnescapeArg(k) != name {
			continue
		}
		if v.kind != absent {
			return value{kind: multiple}
		}
		if hasEq {
			v = value{kind: single, s: plugin.UnescapeArg(val)}
		} else {
			v = value{kind: other}
		}
	}
	return v
}

func queryValue(query, name string) value { return argsValue(query, name) }

// removeQueryArg is Kong's kong.service.request.clear_query_arg: the query
// is parsed and serialised again as WHATWG URLSearchParams does (every
// argument is decoded and re-encoded, in order) without the arguments named
// name, and '+' is then written as %20.
func removeQueryArg(query, name string) string {
	if query == "" {
		return ""
	}
	var b strings.Builder
	for len(query) > 0 {
		var seg string
		seg, query, _ = strings.Cut(query, "&")
		if seg == "" {
			continue
		}
		k, v, _ := strings.Cut(seg, "=")
		k, v = formDecode(k), formDecode(v)
		if k == name {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		formEncode(&b, k)
		b.WriteByte('=')
		formEncode(&b, v)
	}
	return b.String()
}

// formDecode is the application/x-www-form-urlencoded parser's decoding:
// '+' is a space, malformed escapes stay as written, and the bytes are read
// as UTF-8 with invalid sequences replaced.
func formDecode(s string) string {
	s = plugin.UnescapeArg(s)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// formEncode is the application/x-www-form-urlencoded serializer, with
// spaces written as %20 as Kong does after it.
func formEncode(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '*', c == '-', c == '.', c == '_':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
}
