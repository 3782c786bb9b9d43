package oauth2

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"

	"github.com/turnpikegw/turnpike/internal/ident"
	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/external"
	"github.com/turnpikegw/turnpike/internal/plugins/oauth2/tokens"
)

const (
	msgUnexpected = "An unexpected error occurred"
)

// field is one member of an answer's JSON object; an empty value is
// left out (Kong's nil), a number is written bare.
type field struct {
	name, value string
	number      bool
}

// object renders members in order, as compact JSON escaped as Kong's
// cjson does.
func object(fields ...field) []byte {
	b := []byte{'{'}
	for _, f := range fields {
		if f.value == "" {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = jsonw.AppendCJSONString(b, f.name)
		b = append(b, ':')
		if f.number {
			b = append(b, f.value...)
		} else {
			b = jsonw.AppendCJSONString(b, f.value)
		}
	}
	return append(b, '}')
}

// oauthError is an OAuth 2.0 error of the endpoints (RFC 6749 5.2).
type oauthError struct {
	code, desc string
	// basic marks a failed client authentication by the Authorization
	// header: 401 with a Basic challenge.
	basic bool
	// status replaces 400; retryAfter, when set, is the Retry-After.
	status     int
	retryAfter string
}

// The answers when the gateway, not the request, is at fault: the token
// store failed (Redis down); it is full, or the client holds its share
// of it (room comes back as tokens expire); the secret derivations are
// all busy past the request's wait.
var (
	errServer = &oauthError{code: "server_error", desc: msgUnexpected, status: http.StatusInternalServerError}
	errFull   = &oauthError{code: "temporarily_unavailable", desc: "The token store is full, try again later",
		status: http.StatusServiceUnavailable, retryAfter: "60"}
	errBusy = &oauthError{code: "temporarily_unavailable", desc: "The client could not be authenticated in time",
		status: http.StatusServiceUnavailable, retryAfter: "1"}
)

// storeError is the answer to a failed store call.
func storeError(err error) *oauthError {
	if errors.Is(err, tokens.ErrFull) {
		return errFull
	}
	return errServer
}

func errInvalidClient(basic bool) *oauthError {
	return &oauthError{code: "invalid_client", desc: "Invalid client authentication", basic: basic}
}

// endpointExit is an endpoint's answer: no caching, as RFC 6749 5.1 asks.
func endpointExit(status int, body []byte) *plugin.Exit {
	return &plugin.Exit{
		Status:      status,
		Body:        body,
		ContentType: external.ContentTypeJSON,
		Header:      http.Header{"Cache-Control": {"no-store"}, "Pragma": {"no-cache"}},
	}
}

// errorExit answers e, with state when the request had one.
func errorExit(e *oauthError, state string) *plugin.Exit {
	x := endpointExit(http.StatusBadRequest, external.ErrorBody(e.code, e.desc, state))
	if e.status != 0 {
		x.Status = e.status
	}
	if e.retryAfter != "" {
		x.Header["Retry-After"] = []string{e.retryAfter}
	}
	if e.basic {
		x.Status = http.StatusUnauthorized
		x.Header["Www-Authenticate"] = []string{`Basic realm="OAuth2.0"`}
	}
	return x
}

// issued is a token endpoint's success answer.
type issued struct {
	access, refresh string
	expiresIn       int
}

func (t *issued) body(state string) []byte {
	exp := ""
	if t.expiresIn > 0 {
		exp = strconv.Itoa(t.expiresIn)
	}
	return object(field{name: "access_token", value: t.access}, field{name: "token_type", value: "bearer"},
		field{name: "expires_in", value: exp, number: true}, field{name: "refresh_token", value: t.refresh},
		field{name: "state", value: state})
}

// randomToken is a token, code or key: n random bytes, base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never fails (it panics on a broken platform).
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newID is a random (version 4) UUID, a token's admin API id.
func newID() string {
	var u ident.UUID
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}
