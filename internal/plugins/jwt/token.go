package jwt

import (
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// maxArgs is how many query arguments Kong reads (kong.request.get_query's
// default).
const maxArgs = 100

// found is the set of tokens Kong's retrieve_tokens collects from every
// configured place: n distinct non-empty strings (counted up to 2) and
// flag, a query argument given without '=', which Lua reads as the value
// true and which counts as one more distinct token.
type found struct {
	token string
	n     int
	flag  bool
}

func (f *found) add(s string) {
	switch {
	case s == "":
	case f.n == 0:
		f.token, f.n = s, 1
	case s != f.token:
		f.n = 2
	}
}

// retrieve gathers the tokens from the query string, the cookies and the
// headers, in Kong's order.
func (in *instance) retrieve(c *plugin.Ctx, f *found) {
	if len(in.queryNames) > 0 && c.RawQuery != "" {
		in.queryTokens(c.RawQuery, f)
	}
	h := c.Req.Header
	for _, name := range in.cookieNames {
		if v, ok := cookieValue(h, name); ok {
			f.add(v)
		}
	}
	for _, name := range in.headerNames {
		// Kong reads the first value of a repeated header.
		if _, vs := name.Values(h); len(vs) > 0 {
			if t, ok := bearer(vs[0]); ok {
				f.add(t)
			}
		}
	}
}

// queryTokens reads uri_param_names from the query as Kong's
// kong.request.get_query() does: names and values decoded ('+' is a
// space), every repetition of a name counted.
func (in *instance) queryTokens(query string, f *found) {
	n := 0
	for len(query) > 0 && n < maxArgs {
		var seg string
		seg, query, _ = strings.Cut(query, "&")
		if seg == "" {
			continue
		}
		n++
		k, v, hasEq := strings.Cut(seg, "=")
		if k == "" {
			continue
		}
		k = plugin.UnescapeArg(k)
		for _, name := range in.queryNames {
			if k != name {
				continue
			}
			if hasEq {
				f.add(plugin.UnescapeArg(v))
			} else {
				f.flag = true
			}
			break
		}
	}
}

// cookieValue is nginx's $cookie_<name>: the first cookie whose name
// matches, ignoring case, with its value as sent up to the next ';'.
func cookieValue(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		s := strings.TrimLeft(line, " ")
		for len(s) > 0 {
			if len(s) >= len(name) && strings.EqualFold(s[:len(name)], name) {
				r := strings.TrimLeft(s[len(name):], " ")
				if len(r) > 0 && r[0] == '=' {
					r = strings.TrimLeft(r[1:], " ")
					if i := strings.IndexByte(r, ';'); i >= 0 {
						r = r[:i]
					}
					return r, true
				}
			}
			i := strings.IndexAny(s, ";,")
			if i < 0 {
				break
			}
			s = strings.TrimLeft(s[i+1:], " ")
		}
	}
	return "", false
}

// bearer finds the token in a header value as Kong's unanchored
// `\s*[Bb]earer\s+(.+)` does: the first "Bearer" or "bearer" followed by
// whitespace and at least one more character; the token runs to the end
// of the line. When only whitespace follows, the last whitespace character
// is the match, as PCRE's backtracking gives it.
func bearer(v string) (string, bool) {
	for i := 0; i+6 <= len(v); i++ {
		if (v[i] != 'B' && v[i] != 'b') || v[i+1:i+6] != "earer" {
			continue
		}
		j := i + 6
		k := j
		for k < len(v) && isSpace(v[k]) {
			k++
		}
		switch {
		case k == j:
			continue
		case k < len(v) && v[k] != '\n':
		case k-j >= 2 && v[k-1] != '\n':
			k--
		default:
			continue
		}
		end := strings.IndexByte(v[k:], '\n')
		if end < 0 {
			return v[k:], true
		}
		return v[k : k+end], true
	}
	return "", false
}

// isSpace is PCRE's \s.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
