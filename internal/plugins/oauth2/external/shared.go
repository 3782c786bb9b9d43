package external

import (
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// What both of the plugin's shapes answer and read alike: Kong's error
// body and Bearer challenge, its reading of the token's header and its
// HTTPS check of the endpoints. The oauth2 package (Kong's shape) calls
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
