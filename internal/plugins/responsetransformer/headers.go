package responsetransformer

import (
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// HeaderFilter applies the header rules in Kong's order (remove, rename,
// replace, add, append) and, when a json rule exists and the response is
// JSON, drops Content-Length: the body filter sets the new one.
func (in *Instance) HeaderFilter(c *plugin.Ctx) {
	h := c.Resp.Header
	r := &in.headers
	for i := range r.remove {
		delete(h, r.remove[i].key)
	}
	for i := range r.rename {
		ru := &r.rename[i]
		if vs, ok := h[ru.key]; ok {
			set(h, ru.to, spaced(vs))
			delete(h, ru.key)
		}
	}
	for i := range r.replace {
		ru := &r.replace[i]
		if _, ok := h[ru.key]; ok && ru.val != "" {
			set(h, ru.key, []string{ru.val})
		}
	}
	for i := range r.add {
		ru := &r.add[i]
		if _, ok := h[ru.key]; !ok && ru.val != "" {
			set(h, ru.key, []string{ru.val})
		}
	}
	for i := range r.apnd {
		// Kong's add_header of no value throws; here the rule does nothing.
		if ru := &r.apnd[i]; ru.val != "" && !framing(ru.key) {
			h[ru.key] = append(h[ru.key], ru.val)
		}
	}
	// The body is transformed when this says so, decided here on the
	// upstream's head: a later header filter (compression) may set a
	// Content-Encoding that the body this filter reads does not have.
	if in.body && isJSON(h.Get("Content-Type")) && !encoded(h) {
		delete(h, "Content-Length")
		if c.Shared == nil {
			c.Shared = make(map[string]any, 1)
		}
		c.Shared[sharedKey] = true
	}
}

// sharedKey marks, in Ctx.Shared, a response whose body is transformed.
const sharedKey = "response-transformer"

// set is kong.response.set_header, which ignores Transfer-Encoding; the
// gateway frames the body, so Content-Length is left to it as well.
func set(h http.Header, key string, vs []string) {
	if !framing(key) {
		h[key] = vs
	}
}

func framing(key string) bool { return key == "Transfer-Encoding" || key == "Content-Length" }

// spaced is the values Kong's set_header writes: an empty one becomes a
// space. It copies only when it has to.
func spaced(vs []string) []string {
	for i, v := range vs {
		if v == "" {
			out := append([]string(nil), vs...)
			for j := i; j < len(out); j++ {
				if out[j] == "" {
					out[j] = " "
				}
			}
			return out
		}
	}
	return vs
}

// isJSON is Kong's is_json_body: one of the comma-separated media types
// parses (type/subtype, then `; name=value` parameters only) and is
// application/json or application/*+json.
func isJSON(ct string) bool {
	for ct != "" {
		var item string
		item, ct, _ = strings.Cut(ct, ",")
		if jsonMediaType(strings.TrimSpace(item)) {
			return true
		}
	}
	return false
}

func jsonMediaType(s string) bool {
	typ, rest, ok := cutToken(s)
	if !ok || len(rest) == 0 || rest[0] != '/' {
		return false
	}
	sub, rest, ok := cutToken(rest[1:])
	if !ok || !strings.EqualFold(typ, "application") || !params(rest) {
		return false
	}
	return strings.EqualFold(sub, "json") ||
		len(sub) >= len("+json") && strings.EqualFold(sub[len(sub)-len("+json"):], "+json")
}

// params checks `*( *SP ";" *SP token "=" ( token | quoted-string ) )`
// to the end of s.
func params(s string) bool {
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return true
		}
		if s[0] != ';' {
			return false
		}
		s = strings.TrimLeft(s[1:], " \t")
		var ok bool
		if _, s, ok = cutToken(s); !ok || s == "" || s[0] != '=' {
			return false
		}
		s = s[1:]
		if s != "" && s[0] == '"' {
			if s, ok = cutQuoted(s); !ok {
				return false
			}
			continue
		}
		if _, s, ok = cutToken(s); !ok {
			return false
		}
	}
}

func cutToken(s string) (tok, rest string, ok bool) {
	i := 0
	for i < len(s) && isToken(s[i]) {
		i++
	}
	return s[:i], s[i:], i > 0
}

func isToken(c byte) bool {
	return c > 0x20 && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?={}`, rune(c))
}

// cutQuoted skips a quoted string (s starts at its quote).
func cutQuoted(s string) (string, bool) {
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[i+1:], true
		case c == '\\' && i+1 < len(s) && s[i+1] < 0x80:
			i++
		case c < 0x20 || c == 0x7f:
			return "", false
		}
	}
	return "", false
}
