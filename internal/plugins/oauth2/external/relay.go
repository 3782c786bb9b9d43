package external

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/oidc"
)

// maxRelayBody bounds a client's token or revocation request: a form of
// a few fields.
const maxRelayBody = 64 << 10

// relay passes clients' token and revocation requests to the server.
type relay struct {
	v                                 *oidc.Verifier
	tokenEndpoint, revocationEndpoint string
	revokeMethod                      string
	allowed                           []string
	// acceptHTTP is accept_http_if_already_terminated.
	acceptHTTP bool
}

// serve answers {route}/oauth2/token and {route}/oauth2/revoke when the
// plugin relays (allowed_token_methods set; revocation_endpoint set for
// the second), so that a route that only checks tokens leaves its
// upstream's paths alone; nil for every other request.
func (r *relay) serve(c *plugin.Ctx) *plugin.Exit {
	var ep string
	var answer func(*plugin.Ctx, string) *plugin.Exit
	switch {
	case len(r.allowed) > 0 && strings.HasSuffix(c.ClientPath, "/oauth2/token"):
		ep = r.endpoint(c, r.tokenEndpoint, func(m *oidc.Metadata) string { return m.TokenEndpoint })
		answer = r.token
	case (len(r.allowed) > 0 || r.revocationEndpoint != "") && strings.HasSuffix(c.ClientPath, "/oauth2/revoke"):
		ep = r.endpoint(c, r.revocationEndpoint, func(m *oidc.Metadata) string { return m.RevocationEndpoint })
		answer = r.revoke
	}
	if ep == "" {
		return nil
	}
	return answer(c, ep)
}

// endpoint is the configured endpoint, else the one discovery found
// (waiting for it, as a token check does); "" when there is none.
func (r *relay) endpoint(c *plugin.Ctx, configured string, discovered func(*oidc.Metadata) string) string {
	if configured != "" {
		return configured
	}
	if m := r.v.Discovered(c.Req.Context()); m != nil {
		return discovered(m)
	}
	return ""
}

// token relays a token request whose grant type allowed_token_methods
// lists; the server's answer goes back as it is.
func (r *relay) token(c *plugin.Ctx, endpoint string) *plugin.Exit {
	body, e := r.readForm(c, "token")
	if e != nil {
		return e
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return ErrorExit(http.StatusBadRequest, nil, errInvalidRequest, "The request body is not a valid form")
	}
	grant := form.Get("grant_type")
	switch {
	case grant == "":
		return ErrorExit(http.StatusBadRequest, nil, errInvalidRequest, "Missing grant_type parameter")
	case !slices.Contains(r.allowed, grant):
		return ErrorExit(http.StatusBadRequest, nil, errGrant, "The grant type "+strings.ToValidUTF8(grant, "")+" is not allowed")
	}
	return r.call(c, http.MethodPost, endpoint, body)
}

// revoke relays an RFC 7009 revocation request with revoke_token_method.
func (r *relay) revoke(c *plugin.Ctx, endpoint string) *plugin.Exit {
	body, e := r.readForm(c, "revocation")
	if e != nil {
		return e
	}
	return r.call(c, r.revokeMethod, endpoint, body)
}

// readForm reads a POSTed form of at most maxRelayBody bytes. Client
// secrets and passwords pass through the relay: as Kong's endpoints, it
// refuses a request that did not come over HTTPS.
func (r *relay) readForm(c *plugin.Ctx, endpoint string) ([]byte, *plugin.Exit) {
	if c.Req.Method != http.MethodPost {
		desc := "The HTTP method " + c.Req.Method + " is invalid for the " + endpoint + " endpoint"
		return nil, ErrorExit(http.StatusMethodNotAllowed,
			http.Header{"Www-Authenticate": {WWWAuthenticate("", errMethod, desc, "")}}, errMethod, desc)
	}
	if ok, msg := IsHTTPS(c, r.acceptHTTP); !ok {
		return nil, ErrorExit(http.StatusBadRequest, http.Header{"Cache-Control": {"no-store"}, "Pragma": {"no-cache"}},
			"access_denied", msg)
	}
	if mt, _, _ := mime.ParseMediaType(c.Req.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil, ErrorExit(http.StatusBadRequest, nil, errInvalidRequest, "The request body must be application/x-www-form-urlencoded")
	}
	if c.Req.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(c.Req.Body, maxRelayBody+1))
	switch {
	case err != nil:
		return nil, ErrorExit(http.StatusBadRequest, nil, errInvalidRequest, "The request body could not be read")
	case len(body) > maxRelayBody:
		return nil, ErrorExit(http.StatusRequestEntityTooLarge, nil, errInvalidRequest, "The request body is too large")
	}
	return body, nil
}

// relayedHeaders are the client's headers the server sees: its client
// authentication and what it accepts.
var relayedHeaders = []string{"Authorization", "Accept", "Dpop"}

// call sends body to the server and returns its answer: status, body
// (bounded by the verifier's client), Content-Type and caching headers.
func (r *relay) call(c *plugin.Ctx, method, endpoint string, body []byte) *plugin.Exit {
	req, err := http.NewRequestWithContext(c.Req.Context(), method, endpoint, bytes.NewReader(body))
	if err != nil {
		return ErrorExit(http.StatusInternalServerError, nil, errServer, msgRelayFailed)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, k := range relayedHeaders {
		if v, ok := c.Req.Header[k]; ok {
			req.Header[k] = v
		}
	}
	resp, err := r.v.Client().Do(req)
	if err != nil {
		return ErrorExit(http.StatusBadGateway, nil, errServer, msgRelayFailed)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return ErrorExit(http.StatusBadGateway, nil, errServer, msgRelayFailed)
	}
	// RFC 6749 5.1: an answer carrying tokens is never cached.
	h := http.Header{"Cache-Control": {"no-store"}, "Pragma": {"no-cache"}}
	if v := resp.Header.Get("Www-Authenticate"); v != "" {
		h.Set("Www-Authenticate", v)
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = ContentTypeJSON
	}
	return &plugin.Exit{Status: resp.StatusCode, Header: h, Body: answer, ContentType: ct}
}
