package requesttransformer

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

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
	field string
	parts []part
	// litSize is the text outside `$(...)`, rendered every time; 0 for a
	// value without `$(...)`, which is never rendered.
	litSize int
	// readsHeaders is set when rendering looks at request headers, which
	// decides when the header snapshot must be taken.
	readsHeaders bool
	// mayRenderEmpty is set when no literal text surrounds the `$(...)`,
	// the only way a value can render to "".
	mayRenderEmpty bool
}

// Bounds on what templates may render. Templates can repeat a request's
// text many times over (a 16 KB config once turned a 60 KB header into a
// 72 MB request head, and 1,000 entries of 64 KiB each later into 60 MB);
// maxRendered keeps what one instance renders for a request, every value
// together, within what the upstream takes as a header block by default.
// Rendering stops as soon as it is passed. A value without `$(...)` is not
// rendered and does not count.
// maxBuilt bounds the strings expressions build on the way (`..` joins,
// :lower() and :upper() copies) for a request, whether or not they end up
// in a rendered value: a result fed to #, type(), == or :sub() renders a
// few bytes after building many.
const (
	maxRendered = 64 << 10
	maxBuilt    = 4 * maxRendered
	maxExprs    = 64
)

// errTooLong stops a rendering past maxRendered. The request's own values
// made it that long (the templates were bounded at load), so it is answered
// as the client's fault: 400, without an error log line a client could
// repeat at will.
var errTooLong = errors.New("the rendered value is longer than " + strconv.Itoa(maxRendered) + " bytes")

func tooLarge() error { return plugin.NewExit(http.StatusBadRequest, "Bad request") }

// limitError is a template over a bound, reported without the refusal's
// list of supported forms.
type limitError string

func (e limitError) Error() string { return string(e) }

// compileTemplate splits s on `$(...)` the way Penlight's template does
// (balanced parentheses; an unbalanced `$(` is literal text) and parses
// each expression. field is the value's path in the config, which errors
// name instead of the text: the text may hold a secret from a vault.
func compileTemplate(s, field string) (*template, error) {
	t := &template{field: field}
	spans := exprSpans(s)
	if len(spans) == 0 {
		t.parts = []part{{lit: s}}
		return t, nil
	}
	if len(spans) > maxExprs {
		return nil, limitError("more than " + strconv.Itoa(maxExprs) + " $(...) expressions")
	}
	lit := 0
	for _, sp := range spans {
		if sp[0] > lit {
			t.parts = append(t.parts, part{lit: s[lit:sp[0]]})
			t.litSize += sp[0] - lit
		}
		n, err := parseExpr(s[sp[0]+2 : sp[1]])
		if err != nil {
			return nil, err
		}
		t.readsHeaders = t.readsHeaders || n.reads(opHeader)
		t.parts = append(t.parts, part{expr: n})
		lit = sp[1] + 1
	}
	if lit < len(s) {
		t.parts = append(t.parts, part{lit: s[lit:]})
		t.litSize += len(s) - lit
	}
	t.mayRenderEmpty = t.litSize == 0
	if t.litSize > maxRendered {
		return nil, limitError("its text outside $(...) is longer than " + strconv.Itoa(maxRendered) + " bytes, the most a rendered value may hold")
	}
	return t, nil
}

// exprSpans returns the `$` and ')' offsets of the `$(...)` Penlight
// expands: scanning left to right, the first `$(` whose '(' is closed,
// then the first after its ')', and so on. Scanning ahead from every `$(`
// was quadratic in a value full of unclosed ones, so a pass from the end
// first marks the `$(` that are closed; the scans ahead are then only
// over the spans kept, which do not overlap. The marks take a bit per byte.
func exprSpans(s string) [][2]int {
	if !strings.Contains(s, "$(") {
		return nil
	}
	// d is the count of '(' less ')' up to and including j; the '(' at j
	// is closed when the count falls below d somewhere after it.
	d := strings.Count(s, "(") - strings.Count(s, ")")
	closed := make([]uint64, len(s)/64+1)
	low := d + 1 // the lowest count after j; above d for none
	for j := len(s) - 1; j > 0; j-- {
		switch s[j] {
		case '(':
			if s[j-1] == '$' && low < d {
				closed[j/64] |= 1 << (j % 64)
			}
			low = min(low, d)
			d--
		case ')':
			low = min(low, d)
			d++
		default:
			low = min(low, d)
		}
	}
	var spans [][2]int
	for i := 0; i+1 < len(s) && len(spans) <= maxExprs; i++ {
		if s[i] != '$' || closed[(i+1)/64]&(1<<((i+1)%64)) == 0 {
			continue
		}
		depth := 0
		for j := i + 1; ; j++ {
			if s[j] == '(' {
				depth++
			} else if s[j] == ')' {
				if depth--; depth == 0 {
					spans = append(spans, [2]int{i, j})
					i = j
					break
				}
			}
		}
	}
	return spans
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

// env is the template environment of one request. Like Kong's, it loads
// headers and query arguments on first use and keeps what it loaded.
type env struct {
	c *plugin.Ctx

	hdr       http.Header
	host      string
	hdrLoaded bool

	query       args
	queryLoaded bool

	// rendered is the bytes the instance's templates rendered so far,
	// built the bytes their expressions built.
	rendered, built int
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

// renderError is a failed rendering. Kong logs the template's text; the
// error names its field instead, since the text may be a vault's secret.
type renderError struct {
	field string
	err   error
}

func (e *renderError) Error() string {
	return "[request-transformer] failed to render the template in " + e.field + ", error:" + e.err.Error()
}

func (e *renderError) Unwrap() error { return e.err }

// render evaluates every part and joins the texts with a single
// allocation; a template of one part allocates nothing of its own.
// Rendering past what is left of the request's maxRendered answers 400.
func (t *template) render(e *env) (string, error) {
	if len(t.parts) == 1 {
		s, err := t.parts[0].text(e, t)
		if err == nil && t.parts[0].expr != nil {
			err = e.spend(len(s))
		}
		return s, err
	}
	var buf [8]string
	texts := buf[:0]
	size := 0
	for i := range t.parts {
		s, err := t.parts[i].text(e, t)
		if err != nil {
			return "", err
		}
		if size += len(s); e.rendered+size > maxRendered {
			return "", e.spend(size)
		}
		texts = append(texts, s)
	}
	return strings.Join(texts, ""), e.spend(size)
}

// build counts n bytes an expression is about to build against the
// request's bound (maxBuilt), before they are allocated.
func (e *env) build(n int) error {
	if e.built += n; e.built <= maxBuilt {
		return nil
	}
	return errTooLong
}

// spend counts n rendered bytes against the request's bound.
func (e *env) spend(n int) error {
	if e.rendered += n; e.rendered <= maxRendered {
		return nil
	}
	return tooLarge()
}

func (p *part) text(e *env, t *template) (string, error) {
	if p.expr == nil {
		return p.lit, nil
	}
	v, err := p.expr.eval(e)
	if err == errTooLong {
		return "", tooLarge()
	}
	if err != nil {
		return "", &renderError{field: t.field, err: err}
	}
	return v.text(), nil
}
