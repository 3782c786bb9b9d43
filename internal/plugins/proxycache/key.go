package proxycache

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// maxArgs is how many query arguments the key reads, as Kong's
// kong.request.get_query() (NGINX's default of 100): a request cannot
// make the key's work grow without bound. A request with more bypasses
// the cache (tooManyArgs): the upstream would see arguments the key
// does not.
const maxArgs = 100

// tooManyArgs reports a query with more parts than the key reads
// (empty parts counted, so it errs towards bypassing).
func tooManyArgs(q string) bool {
	return strings.Count(q, "&") >= maxArgs
}

// kongKey is Kong's cache key (kong/plugins/proxy-cache/cache_key.lua):
// the sha256 hex of "prefix|method|uri|params|headers", where prefix is
// "consumer:route", the route or "default"; uri is NGINX's $request (the
// request line) cut at its first '?', lower-cased with ignore_uri_case;
// params are the query arguments (all of them sorted by name, or the
// vary_query_params in their order), each "name=v1,v2" with the values
// sorted ("name" for one without '='), joined by ':'; headers are the
// vary_headers the request has, the same way. Kong's joining is not
// injective on names and values holding its separators; here those
// bytes are escaped (appendEscaped), so such keys differ from Kong's,
// and the request path's '|' is written as NUL (a raw request target
// holds neither NUL nor, here, '|').
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
	path, _, hasQuery := strings.Cut(r.RequestURI, "?")
	pathStart := len(buf)
	buf = append(buf, path...)
	for i := pathStart; i < len(buf); i++ {
		if buf[i] == '|' {
			buf[i] = 0
		}
	}
	if !hasQuery {
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

// hashHex encodes into a stack array so that the one allocation is the
// string's (hex.EncodeToString makes a second).
func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
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
		args = append(args, arg{name: plugin.UnescapeArg(name), value: plugin.UnescapeArg(value), flag: !hasEq})
	}
	return args
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
			buf = appendEscaped(buf, args[i].name, nameSpecial)
			if !args[i].flag {
				buf = append(buf, '=')
				buf = appendEscaped(buf, args[i].value, valueSpecial)
			}
		} else {
			vals := make([]string, 0, j-i)
			flag := false
			for _, a := range args[i:j] {
				if a.flag {
					flag = true
				} else {
					vals = append(vals, a.value)
				}
			}
			buf = appendField(buf, args[i].name, vals, flag)
		}
		i = j
	}
	return buf
}

// appendField writes "name" (flag), "name=v" or "name=v1,v2" with the
// values sorted, as Kong's generate_key_from. A name given both bare
// and with values (which Kong cannot key) gets flagToken first among
// its values.
func appendField(buf []byte, name string, vals []string, flag bool) []byte {
	buf = appendEscaped(buf, name, nameSpecial)
	if len(vals) == 0 {
		if !flag {
			buf = append(buf, '=')
		}
		return buf
	}
	slices.Sort(vals)
	buf = append(buf, '=')
	if flag {
		buf = append(buf, flagToken...)
		buf = append(buf, ',')
	}
	for i, v := range vals {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendEscaped(buf, v, valueSpecial)
	}
	return buf
}

// Key escaping: a NUL goes before each byte that would otherwise read
// as a separator (and before NUL itself), so that the key's text
// determines the names and values it was made of. In a value, '=' is no
// separator (the name before it has '=' escaped), so Kong's bytes hold
// for "a=b=c". flagToken is a NUL before a byte that is never escaped,
// so no escaped value reads as it.
const (
	nameSpecial  = ":,=|\x00"
	valueSpecial = ":,|\x00"
	flagToken    = "\x00t"
)

func appendEscaped(buf []byte, v, special string) []byte {
	if strings.IndexAny(v, special) < 0 {
		return append(buf, v...)
	}
	for i := 0; i < len(v); i++ {
		if strings.IndexByte(special, v[i]) >= 0 {
			buf = append(buf, 0)
		}
		buf = append(buf, v[i])
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
