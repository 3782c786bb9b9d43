package requesttransformer

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// part is a literal, or the expression of one `$(...)` when expr is set.
type part struct {
	lit  string
	expr *node
}

// template is a value compiled once in New. A value without `$(...)` is a
// single literal and renders without allocating.
type template struct {
	src   string
	parts []part
	// readsHeaders is set when rendering looks at request headers, which
	// decides when the header snapshot must be taken.
	readsHeaders bool
	// mayRenderEmpty is set when no literal text surrounds the `$(...)`,
	// the only way a value can render to "".
	mayRenderEmpty bool
}

// Bounds on what one value may render. Templates can repeat a request's
// text many times over (a 16 KB config once turned a 60 KB header into a
// 72 MB request head); the cap keeps a value within what the upstream takes
// as a header block by default, and rendering stops as soon as it is passed.
// A value without `$(...)` is not rendered and not capped.
const (
	maxRendered = 64 << 10
	maxExprs    = 64
)

var errTooLong = errors.New("the rendered value is longer than " + strconv.Itoa(maxRendered) + " bytes")

// limitError is a template over a bound, reported without the refusal's
// list of supported forms.
type limitError string

func (e limitError) Error() string { return string(e) }

// compileTemplate splits s on `$(...)` the way Penlight's template does
// (balanced parentheses; an unbalanced `$(` is literal text) and parses
// each expression.
func compileTemplate(s string) (*template, error) {
	t := &template{src: s}
	lit, exprs, litSize := 0, 0, 0
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '$' || s[i+1] != '(' {
			continue
		}
		end := balanced(s, i+1)
		if end < 0 {
			continue
		}
		if i > lit {
			t.parts = append(t.parts, part{lit: s[lit:i]})
			litSize += i - lit
		}
		if exprs++; exprs > maxExprs {
			return nil, limitError("more than " + strconv.Itoa(maxExprs) + " $(...) expressions")
		}
		n, err := parseExpr(s[i+2 : end])
		if err != nil {
			return nil, err
		}
		t.readsHeaders = t.readsHeaders || n.reads(opHeader)
		t.parts = append(t.parts, part{expr: n})
		lit = end + 1
		i = end
	}
	if lit < len(s) || len(t.parts) == 0 {
		t.parts = append(t.parts, part{lit: s[lit:]})
		litSize += len(s) - lit
	}
	t.mayRenderEmpty = exprs > 0 && litSize == 0
	if exprs > 0 && litSize > maxRendered {
		return nil, limitError("its text outside $(...) is longer than " + strconv.Itoa(maxRendered) + " bytes, the most a rendered value may hold")
	}
	return t, nil
}

// hostSafe reports whether the template's own text, outside and inside
// `$(...)`, is fit for a Host. Checked at load, it leaves the request's
// input as the only possible cause of a bad rendered Host.
func (t *template) hostSafe() bool {
	for _, p := range t.parts {
		if p.expr == nil && !validHost(p.lit) || p.expr != nil && !p.expr.hostSafe() {
			return false
		}
	}
	return true
}

func (n *node) hostSafe() bool {
	if n.op == opLit && !validHost(n.s) {
		return false
	}
	for _, k := range n.kids {
		if !k.hostSafe() {
			return false
		}
	}
	return true
}

// validHost is what the proxy accepts as an upstream Host: no space or
// control character, and no '/' or '\' to change the authority.
func validHost(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '/' || c == '\\' {
			return false
		}
	}
	return true
}

func (n *node) reads(o op) bool {
	if n.op == o {
		return true
	}
	for _, k := range n.kids {
		if k.reads(o) {
			return true
		}
	}
	return false
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

// header is headers[key] as ngx.req.get_headers gives it: a string, a
// table for a repeated header, nil when absent.
func (e *env) header(n *node) value {
	h, host := e.headers()
	if n.s == "host" {
		if host == "" {
			return value{}
		}
		return strVal(host)
	}
	switch _, vs := n.h.Values(h); len(vs) {
	case 0:
		return value{}
	case 1:
		return strVal(vs[0])
	default:
		return value{k: kTable, hs: vs}
	}
}

// queryParam is query_params[name] as ngx.req.get_uri_args gives it: a
// string, true for a bare key, a table for a repeated key, or nil.
func (e *env) queryParam(name string) value {
	q := e.queryArgs()
	i := q.find(name)
	switch {
	case i < 0:
		return value{}
	case q[i].multi:
		return value{k: kTable, as: q[i].vals}
	}
	return argValue(q[i].vals[0])
}

func argValue(a argVal) value {
	if a.bare {
		return value{k: kTrue}
	}
	return strVal(a.s)
}

// renderError is a failed rendering, with the template as Kong logs it.
type renderError struct {
	src string
	err error
}

func (e *renderError) Error() string {
	return "[request-transformer] failed to render the template " + e.src + ", error:" + e.err.Error()
}

func (e *renderError) Unwrap() error { return e.err }

// render evaluates every part and joins the texts with a single
// allocation; a template of one part allocates nothing of its own.
// A value longer than maxRendered fails as a Lua error would.
func (t *template) render(e *env) (string, error) {
	if len(t.parts) == 1 {
		s, err := t.parts[0].text(e, t.src)
		if err == nil && t.parts[0].expr != nil && len(s) > maxRendered {
			return "", &renderError{src: t.src, err: errTooLong}
		}
		return s, err
	}
	var buf [8]string
	texts := buf[:0]
	size := 0
	for i := range t.parts {
		s, err := t.parts[i].text(e, t.src)
		if err != nil {
			return "", err
		}
		if size += len(s); size > maxRendered {
			return "", &renderError{src: t.src, err: errTooLong}
		}
		texts = append(texts, s)
	}
	return join(texts, size), nil
}

func (p *part) text(e *env, src string) (string, error) {
	if p.expr == nil {
		return p.lit, nil
	}
	v, err := p.expr.eval(e)
	if err != nil {
		return "", &renderError{src: src, err: err}
	}
	return v.text(), nil
}
