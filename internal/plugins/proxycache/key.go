package proxycache

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// maxArgs is how many query arguments the key reads, as Kong's
// kong.request.get_query() (NGINX's default of 100): a request cannot
// make the key's work grow without bound.
const maxArgs = 100

// kongKey is Kong's cache key (kong/plugins/proxy-cache/cache_key.lua):
// the sha256 hex of "prefix|method|uri|params|headers", where prefix is
// "consumer:route", the route or "default"; uri is NGINX's $request (the
// request line) cut at its first '?', lower-cased with ignore_uri_case;
// params are the query arguments (all of them sorted by name, or the
// vary_query_params in their order), each "name=v1,v2" with the values
// sorted ("name" for one without '='), joined by ':'; headers are the
// vary_headers the request has, the same way.
func (s *settings) kongKey(c *plugin.Ctx, buf []byte) string {
	r := c.Req
	if c.Consumer != nil && c.Route != nil {
		buf = append(buf, c.Consumer.ID...)
		buf = append(buf, ':')
	}
	if c.Route != nil {
		buf = append(buf, c.Route.ID...)
	} else {
		buf = append(buf, "default"...)
	}
	method := keyMethod(r.Method)
	buf = append(buf, '|')
	buf = append(buf, method...)
	buf = append(buf, '|')
	start := len(buf)
	buf = append(buf, method...)
	buf = append(buf, ' ')
	if i := strings.IndexByte(r.RequestURI, '?'); i >= 0 {
		buf = append(buf, r.RequestURI[:i]...)
	} else {
		buf = append(buf, r.RequestURI...)
		buf = append(buf, ' ')
		buf = append(buf, r.Proto...)
	}
	if s.ignoreCase {
		lower(buf[start:])
	}
	buf = append(buf, '|')
	buf = s.appendParams(buf, queryOf(r))
	buf = append(buf, '|')
	buf = s.appendHeaders(buf, r.Header)
	return hashHex(buf)
}

// keyMethod is the method a key is made with: HEAD is keyed as GET, so
// that it is answered from the GET's entry.
func keyMethod(m string) string {
	if m == http.MethodHead {
		return http.MethodGet
	}
	return m
}

func lower(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	// Encoded on the stack: one allocation per key, the string.
	var dst [2 * sha256.Size]byte
	hex.Encode(dst[:], sum[:])
	return string(dst[:])
}

func queryOf(r *http.Request) string {
	if r.URL == nil {
		return ""
	}
	return r.URL.RawQuery
}

// arg is one decoded query argument; flag is an argument without '='
// (Kong's true).
type arg struct {
	name, value string
	flag        bool
}

// parseArgs decodes the first maxArgs arguments of a query as NGINX does
// ('+' is a space; a bad escape is kept as written).
func parseArgs(q string, args []arg) []arg {
	for q != "" && len(args) < maxArgs {
		var part string
		part, q, _ = strings.Cut(q, "&")
		if part == "" {
			continue
		}
		name, value, hasEq := strings.Cut(part, "=")
		args = append(args, arg{name: unescape(name), value: unescape(value), flag: !hasEq})
	}
	return args
}

func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func (s *settings) appendParams(buf []byte, q string) []byte {
	if q == "" {
		return buf
	}
	var store [16]arg
	args := parseArgs(q, store[:0])
	names := s.varyQuery
	if len(names) == 0 {
		slices.SortStableFunc(args, func(a, b arg) int { return strings.Compare(a.name, b.name) })
		return appendSorted(buf, args)
	}
	first := true
	for _, name := range names {
		var vals []string
		flag := false
		for _, a := range args {
			if a.name == name {
				if a.flag {
					flag = true
				} else {
					vals = append(vals, a.value)
				}
			}
		}
		if len(vals) == 0 && !flag {
			continue
		}
		if !first {
			buf = append(buf, ':')
		}
		first = false
		buf = appendField(buf, name, vals, flag)
	}
	return buf
}

// appendSorted appends the arguments, sorted by name, each name once.
func appendSorted(buf []byte, args []arg) []byte {
	for i := 0; i < len(args); {
		j := i + 1
		for j < len(args) && args[j].name == args[i].name {
			j++
		}
		if i > 0 {
			buf = append(buf, ':')
		}
		if j-i == 1 {
			buf = append(buf, args[i].name...)
			if !args[i].flag {
				buf = append(buf, '=')
				buf = append(buf, args[i].value...)
			}
		} else {
			vals := make([]string, 0, j-i)
			for _, a := range args[i:j] {
				if !a.flag {
					vals = append(vals, a.value)
				}
			}
			buf = appendField(buf, args[i].name, vals, len(vals) == 0)
		}
		i = j
	}
	return buf
}

// appendField writes "name" (flag), "name=v" or "name=v1,v2" with the
// values sorted, as Kong's generate_key_from.
func appendField(buf []byte, name string, vals []string, flag bool) []byte {
	buf = append(buf, name...)
	if len(vals) == 0 {
		if !flag {
			buf = append(buf, '=')
		}
		return buf
	}
	slices.Sort(vals)
	buf = append(buf, '=')
	for i, v := range vals {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, v...)
	}
	return buf
}

func (s *settings) appendHeaders(buf []byte, h http.Header) []byte {
	first := true
	for i, name := range s.varyHeaders {
		_, vs := s.varyHeaderNames[i].Values(h)
		if vs == nil {
			continue
		}
		if !first {
			buf = append(buf, ':')
		}
		first = false
		if len(vs) > 1 {
			vs = slices.Clone(vs)
		}
		buf = appendField(buf, name, vs, false)
	}
	return buf
}
