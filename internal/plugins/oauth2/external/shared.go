package external

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// What both of the plugin's shapes answer and read alike: Kong's error
// body and Bearer challenge, its reading of the request's parameters and
// of the access token, and its HTTPS check of the endpoints. The oauth2 package (Kong's shape) calls
// these; this package never imports it.

// ContentTypeJSON is the Content-Type of every JSON answer.
const ContentTypeJSON = "application/json; charset=utf-8"

// ErrorBody is Kong's {"error","error_description","state"} body, a
// member left out when empty (Kong's nil), escaped as Kong's cjson does.
func ErrorBody(code, desc, state string) []byte {
	b := []byte{'{'}
	for _, f := range [...]struct{ name, value string }{{"error", code}, {"error_description", desc}, {"state", state}} {
		if f.value == "" {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, `":`...)
		b = jsonw.AppendCJSONString(b, f.value)
	}
	return append(b, '}')
}

// ErrorExit is an answer of status with Kong's error body and h.
func ErrorExit(status int, h http.Header, code, desc string) *plugin.Exit {
	return &plugin.Exit{Status: status, Header: h, Body: ErrorBody(code, desc, ""), ContentType: ContentTypeJSON}
}

// WWWAuthenticate is the RFC 6750 challenge, parameters in Kong's order
// (realm, error, error_description), then scope; each when set.
func WWWAuthenticate(realm, code, desc, scope string) string {
	var params []string
	if realm != "" {
		params = append(params, `realm="`+realm+`"`)
	}
	if code != "" {
		params = append(params, `error="`+code+`"`)
	}
	if desc != "" {
		params = append(params, `error_description="`+desc+`"`)
	}
	if scope != "" {
		params = append(params, `scope="`+scope+`"`)
	}
	if len(params) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(params, ", ")
}

// luaSpace is Lua's %s: what Kong splits the token's header on.
const luaSpace = " \t\n\v\f\r"

// Bearer is Kong's reading of the token's header: exactly two words,
// "Bearer <token>" or "Token <token>" (any case, any blanks); ok is
// false for any other value.
func Bearer(v string) (token string, ok bool) {
	f := strings.TrimLeft(v, luaSpace)
	i := strings.IndexAny(f, luaSpace)
	if i < 0 {
		return "", false
	}
	scheme, rest := f[:i], strings.Trim(f[i:], luaSpace)
	if rest == "" || hasBlank(rest) {
		return "", false
	}
	if !strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token") {
		return "", false
	}
	return rest, true
}

// hasBlank says s has a blank inside a header value: IndexByte scans,
// vectorised, cost less than one ContainsAny over a JWT's length. A
// header value holds no CR or LF.
func hasBlank(s string) bool {
	return strings.IndexByte(s, ' ') >= 0 || strings.IndexByte(s, '\t') >= 0 ||
		strings.IndexByte(s, '\v') >= 0 || strings.IndexByte(s, '\f') >= 0
}

// MsgHTTPS is Kong's answer to an endpoint called without HTTPS.
const MsgHTTPS = "You must use HTTPS"

// IsHTTPS is Kong's check_https: the client's scheme, or with
// accept_http_if_already_terminated a trusted peer's single
// X-Forwarded-Proto. msg, when not ok, is Kong's description.
func IsHTTPS(c *plugin.Ctx, acceptHTTP bool) (ok bool, msg string) {
	if strings.EqualFold(c.Scheme, "https") {
		return true, ""
	}
	if !acceptHTTP || !c.TrustedPeer {
		return false, MsgHTTPS
	}
	proto := c.Req.Header.Values("X-Forwarded-Proto")
	if len(proto) == 0 {
		return false, MsgHTTPS
	}
	if len(proto) > 1 || strings.Contains(proto[0], ",") {
		return false, "Only one X-Forwarded-Proto header allowed"
	}
	if !strings.EqualFold(proto[0], "https") {
		return false, MsgHTTPS
	}
	return true, ""
}

// AccessTokenParam is the query and body argument a token may be sent in.
const AccessTokenParam = "access_token"

// AccessToken is Kong's parse_access_token: the auth header's Bearer (or
// Token) value, else the access_token argument of the query or body,
// removed from the upstream request with hide. bearer is false for a
// header value of another shape, returned whole (Kong looks it up as it
// is) and left alone.
func AccessToken(c *plugin.Ctx, header plugin.HeaderName, hide bool) (token string, bearer bool) {
	key, vs := header.Values(c.Req.Header)
	if len(vs) > 0 {
		token, ok := Bearer(vs[0])
		if !ok {
			return vs[0], false
		}
		if hide {
			delete(c.Req.Header, key)
		}
		return token, true
	}
	p := ReadParams(c)
	token, ok := p.Get(AccessTokenParam)
	if !ok {
		return "", true
	}
	if hide {
		c.RawQuery = RemoveArg(c.RawQuery, AccessTokenParam)
		if p.form != nil && c.Req.Method != http.MethodGet {
			plugin.SetBody(c.Req, []byte(RemoveArg(string(p.form), AccessTokenParam)))
		}
	}
	return token, true
}

// Bounds on what the plugin reads of a request's parameters (MaxBodyBytes
// of a body, maxArgs arguments, maxParts parts): a larger
// body is passed on unread (an API call) or read as having no parameters
// (an endpoint), as Kong does with a body it cannot process.
const (
	MaxBodyBytes = 1 << 20
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

// Params are a request's OAuth 2.0 parameters: the query's, with the
// body's over them on POST, PUT and PATCH (Kong's retrieve_parameters).
type Params struct {
	m map[string]param
	// form is the urlencoded body read (nil when there was none), for
	// hide_credentials.
	form []byte
}

// Get returns a parameter that is a string.
func (p *Params) Get(name string) (string, bool) {
	v, ok := p.m[name]
	return v.s, ok && v.string
}

// Has says whether the parameter is present, of any type.
func (p *Params) Has(name string) bool {
	_, ok := p.m[name]
	return ok
}

// Str is the parameter as a string, "" when absent or not a string.
func (p *Params) Str(name string) string {
	s, _ := p.Get(name)
	return s
}

// Value is the parameter, present or not, a string or not.
func (p *Params) Value(name string) (s string, isString, present bool) {
	v, present := p.m[name]
	return v.s, v.string, present
}

// ReadParams reads the request's parameters, the body bounded by
// MaxBodyBytes and put back for the upstream.
func ReadParams(c *plugin.Ctx) *Params {
	p := &Params{m: map[string]param{}}
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
// puts the bytes back for the upstream; it returns a form body's bytes.
func readBody(r *http.Request, m map[string]param) (form []byte) {
	ct := r.Header.Get("Content-Type")
	mt, _, _ := strings.Cut(strings.ToLower(ct), ";")
	mt = strings.TrimSpace(mt)
	if mt != "application/x-www-form-urlencoded" && mt != "application/json" && mt != "multipart/form-data" {
		return nil
	}
	raw, ok := plugin.ReadBody(r, MaxBodyBytes)
	if !ok || len(raw) == 0 {
		return nil
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		addArgs(m, string(raw))
		return raw
	case "application/json":
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil
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
			return nil
		}
		addParts(m, raw, ps["boundary"])
	}
	return nil
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
		v, err := io.ReadAll(io.LimitReader(part, MaxBodyBytes))
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

// RemoveArg removes every argument called name from urlencoded args.
func RemoveArg(args, name string) string {
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
