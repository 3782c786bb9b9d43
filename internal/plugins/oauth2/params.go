package oauth2

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Bounds on what the plugin reads of a request's parameters: a larger
// body is passed on unread (an API call) or read as having no parameters
// (an endpoint), as Kong does with a body it cannot process.
const (
	maxBodyBytes = 1 << 20
	maxArgs      = 100
	maxParts     = 100
)

// param is one request parameter as Kong's Lua sees it: a string, or
// another value (a repeated name's table, a query flag's true, a JSON
// number) that no string compares equal to.
type param struct {
	s      string
	string bool
}

// params are a request's OAuth 2.0 parameters: the query's, with the
// body's over them on POST, PUT and PATCH (Kong's retrieve_parameters).
type params struct {
	m map[string]param
	// form is the urlencoded body read, for hide_credentials.
	form bool
}

// get returns a parameter that is a string.
func (p *params) get(name string) (string, bool) {
	v, ok := p.m[name]
	return v.s, ok && v.string
}

// has says whether the parameter is present, of any type.
func (p *params) has(name string) bool {
	_, ok := p.m[name]
	return ok
}

// str is the parameter as a string, "" when absent or not a string.
func (p *params) str(name string) string {
	s, _ := p.get(name)
	return s
}

func readParams(c *plugin.Ctx) *params {
	p := &params{m: map[string]param{}}
	addArgs(p.m, c.Req.URL.RawQuery)
	switch c.Req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		p.form = readBody(c.Req, p.m)
	}
	return p
}

// addArgs adds urlencoded arguments: decoded, '+' a space, an argument
// without '=' the Lua value true, a repeated name a table.
func addArgs(m map[string]param, args string) {
	seen := map[string]bool{}
	for n := 0; len(args) > 0 && n < maxArgs; {
		var seg string
		seg, args, _ = strings.Cut(args, "&")
		if seg == "" {
			continue
		}
		n++
		k, v, hasEq := strings.Cut(seg, "=")
		if k == "" {
			continue
		}
		k = plugin.UnescapeArg(k)
		switch {
		case seen[k]:
			m[k] = param{}
		case hasEq:
			m[k] = param{s: plugin.UnescapeArg(v), string: true}
		default:
			m[k] = param{}
		}
		seen[k] = true
	}
}

// readBody reads a form, JSON or multipart body's parameters into m and
// puts the bytes back for the upstream; it reports a form body.
func readBody(r *http.Request, m map[string]param) (form bool) {
	ct := r.Header.Get("Content-Type")
	mt, _, _ := strings.Cut(strings.ToLower(ct), ";")
	mt = strings.TrimSpace(mt)
	if mt != "application/x-www-form-urlencoded" && mt != "application/json" && mt != "multipart/form-data" {
		return false
	}
	raw, ok := bufferBody(r)
	if !ok {
		return false
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		addArgs(m, string(raw))
		return true
	case "application/json":
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return false
		}
		for k, v := range obj {
			var s string
			if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil {
				m[k] = param{s: s, string: true}
			} else {
				m[k] = param{}
			}
		}
	case "multipart/form-data":
		_, ps, err := mime.ParseMediaType(ct)
		if err != nil || ps["boundary"] == "" {
			return false
		}
		addParts(m, raw, ps["boundary"])
	}
	return false
}

func addParts(m map[string]param, raw []byte, boundary string) {
	mr := multipart.NewReader(bytes.NewReader(raw), boundary)
	seen := map[string]bool{}
	for n := 0; n < maxParts; n++ {
		part, err := mr.NextPart()
		if err != nil {
			return
		}
		name := part.FormName()
		v, err := io.ReadAll(io.LimitReader(part, maxBodyBytes))
		if err != nil || name == "" {
			continue
		}
		if seen[name] {
			m[name] = param{}
		} else {
			m[name] = param{s: string(v), string: true}
		}
		seen[name] = true
	}
}

// bufferBody reads the body, at most maxBodyBytes of it, and puts it
// back for the upstream; ok is false when it is larger or failed.
func bufferBody(r *http.Request) (raw []byte, ok bool) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, true
	}
	orig := r.Body
	raw, err := io.ReadAll(io.LimitReader(orig, maxBodyBytes+1))
	switch {
	case err != nil:
		// The proxy meets the same error when it sends the body on.
		r.Body = readCloser{io.MultiReader(bytes.NewReader(raw), errReader{err}), orig}
		return nil, false
	case len(raw) > maxBodyBytes:
		r.Body = readCloser{io.MultiReader(bytes.NewReader(raw), orig), orig}
		return nil, false
	}
	setBody(r, raw, orig)
	return raw, true
}

func setBody(r *http.Request, raw []byte, closer io.Closer) {
	r.ContentLength = int64(len(raw))
	r.Body = readCloser{bytes.NewReader(raw), closer}
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

var errBodyChanged = errors.New("oauth2: body changed while read")

// removeArg removes every argument called name from urlencoded args.
func removeArg(args, name string) string {
	if !strings.Contains(args, name) {
		return args
	}
	var b strings.Builder
	for len(args) > 0 {
		var seg string
		seg, args, _ = strings.Cut(args, "&")
		k, _, _ := strings.Cut(seg, "=")
		if seg == "" || plugin.UnescapeArg(k) == name {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(seg)
	}
	return b.String()
}

// removeFormArg removes access tokens from a form body already buffered
// by readBody.
func removeFormArg(r *http.Request, name string) error {
	br, ok := r.Body.(readCloser)
	if !ok {
		return errBodyChanged
	}
	raw, err := io.ReadAll(br.Reader)
	if err != nil {
		return err
	}
	setBody(r, []byte(removeArg(string(raw), name)), br.Closer)
	return nil
}
