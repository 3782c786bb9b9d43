package aggregate

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"github.com/turnpikegw/turnpike/internal/pathsafe"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// The kinds of template segment.
const (
	literal = iota
	varCapture
	varQuery
	varHeader
	varConsumerID
	varConsumerName
	varClaim
	varResp
)

// seg is one part of a template: literal text (already valid in its URL
// part) or a variable filled per request.
type seg struct {
	kind int
	text string   // the literal; a capture, query, header (canonical) or claim name
	call string   // varResp: the call read
	path []string // varResp: the dot path in its answer
}

// template is a path (and query) template parsed at load.
type template struct {
	segs []seg
}

// parseURL splits a url template: scheme and host are literal (a host
// from a request value would let a client pick the server), the rest is
// a template.
func parseURL(raw string) (scheme, host string, t template, err string) {
	u, perr := url.Parse(strings.NewReplacer("{", "x", "}", "x").Replace(raw))
	if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", t, "expected an http or https URL"
	}
	if u.User != nil {
		return "", "", t, "credentials in the URL are not supported; forward a header"
	}
	rest := raw[len(u.Scheme)+3:]
	cut := strings.IndexAny(rest, "/?")
	if cut < 0 {
		cut = len(rest)
	}
	rest = rest[cut:]
	if rest == "" {
		rest = "/"
	}
	if strings.ContainsAny(raw[:len(u.Scheme)+3+cut], "{}") {
		return "", "", t, "the scheme and host cannot hold a template"
	}
	if rest[0] == '?' {
		rest = "/" + rest
	}
	t, err = parseTemplate(rest)
	return u.Scheme, u.Host, t, err
}

// parseTemplate parses a path template ("/users/{captures.id}?l={query.l}").
func parseTemplate(s string) (template, string) {
	var t template
	if !strings.HasPrefix(s, "/") {
		return t, "expected a path starting with '/'"
	}
	if strings.ContainsAny(s, "# \t\r\n") {
		return t, "a path cannot hold '#' or white space"
	}
	for s != "" {
		open := strings.IndexByte(s, '{')
		lit := s
		if open >= 0 {
			lit = s[:open]
		}
		if strings.IndexByte(lit, '}') >= 0 {
			return t, "'}' without '{'"
		}
		if lit != "" {
			t.segs = append(t.segs, seg{kind: literal, text: lit})
		}
		if open < 0 {
			break
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return t, "'{' without '}'"
		}
		v, err := parseVar(s[open+1 : open+end])
		if err != "" {
			return t, err
		}
		t.segs = append(t.segs, v)
		s = s[open+end+1:]
	}
	if err := checkLiteral(t); err != "" {
		return t, err
	}
	return t, ""
}

// checkLiteral refuses a template whose literal path has dot segments or
// is not valid percent-encoding, with every variable as "x".
func checkLiteral(t template) string {
	var b strings.Builder
	for _, s := range t.segs {
		if s.kind == literal {
			b.WriteString(s.text)
		} else {
			b.WriteByte('x')
		}
	}
	full := b.String()
	path, q, _ := strings.Cut(full, "?")
	if _, err := url.PathUnescape(path); err != nil {
		return "invalid percent-encoding in the path"
	}
	if _, err := url.ParseQuery(q); err != nil {
		return "invalid query string"
	}
	if !pathsafe.Upstream(path, 0, true, false) {
		return "the path cannot hold '.' or '..' segments"
	}
	return ""
}

// parseVar parses a variable's name ("captures.id", "resp.user.a.b").
func parseVar(name string) (seg, string) {
	kind, rest, _ := strings.Cut(name, ".")
	bad := "unknown variable {" + name + "}; expected captures.x, query.x, headers.x, consumer.id, consumer.username, claims.x or resp.<call>.<path>"
	if rest == "" {
		return seg{}, bad
	}
	switch kind {
	case "captures":
		return seg{kind: varCapture, text: rest}, ""
	case "query":
		return seg{kind: varQuery, text: rest}, ""
	case "headers":
		return seg{kind: varHeader, text: http.CanonicalHeaderKey(rest)}, ""
	case "claims":
		return seg{kind: varClaim, text: rest}, ""
	case "consumer":
		switch rest {
		case "id":
			return seg{kind: varConsumerID}, ""
		case "username":
			return seg{kind: varConsumerName}, ""
		}
	case "resp":
		call, path, _ := strings.Cut(rest, ".")
		if p := splitPath(path); p != nil && isName(call) {
			return seg{kind: varResp, call: call, path: p}, ""
		}
	}
	return seg{}, bad
}

// source is what a template's variables read from.
type source struct {
	c       *plugin.Ctx
	results []result
	index   map[string]int
}

// render appends the template's path (and query) to b, every value
// percent-encoded so that it stays inside its segment or query value;
// path is the rendered path's length (its query follows, after '?').
// why is set when a value cannot be had or makes a dot segment; client
// when the request's own values are the cause (the client's mistake, a
// 400 when the call is required), not a dependency's answer.
func (t *template) render(b []byte, src *source) (out []byte, path int, why string, client bool) {
	start := len(b)
	b, why, client = t.fill(b, src, false)
	if why != "" {
		return b, 0, why, client
	}
	if n, ok := pathSafe(b[start:]); ok {
		return b, n, "", false
	}
	// The request is to blame when its values make the dot segment with
	// every {resp...} value as "x" (the literal is safe with all "x").
	end := len(b)
	b, _, _ = t.fill(b, src, true)
	_, ok := pathSafe(b[end:])
	return b[:end], 0, "a value made a '.' or '..' path segment", !ok
}

// fill appends the template with its values, {resp...} ones as "x" when
// maskResp is set; client is set when a request value is missing.
func (t *template) fill(b []byte, src *source, maskResp bool) ([]byte, string, bool) {
	for i := range t.segs {
		s := &t.segs[i]
		switch {
		case s.kind == literal:
			b = append(b, s.text...)
			continue
		case s.kind == varResp && maskResp:
			b = append(b, 'x')
			continue
		}
		v, why := s.value(src)
		if why != "" {
			return b, why, s.kind != varResp
		}
		b = appendEscaped(b, v)
	}
	return b, "", false
}

// pathSafe holds a rendered path (its query cut off) to the proxy's rule
// for paths sent upstream, encoded slashes allowed: values encode '/', so
// %2F is a value's byte, not a split. n is the path's length: the query,
// if any, starts with the '?' there (values encode '?').
func pathSafe(b []byte) (n int, ok bool) {
	n = len(b)
	if q := bytes.IndexByte(b, '?'); q >= 0 {
		n = q
	}
	return n, pathsafe.Upstream(string(b[:n]), 0, true, false)
}

// value is a variable's value for this request; why is set when the
// request lacks it (an absent query argument, header, capture, claim or
// consumer: a present but empty one is "") or a dependency's answer does.
func (s *seg) value(src *source) (v string, why string) {
	c := src.c
	switch s.kind {
	case varCapture:
		if i, ok := c.Captures.Group(s.text); ok && c.Captures.Matched(i) {
			return c.Captures.Positional[i], ""
		}
		return "", "missing path capture '" + s.text + "'"
	case varQuery:
		if v, ok := queryValue(c.Req.URL.RawQuery, s.text); ok {
			return v, ""
		}
		return "", "missing query argument '" + s.text + "'"
	case varHeader:
		if v, ok := plugin.FirstValue(c.Req.Header, s.text); ok {
			return v, ""
		}
		return "", "missing header '" + s.text + "'"
	case varConsumerID:
		if c.Consumer != nil {
			return c.Consumer.ID, ""
		}
		return "", "missing consumer"
	case varConsumerName:
		if c.Consumer != nil {
			return c.Consumer.Username, ""
		}
		return "", "missing consumer"
	case varClaim:
		if c.Claims != nil {
			if v, ok := c.Claims.Claim(s.text); ok {
				return v, ""
			}
		}
		return "", "missing claim '" + s.text + "'"
	}
	r := &src.results[src.index[s.call]]
	v, ok := scalarAt(r.body, s.path)
	if !ok {
		return "", "no string or number at " + strings.Join(s.path, ".") + " in " + s.call + "'s answer"
	}
	return v, ""
}

// queryValue is the first value of the query argument name, decoded; ok
// is false when the request has none.
func queryValue(raw, name string) (string, bool) {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != name {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			if dk, err := url.QueryUnescape(k); err != nil || dk != name {
				continue
			}
		}
		if !strings.ContainsAny(v, "%+") {
			return v, true
		}
		d, err := url.QueryUnescape(v)
		if err != nil {
			return "", true
		}
		return d, true
	}
	return "", false
}

// appendEscaped appends v with every byte but RFC 3986's unreserved ones
// percent-encoded: '/', '?', '#', '&', '=', '+' and '%' included, so a
// value never leaves the segment or query value it is in.
func appendEscaped(b []byte, v string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return b
}
