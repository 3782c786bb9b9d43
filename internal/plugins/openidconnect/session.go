package openidconnect

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"strings"

	"golang.org/x/oauth2"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cookie"
	"github.com/turnpikegw/turnpike/internal/plugin/oidc"
)

// sessionData is what the session cookie holds: the session's times
// (Unix seconds: created for the absolute timeout, issued for the rolling
// and idling ones), when the access token expires (0: unknown), the
// tokens and the granted scopes.
type sessionData struct {
	created, issued, accessExpiry             int64
	idToken, accessToken, refreshToken, scope string
}

func (d *sessionData) fields() []*string {
	return []*string{&d.idToken, &d.accessToken, &d.refreshToken, &d.scope}
}

func (d *sessionData) encode() []byte {
	out := make([]byte, 0, 24+8+len(d.idToken)+len(d.accessToken)+len(d.refreshToken)+len(d.scope))
	out = binary.BigEndian.AppendUint64(out, uint64(d.created))
	out = binary.BigEndian.AppendUint64(out, uint64(d.issued))
	out = binary.BigEndian.AppendUint64(out, uint64(d.accessExpiry))
	return appendStrings(out, d.fields())
}

func (d *sessionData) decode(b []byte) bool {
	if len(b) < 24 {
		return false
	}
	d.created = int64(binary.BigEndian.Uint64(b))
	d.issued = int64(binary.BigEndian.Uint64(b[8:]))
	d.accessExpiry = int64(binary.BigEndian.Uint64(b[16:]))
	return readStrings(b[24:], d.fields())
}

// errSessionOver says a session cookie no longer authenticates (its
// access token expired and could not be refreshed): the request goes on
// as one without a session.
var errSessionOver = errors.New("session over")

// newSession is the session a token response begins.
func (in *instance) newSession(tok *oauth2.Token, rawID string) *sessionData {
	now := in.now().Unix()
	d := &sessionData{created: now, issued: now, idToken: rawID, accessToken: tok.AccessToken,
		refreshToken: tok.RefreshToken, scope: strings.Join(in.scopes, " ")}
	if s, ok := tok.Extra("scope").(string); ok && s != "" {
		d.scope = s
	}
	if !tok.Expiry.IsZero() {
		d.accessExpiry = tok.Expiry.Unix()
	}
	return d
}

// sessionCookies are the Set-Cookie lines that store d; ok is false when
// it does not fit in cookie.MaxChunks cookies.
func (in *instance) sessionCookies(c *plugin.Ctx, d *sessionData) ([]string, bool) {
	h := http.Header{}
	ok := cookie.SetChunked(h, c.Req.Header, in.sessionName, in.sessionSeal.Seal(d.encode()), in.cookieAttrsFor(c))
	return h["Set-Cookie"], ok
}

// openSession reads the session cookie; nil when there is none, or it
// does not open (altered, of another key) or its time is up.
func (in *instance) openSession(c *plugin.Ctx) *sessionData {
	v, ok := cookie.GetChunked(c.Req.Header, in.sessionName)
	if !ok {
		return nil
	}
	plain, ok := in.sessionSeal.Open(v)
	if !ok {
		return nil
	}
	d := &sessionData{}
	if !d.decode(plain) || !in.valid(d, in.now().Unix()) {
		return nil
	}
	return d
}

// valid checks the cookie's times: issued neither in the future (beyond a
// minute of clock difference between nodes) nor before the session
// began, and every timeout that is on (not 0) still running.
func (in *instance) valid(d *sessionData, now int64) bool {
	if d.issued > now+60 || d.created > d.issued {
		return false
	}
	return (in.idling == 0 || now < d.issued+in.idling) &&
		(in.rolling == 0 || now < d.issued+in.rolling) &&
		(in.absolute == 0 || now < d.created+in.absolute)
}

// renewAfter is how long a cookie is used before it is issued again (with
// a fresh nonce: rotation): a quarter of its shortest window that is on,
// so a session in use stays within its idling and rolling timeouts.
func (in *instance) renewAfter() int64 {
	w := int64(0)
	for _, t := range []int64{in.idling, in.rolling} {
		if t > 0 && (w == 0 || t < w) {
			w = t
		}
	}
	if w == 0 {
		return 1<<62 - 1
	}
	return max(w/4, 1)
}

// sessionAccess authenticates a request by its session: the ID token's
// claims (verified when the session began; the cookie is authenticated)
// go through the same checks as a bearer token's, the access token is
// passed upstream, and the cookie is renewed when due. An expired access
// token is refreshed when refresh_token is on and the session has one.
func (in *instance) sessionAccess(c *plugin.Ctx, d *sessionData) error {
	now := in.now().Unix()
	renew := now-d.issued >= in.renewAfter()
	if d.accessExpiry != 0 && now >= d.accessExpiry {
		if !in.refresh || d.refreshToken == "" || !in.refreshTokens(c, d) {
			return errSessionOver
		}
		renew = true
	}
	cl, err := idTokenClaims(d)
	if err != nil {
		return errSessionOver
	}
	if err := in.authorize(c, cl); err != nil {
		return err
	}
	if in.tokenHeader != "" && d.accessToken != "" && safeHeaderValue(d.accessToken) {
		c.Req.Header[in.tokenHeader] = []string{in.tokenPrefix + d.accessToken}
	}
	if in.hideCredentials {
		stripCookies(c.Req.Header, in.sessionName)
	}
	if renew {
		d.issued = now
		if lines, ok := in.sessionCookies(c, d); ok {
			in.setCookiesLater(c, lines)
		}
	}
	return nil
}

// refreshTokens trades the refresh token for new tokens at the token
// endpoint, updating d; false when the provider refuses or fails.
func (in *instance) refreshTokens(c *plugin.Ctx, d *sessionData) bool {
	authURL, tokenURL, err := in.endpoints()
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithValue(c.Req.Context(), oauth2.HTTPClient, in.v.Client()), in.timeout)
	defer cancel()
	tok, err := in.oauth2Config(authURL, tokenURL, "").TokenSource(ctx, &oauth2.Token{RefreshToken: d.refreshToken}).Token()
	if err != nil {
		in.log.Info("openid-connect: refresh refused", "error", err.Error())
		return false
	}
	if rawID, ok := tok.Extra("id_token").(string); ok && rawID != "" {
		idv, err := in.idTokens()
		if err != nil {
			return false
		}
		if _, err := idv.Verify(ctx, rawID); err != nil {
			return false
		}
		d.idToken = rawID
	}
	d.accessToken, d.accessExpiry = tok.AccessToken, 0
	if tok.RefreshToken != "" {
		d.refreshToken = tok.RefreshToken
	}
	if !tok.Expiry.IsZero() {
		d.accessExpiry = tok.Expiry.Unix()
	}
	return true
}

// idTokenClaims reads the session's ID token's claims; the scopes are the
// granted ones when the token names none.
func idTokenClaims(d *sessionData) (*oidc.Claims, error) {
	parts := strings.SplitN(d.idToken, ".", 3)
	if len(parts) != 3 {
		return nil, errSessionOver
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	cl, err := oidc.ParseClaims(payload)
	if err != nil {
		return nil, err
	}
	if len(cl.Scopes) == 0 {
		cl.Scope = d.scope
		cl.Scopes = strings.Fields(d.scope)
	}
	return cl, nil
}

// stripCookies removes the session's chunks from the Cookie headers sent
// upstream (hide_credentials).
func stripCookies(h http.Header, name string) {
	lines := h["Cookie"]
	out := lines[:0]
	for _, line := range lines {
		var kept []string
		for _, part := range strings.Split(line, ";") {
			k, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k == name || strings.HasPrefix(k, name+"_") {
				continue
			}
			kept = append(kept, strings.TrimSpace(part))
		}
		if len(kept) > 0 {
			out = append(out, strings.Join(kept, "; "))
		}
	}
	if len(out) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = out
}
