package requesttransformer

import (
	"errors"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

type partKind uint8

const (
	partLiteral partKind = iota
	partHeader
	partQuery
	partCaptureName
	partCaptureIndex
)

type part struct {
	kind partKind
	// text is the literal, the canonical header key, the query argument
	// or the capture name.
	text string
	idx  int
}

// template is a value compiled once in New. A value without `$(...)` is a
// single literal and renders without allocating.
type template struct {
	parts []part
	// readsHeaders is set when rendering looks at request headers, which
	// decides when the header snapshot must be taken.
	readsHeaders bool
}

const unsupported = "only $(headers.<name>), $(headers[\"<name>\"]), $(query_params.<name>), " +
	"$(query_params[\"<name>\"]), $(uri_captures.<name>), $(uri_captures[<n>]) and quoted literals are supported"

// compileTemplate splits s on `$(...)` the way Penlight's template does
// (balanced parentheses; an unbalanced `$(` is literal text) and accepts
// only the lookups Turnpike can evaluate without Lua.
func compileTemplate(s string) (*template, error) {
	t := &template{}
	lit := 0
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '$' || s[i+1] != '(' {
			continue
		}
		end := balanced(s, i+1)
		if end < 0 {
			continue
		}
		if i > lit {
			t.parts = append(t.parts, part{kind: partLiteral, text: s[lit:i]})
		}
		p, err := compileExpr(strings.TrimSpace(s[i+2 : end]))
		if err != nil {
			return nil, err
		}
		if p.kind == partHeader {
			t.readsHeaders = true
		}
		t.parts = append(t.parts, p)
		lit = end + 1
		i = end
	}
	if lit < len(s) || len(t.parts) == 0 {
		t.parts = append(t.parts, part{kind: partLiteral, text: s[lit:]})
	}
	return t, nil
}

// balanced returns the index of the ')' closing the '(' at open, or -1.
func balanced(s string, open int) int {
	depth := 0
	for j := open; j < len(s); j++ {
		switch s[j] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

func compileExpr(e string) (part, error) {
	if len(e) >= 2 && (e[0] == '\'' || e[0] == '"') && e[len(e)-1] == e[0] && !strings.ContainsAny(e[1:len(e)-1], `\`+e[:1]) {
		return part{kind: partLiteral, text: e[1 : len(e)-1]}, nil
	}
	table, rest := e, ""
	if i := strings.IndexAny(e, ".["); i >= 0 {
		table, rest = strings.TrimSpace(e[:i]), e[i:]
	}
	var key string
	index, isIndex := 0, false
	switch {
	case strings.HasPrefix(rest, "."):
		key = strings.TrimSpace(rest[1:])
		if !isIdent(key) {
			return part{}, errors.New(unsupported)
		}
	case strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]"):
		in := strings.TrimSpace(rest[1 : len(rest)-1])
		if len(in) >= 2 && (in[0] == '\'' || in[0] == '"') && in[len(in)-1] == in[0] && !strings.ContainsAny(in[1:len(in)-1], `\`+in[:1]) {
			key = in[1 : len(in)-1]
		} else if n, err := strconv.Atoi(in); err == nil && n >= 0 {
			index, isIndex = n, true
		} else {
			return part{}, errors.New(unsupported)
		}
	default:
		return part{}, errors.New(unsupported)
	}
	switch table {
	case "headers":
		if isIndex {
			return part{}, errors.New(unsupported)
		}
		return part{kind: partHeader, text: headerLookupKey(key)}, nil
	case "query_params":
		if isIndex {
			return part{}, errors.New(unsupported)
		}
		return part{kind: partQuery, text: key}, nil
	case "uri_captures":
		if isIndex {
			return part{kind: partCaptureIndex, idx: index}, nil
		}
		return part{kind: partCaptureName, text: key}, nil
	}
	return part{}, errors.New(unsupported)
}

// headerLookupKey is how ngx.req.get_headers() finds a header: case
// insensitively and with '_' read as '-'. "host" stays lower case as it is
// looked up in Req.Host, not in the header map.
func headerLookupKey(name string) string {
	l := strings.ReplaceAll(strings.ToLower(name), "_", "-")
	if l == "host" {
		return l
	}
	return textproto.CanonicalMIMEHeaderKey(l)
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// env is the template environment of one request. Like Kong's, it loads
// headers and query arguments on first use and keeps what it loaded.
type env struct {
	c *plugin.Ctx

	hdr       http.Header
	host      string
	hdrLoaded bool

	query       args
	queryLoaded bool
}

func (e *env) headers() (http.Header, string) {
	if !e.hdrLoaded {
		e.hdr, e.host, e.hdrLoaded = e.c.Req.Header, e.c.Req.Host, true
	}
	return e.hdr, e.host
}

// snapshotHeaders freezes the headers seen by templates before the plugin
// edits them in place: Kong renders from a table read before its edits.
func (e *env) snapshotHeaders() {
	e.hdr, e.host, e.hdrLoaded = e.c.Req.Header.Clone(), e.c.Req.Host, true
}

func (e *env) queryArgs() args {
	if !e.queryLoaded {
		e.query, e.queryLoaded = parseArgs(e.c.RawQuery), true
	}
	return e.query
}

// errNotString is Lua's failure to concatenate a table or boolean into the
// rendered value (a repeated header or argument, or a bare argument).
var errNotString = errors.New("[request-transformer] failed to render the template: value is not a string")

func (t *template) render(e *env) (string, error) {
	if len(t.parts) == 1 && t.parts[0].kind == partLiteral {
		return t.parts[0].text, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		s, err := p.value(e)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func (p *part) value(e *env) (string, error) {
	switch p.kind {
	case partHeader:
		h, host := e.headers()
		if p.text == "host" {
			return host, nil
		}
		switch vs := h[p.text]; len(vs) {
		case 0:
			return "", nil
		case 1:
			return vs[0], nil
		}
		return "", errNotString
	case partQuery:
		q := e.queryArgs()
		i := q.find(p.text)
		if i < 0 {
			return "", nil
		}
		if q[i].multi || q[i].vals[0].bare {
			return "", errNotString
		}
		return q[i].vals[0].s, nil
	case partCaptureName:
		return e.c.Captures.Named[p.text], nil
	case partCaptureIndex:
		if p.idx < len(e.c.Captures.Positional) {
			return e.c.Captures.Positional[p.idx], nil
		}
		return "", nil
	}
	return p.text, nil
}
