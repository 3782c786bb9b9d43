package openidconnect

import (
	"errors"
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/oidc"
)

// reqState is what the access phase leaves for the header filter: the
// cookies to set on the response (a renewed session).
type reqState struct {
	setCookies []string
}

// Access authenticates the request (authenticate). With anonymous set, a
// request an earlier auth plugin authenticated is left alone (checked
// first: its credentials may be that plugin's, not the provider's), and a
// failure goes on as the anonymous consumer: plugin.RunAuth, Kong's
// logical OR.
func (in *instance) Access(c *plugin.Ctx) error {
	if in.anonymous != "" && c.Credential != "" {
		return nil
	}
	err := in.authenticate(c)
	f, ok := err.(failure)
	if !ok {
		return err
	}
	if err := plugin.RunAuth(c, in.anonymous, f); err != nil {
		return err
	}
	in.dropClaimHeaders(c.Req.Header)
	return nil
}

// failure is the answer to a request that failed to authenticate (401,
// the unauthorized redirect, 403), which the anonymous consumer replaces
// when configured; the other answers (a login's redirects, a logout, the
// provider's failure) stand.
type failure struct{ exit *plugin.Exit }

func (f failure) Error() string { return f.exit.Error() }

// CheckCredentials makes the failure plugin.RunAuth's check.
func (f failure) CheckCredentials(*plugin.Ctx) *plugin.Exit { return f.exit }

// authenticate checks a bearer token, else the callback of a login under
// way, else a logout, else a session cookie; without any, a browser is
// sent to log in and an API client gets 401.
func (in *instance) authenticate(c *plugin.Ctx) error {
	if tok, ok := bearerToken(c.Req.Header); ok && (in.bearer || in.introspection) {
		return in.bearerAccess(c, tok)
	}
	if in.authCode && in.isCallback(c.Req) {
		return in.callback(c)
	}
	var d *sessionData
	if in.session {
		d = in.openSession(c)
	}
	if in.isLogout(c) {
		return in.logout(c, d)
	}
	if d != nil {
		if err := in.sessionAccess(c, d); err == nil || !errors.Is(err, errSessionOver) {
			return err
		}
	}
	return in.unauthenticated(c, false)
}

// HeaderFilter sets the cookies the access phase asked for.
func (in *instance) HeaderFilter(c *plugin.Ctx) {
	if st, ok := c.Shared[name].(*reqState); ok {
		h := c.Resp.Header
		h["Set-Cookie"] = append(h["Set-Cookie"], st.setCookies...)
	}
}

func (in *instance) setCookiesLater(c *plugin.Ctx, lines []string) {
	if c.Shared == nil {
		c.Shared = map[string]any{}
	}
	c.Shared[name] = &reqState{setCookies: lines}
}

// bearerToken finds an `Authorization: Bearer` token.
func bearerToken(h http.Header) (string, bool) {
	v := h["Authorization"]
	if len(v) != 1 || len(v[0]) < 8 || !strings.EqualFold(v[0][:7], "bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(v[0][7:])
	return tok, tok != ""
}

// bearerAccess checks a token: a JWT against the provider's key set
// (bearer), an opaque one by introspection (introspection).
func (in *instance) bearerAccess(c *plugin.Ctx, tok string) error {
	jwt := strings.Count(tok, ".") == 2
	if jwt && !in.bearer || !jwt && !in.introspection {
		return in.unauthenticated(c, true)
	}
	if in.providerDown() {
		return providerError(c)
	}
	// The check (discovery first, if the background one has not
	// succeeded yet) is bounded by the verifier's timeout; the client's
	// context ends the wait when the client goes.
	cl, err := in.v.Verify(c.Req.Context(), tok)
	switch {
	case err == nil:
	case errors.Is(err, oidc.ErrInvalidToken):
		return in.unauthenticated(c, true)
	default:
		if errors.Is(err, oidc.ErrNotReady) && c.Req.Context().Err() == nil {
			in.discoveryFailed.Store(in.now().UnixNano())
		}
		return providerError(c)
	}
	if err := in.authorize(c, cl); err != nil {
		return err
	}
	if in.hideCredentials {
		delete(c.Req.Header, "Authorization")
	}
	return nil
}

// authorize checks a verified token's claims (audience, scopes), finds
// its consumer, and passes the claims on: to later plugins (c.Claims) and
// to the upstream's headers.
func (in *instance) authorize(c *plugin.Ctx, cl *oidc.Claims) error {
	if len(in.audienceRequired) > 0 && !anyIn(cl.Audience, in.audienceRequired) {
		return in.forbidden("invalid_token")
	}
	if len(in.scopesRequired) > 0 && !in.hasScopes(cl) {
		return in.forbidden("insufficient_scope")
	}
	if in.consumerClaim != "" {
		consumer, ok := in.findConsumer(c, cl)
		switch {
		case ok:
			plugin.Authenticate(c, &plugin.Credential{ID: cl.Subject, Consumer: consumer})
		case !in.consumerOptional:
			return in.forbidden("")
		}
	}
	c.Claims = cl
	for i, claim := range in.headerClaims {
		if v, ok := cl.Claim(claim); ok && oidc.HeaderValue(v) != nil {
			c.Req.Header[in.headerNames[i]] = []string{v}
		} else {
			delete(c.Req.Header, in.headerNames[i])
		}
	}
	return nil
}

// dropClaimHeaders removes client-sent copies of the claim headers from a
// request that goes on without claims (anonymous), so none is taken for
// the provider's word.
func (in *instance) dropClaimHeaders(h http.Header) {
	for _, n := range in.headerNames {
		delete(h, n)
	}
}

// hasScopes is Kong's: any entry of scopes_required whose every
// space-separated scope the token carries.
func (in *instance) hasScopes(cl *oidc.Claims) bool {
	for _, all := range in.scopesRequired {
		ok := true
		for _, s := range all {
			if !cl.HasScope(s) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// findConsumer looks the consumer_claim's value up by each consumer_by.
func (in *instance) findConsumer(c *plugin.Ctx, cl *oidc.Claims) (*plugin.Consumer, bool) {
	v, ok := cl.Claim(in.consumerClaim)
	if !ok || v == "" || c.Directory == nil {
		return nil, false
	}
	for _, by := range in.consumerBy {
		switch by {
		case "id":
			if cons, ok := c.Directory.Consumer(v); ok && cons.ID == v {
				return cons, true
			}
		case "username":
			if cons, ok := c.Directory.Consumer(v); ok && cons.Username == v {
				return cons, true
			}
		case "custom_id":
			if cons, ok := c.Directory.ConsumerByCustomID(v); ok {
				return cons, true
			}
		}
	}
	return nil, false
}

// unauthenticated answers a request without valid credentials: a browser
// (Accept: text/html) is sent to log in when authorization_code is on;
// else a failure (the anonymous consumer when configured):
// unauthorized_redirect_uri, else 401 (RFC 6750: error="invalid_token"
// when a token was sent).
func (in *instance) unauthenticated(c *plugin.Ctx, tokenSent bool) error {
	if !tokenSent && in.authCode && wantsHTML(c.Req) {
		return in.startLogin(c)
	}
	if in.unauthorizedRedirect != "" {
		return failure{&plugin.Exit{Status: http.StatusFound, Body: []byte{}, Header: http.Header{"Location": {in.unauthorizedRedirect}}}}
	}
	challenge := "Bearer"
	if tokenSent {
		challenge = `Bearer error="invalid_token"`
	}
	return failure{&plugin.Exit{Status: http.StatusUnauthorized, Message: in.unauthorizedMsg,
		Header: http.Header{"Www-Authenticate": {challenge}}}}
}

func (in *instance) forbidden(errCode string) error {
	e := &plugin.Exit{Status: http.StatusForbidden, Message: in.forbiddenMsg}
	if errCode != "" {
		e.Header = http.Header{"Www-Authenticate": {`Bearer error="` + errCode + `"`}}
	}
	return failure{e}
}

// wantsHTML reports whether the client is a browser navigating: a GET or
// HEAD accepting text/html.
func wantsHTML(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	for _, a := range r.Header["Accept"] {
		if strings.Contains(a, "text/html") {
			return true
		}
	}
	return false
}

func anyIn(have, want []string) bool {
	for _, h := range have {
		if contains(want, h) {
			return true
		}
	}
	return false
}
