package external

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Error codes (RFC 6749 5.2, RFC 6750 3.1) and Kong's oauth2 texts where
// Kong has the case.
const (
	errInvalidRequest = "invalid_request"
	errInvalidToken   = "invalid_token"
	errScope          = "insufficient_scope"
	errUnavailable    = "temporarily_unavailable"
	errGrant          = "unsupported_grant_type"
	errMethod         = "invalid_method"
	errServer         = "server_error"

	msgMissing     = "The access token is missing"
	msgInvalid     = "The access token is invalid or has expired"
	msgScope       = "The access token does not carry a scope this route requires"
	msgUnavailable = "The authorization server could not check the access token"
	msgRelayFailed = "The authorization server could not be reached"

	contentTypeJSON = "application/json; charset=utf-8"
)

// oauthError is an answer with Kong oauth2's body shape,
// {"error":...,"error_description":...}.
func oauthError(status int, h http.Header, code, desc string) *plugin.Exit {
	b := append([]byte(`{"error":`), jsonw.AppendCJSONString(nil, code)...)
	b = append(b, `,"error_description":`...)
	b = append(jsonw.AppendCJSONString(b, desc), '}')
	return &plugin.Exit{Status: status, Header: h, Body: b, ContentType: contentTypeJSON}
}

func (in *instance) unauthorized(www, code, desc string) *plugin.Exit {
	return oauthError(http.StatusUnauthorized, http.Header{"Www-Authenticate": {www}}, code, desc)
}

// wwwAuthenticate is the RFC 6750 challenge, parameters in Kong's order
// (realm, error, error_description), then scope.
func wwwAuthenticate(realm, code, desc, scope string) string {
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

// queryArg finds the first name=value argument of a raw query; a value
// that does not decode is absent.
func queryArg(raw, name string) (string, bool) {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(part, "=")
		if k != name {
			continue
		}
		if !strings.ContainsAny(v, "%+") {
			return v, true
		}
		d, err := url.QueryUnescape(v)
		return d, err == nil
	}
	return "", false
}

// removeQueryArg drops every argument called name from a raw query,
// keeping the others as they were written.
func removeQueryArg(raw, name string) string {
	var b strings.Builder
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if k, _, _ := strings.Cut(part, "="); k == name {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(part)
	}
	return b.String()
}
