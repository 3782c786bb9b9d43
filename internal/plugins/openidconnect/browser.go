package openidconnect

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cookie"
	"github.com/turnpikegw/turnpike/internal/plugin/oidc"
)

// authzData is what the authorization cookie holds while a login is under
// way: the state, nonce and PKCE verifier sent to the provider, the
// redirect URI used, and where the browser was going.
type authzData struct {
	created                                       int64
	state, nonce, verifier, redirectURI, original string
}

// maxOriginal bounds the URL the browser returns to after login; a longer
// one loses its query (the cookie must stay one cookie).
const maxOriginal = 2048

func (a *authzData) encode() []byte {
	out := binary.BigEndian.AppendUint64(nil, uint64(a.created))
	return cookie.AppendStrings(out, a.state, a.nonce, a.verifier, a.redirectURI, a.original)
}

func (a *authzData) decode(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	a.created = int64(binary.BigEndian.Uint64(b))
	return cookie.ReadStrings(b[8:], &a.state, &a.nonce, &a.verifier, &a.redirectURI, &a.original)
}

func (in *instance) oauth2Config(authURL, tokenURL, redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: in.clientID, ClientSecret: in.clientSecret, RedirectURL: redirectURI, Scopes: in.scopes,
		Endpoint: oauth2.Endpoint{AuthURL: authURL, TokenURL: tokenURL},
	}
}

// metadata is the provider's metadata, discovered now when the
// background discovery has not succeeded yet (the verifier shares one
// attempt among the requests that wait), but not again for a while after
// a failure.
func (in *instance) metadata(ctx context.Context) (*oidc.Metadata, error) {
	if in.providerDown() {
		return nil, errProvider
	}
	if m := in.v.Discovered(ctx); m != nil {
		return m, nil
	}
	if ctx.Err() == nil {
		in.discoveryFailed.Store(in.now().UnixNano())
	}
	return nil, errProvider
}

// endpoints are the authorization and token endpoints: configured, else
// discovered.
func (in *instance) endpoints(ctx context.Context) (authURL, tokenURL string, err error) {
	authURL, tokenURL = in.authURL, in.tokenURL
	if authURL != "" && tokenURL != "" {
		return authURL, tokenURL, nil
	}
	m, err := in.metadata(ctx)
	if err != nil {
		return "", "", err
	}
	if authURL == "" {
		authURL = m.AuthorizationEndpoint
	}
	if tokenURL == "" {
		tokenURL = m.TokenEndpoint
	}
	if authURL == "" || tokenURL == "" {
		return "", "", errProvider
	}
	return authURL, tokenURL, nil
}

// startLogin sends the browser to the provider's authorization endpoint
// (code flow with state, nonce and PKCE S256), remembering the login in
// the authorization cookie.
func (in *instance) startLogin(c *plugin.Ctx) error {
	authURL, tokenURL, err := in.endpoints(c.Req.Context())
	if err != nil {
		return providerError(c)
	}
	a := authzData{
		created: in.now().Unix(), state: cookie.RandomString(24), nonce: cookie.RandomString(24),
		verifier: oauth2.GenerateVerifier(), redirectURI: in.redirectURI, original: originalURL(c.Req),
	}
	if a.redirectURI == "" {
		a.redirectURI = c.Scheme + "://" + c.Req.Host + c.Req.URL.EscapedPath()
	}
	opts := []oauth2.AuthCodeOption{gooidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier)}
	if len(in.audienceParam) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("audience", strings.Join(in.audienceParam, " ")))
	}
	location := in.oauth2Config(authURL, tokenURL, a.redirectURI).AuthCodeURL(a.state, opts...)
	sealed := in.authzSeal.Seal(a.encode())
	if len(sealed) > cookie.ChunkSize {
		a.original = "/"
		sealed = in.authzSeal.Seal(a.encode())
	}
	set := in.authzName + "=" + sealed + in.authzAttrs[in.secureIndex(c)] + "; Max-Age=" + strconv.FormatInt(in.authzTTL, 10)
	return &plugin.Exit{Status: http.StatusFound, Body: []byte{},
		Header: http.Header{"Location": {location}, "Set-Cookie": {set}, "Cache-Control": {"no-store"}}}
}

// originalURL is the request's path and query, to return to after login:
// a path on this host, never another origin.
func originalURL(r *http.Request) string {
	u := r.URL.EscapedPath()
	if !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") || strings.Contains(u, `\`) {
		u = "/"
	}
	if r.URL.RawQuery != "" && len(u)+1+len(r.URL.RawQuery) <= maxOriginal {
		u += "?" + r.URL.RawQuery
	}
	if len(u) > maxOriginal {
		u = "/"
	}
	return u
}

// isCallback reports whether the request is the provider's redirect back:
// state and code (or error) in the query, at the redirect URI's path when
// one is configured.
func (in *instance) isCallback(r *http.Request) bool {
	q := r.URL.RawQuery
	if !strings.Contains(q, "state=") || !strings.Contains(q, "code=") && !strings.Contains(q, "error=") {
		return false
	}
	if in.redirectPath != "" && in.redirectPath != r.URL.EscapedPath() {
		return false
	}
	_, ok := cookie.Get(r.Header, in.authzName)
	return ok
}

// callback completes a login: the state must be the one the browser's
// authorization cookie holds, the code is exchanged (with the PKCE
// verifier), the ID token verified (issuer, audience, expiry, signature,
// nonce); the session cookie is set and the browser sent back where it
// was going. A login that does not check out is 401.
func (in *instance) callback(c *plugin.Ctx) error {
	clear := in.authzName + "=" + in.authzAttrs[in.secureIndex(c)] + cookie.Expired
	fail := func(msg string) error {
		in.log.Info("openid-connect: login refused", "reason", msg)
		return &plugin.Exit{Status: http.StatusUnauthorized, Message: in.unauthorizedMsg,
			Header: http.Header{"Set-Cookie": {clear}}}
	}
	raw, _ := cookie.Get(c.Req.Header, in.authzName)
	var a authzData
	plain, ok := in.authzSeal.Open(raw)
	if !ok || !a.decode(plain) || in.now().Unix() >= a.created+in.authzTTL {
		return fail("no login under way (authorization cookie missing, altered or expired)")
	}
	q, _ := url.ParseQuery(c.Req.URL.RawQuery)
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(a.state)) != 1 {
		return fail("state mismatch")
	}
	if e := q.Get("error"); e != "" {
		return fail("the provider answered " + e)
	}
	authURL, tokenURL, err := in.endpoints(c.Req.Context())
	if err != nil {
		return providerError(c)
	}
	idv, err := in.idTokens()
	if err != nil {
		return providerError(c)
	}
	ctx, cancel := context.WithTimeout(context.WithValue(c.Req.Context(), oauth2.HTTPClient, in.v.Client()), in.timeout)
	defer cancel()
	tok, err := in.oauth2Config(authURL, tokenURL, a.redirectURI).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(a.verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return fail("code exchange refused: " + re.ErrorCode)
		}
		return providerError(c)
	}
	rawID, _ := tok.Extra("id_token").(string)
	id, err := idv.Verify(ctx, rawID)
	if err != nil {
		return fail("ID token: " + err.Error())
	}
	if subtle.ConstantTimeCompare([]byte(id.Nonce), []byte(a.nonce)) != 1 {
		return fail("ID token: nonce mismatch")
	}
	d := in.newSession(tok, rawID)
	lines, ok := in.sessionCookies(c, d)
	if !ok {
		return fail("the tokens are too large for the session cookie")
	}
	return &plugin.Exit{Status: http.StatusFound, Body: []byte{},
		Header: http.Header{"Location": {a.original}, "Set-Cookie": append(lines, clear), "Cache-Control": {"no-store"}}}
}
