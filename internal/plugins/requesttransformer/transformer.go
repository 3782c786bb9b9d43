package requesttransformer

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Access applies the transformations in Kong's order: path, method,
// headers, body, query string.
func (in *instance) Access(c *plugin.Ctx) error {
	e := env{c: c}
	if err := in.transformURI(&e); err != nil {
		return err
	}
	if err := in.transformMethod(c); err != nil {
		return err
	}
	if err := in.transformHeaders(&e); err != nil {
		return err
	}
	if err := in.transformBody(&e); err != nil {
		return err
	}
	return in.transformQuery(&e)
}

var errPath = errors.New("[request-transformer] replace.uri rendered a path that does not start with /")

func (in *instance) transformURI(e *env) error {
	if in.uri == nil {
		return nil
	}
	p, err := in.uri.render(e)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(p, "/") {
		return errPath
	}
	e.c.Path = string(appendEscaped(make([]byte, 0, len(p)), p, isPathSafe))
	return nil
}

func (in *instance) transformMethod(c *plugin.Ctx) error {
	if in.method == "" {
		return nil
	}
	c.Method = in.method
	if in.method != http.MethodGet && in.method != http.MethodHead && in.method != http.MethodTrace {
		return nil
	}
	if bodyType(c.Req.Header.Get("Content-Type")) != typeForm {
		return nil
	}
	// A form body moves into the query string of a body-less method; the
	// body itself is still sent, as Kong does.
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	params := parseArgs(string(raw))
	if len(params) == 0 {
		return nil
	}
	q := parseArgs(c.RawQuery)
	for _, p := range params {
		if i := q.find(p.key); i >= 0 {
			q[i].vals = append(q[i].vals, p.vals...)
			q[i].multi = true
		} else {
			q = append(q, p)
		}
	}
	c.RawQuery = q.encodeSorted()
	return nil
}

func (in *instance) transformHeaders(e *env) error {
	c := e.c
	if in.headerOpsReadHeaders || e.hdrLoaded {
		e.snapshotHeaders()
	}
	h := c.Req.Header
	for _, p := range in.remove.headers {
		if p.lower != "host" {
			delete(h, p.key)
		}
	}
	for _, p := range in.rename.headers {
		// Header names are canonical here, so a rename that only changes
		// case is a no-op.
		if p.lower == "host" || p.key == p.newKey {
			continue
		}
		vs, ok := h[p.key]
		if !ok || len(vs) == 0 {
			continue
		}
		if p.newLower == "host" {
			delete(h, p.key)
			c.UpstreamHost = vs[0]
		} else {
			delete(h, p.key)
			h[p.newKey] = vs
		}
	}
	for _, p := range in.replace.headers {
		if p.val == nil {
			continue
		}
		v, err := p.val.render(e)
		if err != nil {
			return err
		}
		// Kong replaces the upstream Host even though it is never among
		// the request headers it looks at.
		if p.lower == "host" {
			c.UpstreamHost = v
		} else if _, ok := h[p.key]; ok {
			h[p.key] = []string{v}
		}
	}
	for _, p := range in.add.headers {
		if p.val == nil {
			continue
		}
		v, err := p.val.render(e)
		if err != nil {
			return err
		}
		if _, ok := h[p.key]; !ok && p.lower != "host" {
			h[p.key] = []string{v}
		}
	}
	for _, p := range in.apnd.headers {
		if p.val == nil {
			continue
		}
		v, err := p.val.render(e)
		if err != nil {
			return err
		}
		if p.lower == "host" {
			c.UpstreamHost = v
		} else {
			h[p.key] = append(h[p.key], v)
		}
	}
	dropEmptyFirst(h, in.replace.headers)
	dropEmptyFirst(h, in.add.headers)
	dropEmptyFirst(h, in.apnd.headers)
	return nil
}

// dropEmptyFirst does what Kong's final ngx.req.set_header does to a value
// rendered empty. lua-nginx-module (ngx_http_set_header_helper in
// src/ngx_http_lua_headers_in.c) removes every header of the name for ""
// and adds none; a list is set as its first element, then each further one
// added, an empty one included. So an add or replace rendered empty sends
// no header, and an append adds "" only after values already there. Until
// then the empty value stays, as in Kong's headers table, where "" is
// present to a later add and is the first element of a later append.
func dropEmptyFirst(h http.Header, es []entry) {
	for i := range es {
		p := &es[i]
		if p.val == nil || !p.val.mayRenderEmpty {
			continue
		}
		switch vs := h[p.key]; {
		case len(vs) == 0 || vs[0] != "":
		case len(vs) == 1:
			delete(h, p.key)
		default:
			h[p.key] = vs[1:]
		}
	}
}

func (in *instance) transformQuery(e *env) error {
	if !in.hasQueryOps {
		return nil
	}
	// Kong starts from the template environment's copy of the arguments,
	// so a copy loaded before the method change is what gets rewritten.
	q := e.queryArgs().clone()
	for _, p := range in.remove.query {
		q.remove(p.name)
	}
	for _, p := range in.rename.query {
		to, err := p.val.render(e)
		if err != nil {
			return err
		}
		q.rename(p.name, to)
	}
	for _, p := range in.replace.query {
		v, err := p.val.render(e)
		if err != nil {
			return err
		}
		if q.find(p.name) >= 0 {
			q.set(p.name, v)
		}
	}
	for _, p := range in.add.query {
		v, err := p.val.render(e)
		if err != nil {
			return err
		}
		if q.find(p.name) < 0 {
			q.set(p.name, v)
		}
	}
	for _, p := range in.apnd.query {
		v, err := p.val.render(e)
		if err != nil {
			return err
		}
		q.appendValue(p.name, v)
	}
	e.c.RawQuery = q.encodeSorted()
	return nil
}

// readBody reads the whole request body and puts an equivalent one back,
// so later phases and the proxy still have it.
func readBody(c *plugin.Ctx) ([]byte, error) {
	if c.Req.Body == nil || c.Req.Body == http.NoBody {
		return nil, nil
	}
	raw, err := io.ReadAll(c.Req.Body)
	if err != nil {
		return nil, err
	}
	setBody(c, raw)
	return raw, nil
}

func setBody(c *plugin.Ctx, b []byte) {
	c.Req.Body = io.NopCloser(bytes.NewReader(b))
	c.Req.ContentLength = int64(len(b))
}
