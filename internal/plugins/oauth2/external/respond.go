package external

import (
	"net/http"

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
)

func (in *instance) unauthorized(www, code, desc string) *plugin.Exit {
	return ErrorExit(http.StatusUnauthorized, http.Header{"Www-Authenticate": {www}}, code, desc)
}
