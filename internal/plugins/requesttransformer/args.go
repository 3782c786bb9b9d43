package requesttransformer

import (
	"sort"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// argVal is one value of a query or form argument; bare marks a key given
// without '=' (Lua's true in ngx.decode_args).
type argVal struct {
	s    string
	bare bool
}

// arg is one argument name with its values; multi is Lua's table value
// (a repeated key, or the result of append), as opposed to a single value.
type arg struct {
	key   string
	vals  []argVal
	multi bool
}

// args keeps arguments in their first-seen order; lists are short, so a
// linear search beats a map.
type args []arg

// parseArgs decodes a query string or form body as ngx.decode_args does.
func parseArgs(s string) args {
	var out args
	for s != "" {
		var seg string
		seg, s, _ = strings.Cut(s, "&")
		k, v, hasEq := strings.Cut(seg, "=")
		if k == "" {
			continue
		}
		k = plugin.UnescapeArg(k)
		val := argVal{s: plugin.UnescapeArg(v), bare: !hasEq}
		if i := out.find(k); i >= 0 {
			out[i].vals = append(out[i].vals, val)
			out[i].multi = true
			continue
		}
		out = append(out, arg{key: k, vals: []argVal{val}})
	}
	return out
}

func (a args) find(k string) int {
	for i := range a {
		if a[i].key == k {
			return i
		}
	}
	return -1
}

func (a args) clone() args {
	out := make(args, len(a))
	for i, x := range a {
		out[i] = arg{key: x.key, vals: append([]argVal(nil), x.vals...), multi: x.multi}
	}
	return out
}

func (a *args) remove(k string) bool {
	i := a.find(k)
	if i < 0 {
		return false
	}
	*a = append((*a)[:i], (*a)[i+1:]...)
	return true
}

// set gives k a single value, in place when it exists.
func (a *args) set(k, v string) {
	a.setArg(arg{key: k, vals: []argVal{{s: v}}})
}

func (a *args) setArg(x arg) {
	if i := a.find(x.key); i >= 0 {
		(*a)[i] = x
		return
	}
	*a = append(*a, x)
}

// rename moves old's value to new (replacing new), as Kong's rename does.
func (a *args) rename(old, new string) bool {
	if old == new {
		return false
	}
	i := a.find(old)
	if i < 0 {
		return false
	}
	x := (*a)[i]
	a.remove(old)
	x.key = new
	a.setArg(x)
	return true
}

// appendValue is Kong's append_value: a single value becomes a list, a
// list grows, and a missing key becomes a one-element list.
func (a *args) appendValue(k, v string) {
	if i := a.find(k); i >= 0 {
		(*a)[i].vals = append((*a)[i].vals, argVal{s: v})
		(*a)[i].multi = true
		return
	}
	*a = append(*a, arg{key: k, vals: []argVal{{s: v}}, multi: true})
}

// encodeSorted is kong.service.request.set_query: each key encoded with
// its values in order, the pieces sorted lexicographically.
func (a args) encodeSorted() string {
	pieces := make([]string, len(a))
	for i := range a {
		pieces[i] = string(a[i].appendEncoded(nil))
	}
	sort.Strings(pieces)
	return strings.Join(pieces, "&")
}

// encode is ngx.encode_args in the arguments' order.
func (a args) encode() []byte {
	var b []byte
	for i := range a {
		if i > 0 {
			b = append(b, '&')
		}
		b = a[i].appendEncoded(b)
	}
	return b
}

func (x *arg) appendEncoded(b []byte) []byte {
	for j, v := range x.vals {
		if j > 0 {
			b = append(b, '&')
		}
		b = appendEscaped(b, x.key, isUnreserved)
		if !v.bare {
			b = append(b, '=')
			b = appendEscaped(b, v.s, isUnreserved)
		}
	}
	return b
}

// isUnreserved is the set ngx.escape_uri leaves alone in a URI component.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isPathSafe is what Kong's set_path leaves unescaped, unreserved and
// reserved characters and '%' (the path is taken as already encoded), except
// '#': it is never valid in a request-target, and upstream it would turn the
// rest, the query included, into a fragment. '?' stays and starts the query,
// as in Kong.
func isPathSafe(c byte) bool {
	return isUnreserved(c) || strings.IndexByte("!$&'()*+,/:;=?@[]%", c) >= 0
}

func appendEscaped(b []byte, s string, safe func(byte) bool) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		if c := s[i]; safe(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&0xf])
		}
	}
	return b
}
