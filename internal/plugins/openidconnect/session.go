package openidconnect

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"
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

func (d *sessionData) encode() []byte {
	out := make([]byte, 0, 24+8+len(d.idToken)+len(d.accessToken)+len(d.refreshToken)+len(d.scope))
	out = binary.BigEndian.AppendUint64(out, uint64(d.created))
	out = binary.BigEndian.AppendUint64(out, uint64(d.issued))
	out = binary.BigEndian.AppendUint64(out, uint64(d.accessExpiry))
	return cookie.AppendStrings(out, d.idToken, d.accessToken, d.refreshToken, d.scope)
}

func (d *sessionData) decode(b []byte) bool {
	if len(b) < 24 {
		return false
	}
	d.created = int64(binary.BigEndian.Uint64(b))
	d.issued = int64(binary.BigEndian.Uint64(b[8:]))
	d.accessExpiry = int64(binary.BigEndian.Uint64(b[16:]))
	return cookie.ReadStrings(b[24:], &d.idToken, &d.accessToken, &d.refreshToken, &d.scope)
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
	ok := cookie.SetChunked(h, c.Req.Header, in.sessionName, in.sessionSeal.Seal(d.encode()), in.sessionAttrs[in.secureIndex(c)])
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
	if !d.decode(plain) || !in.life.Valid(d.created, d.issued, in.now().Unix()) {
		return nil
	}
	return d
}

// sessionAccess authenticates a request by its session: the ID token's
// claims (verified when the session began; the cookie is authenticated)
// go through the same checks as a bearer token's, the access token is
// passed upstream, and the cookie is renewed when due. An expired access
// token is refreshed when refresh_token is on and the session has one.
func (in *instance) sessionAccess(c *plugin.Ctx, d *sessionData) error {
	now := in.now().Unix()
	renew := in.life.RenewDue(d.issued, now)
	if d.accessExpiry != 0 && now >= d.accessExpiry {
		if !in.refresh || d.refreshToken == "" || !in.refreshTokens(c, d) {
			return errSessionOver
		}
		renew = true
	}
	cl, err := in.idTokenClaims(d)
	if err != nil {
		return errSessionOver
	}
	var lines []string
	if renew {
		d.issued = now
		var ok bool
		if lines, ok = in.sessionCookies(c, d); !ok {
			// Refreshed tokens too large for the cookie: a session kept
			// with the old ones would refresh on every request.
			in.log.Info("openid-connect: session over: the refreshed tokens do not fit in the session cookie")
			return errSessionOver
		}
	}
	if err := in.authorize(c, cl); err != nil {
		return err
	}
	if in.tokenHeader != "" && d.accessToken != "" && oidc.HeaderValue(d.accessToken) != nil {
		c.Req.Header[in.tokenHeader] = []string{in.tokenPrefix + d.accessToken}
	}
	if in.hideCredentials {
		cookie.StripChunked(c.Req.Header, in.sessionName)
	}
	if lines != nil {
		in.setCookiesLater(c, lines)
	}
	return nil
}

// refreshResult is a refresh's new tokens.
type refreshResult struct {
	idToken, accessToken, refreshToken string
	accessExpiry                       int64
}

// refreshKeep is how long a refresh's result serves the requests that
// still carry the refresh token it replaced: those the browser sent
// before the renewed cookie reached it.
const refreshKeep = time.Minute

// caches makes the instance's caches: sessions' claims (by ID token and
// scope, dropped after the longest a session goes unused) and recent
// refreshes (by refresh token).
func (in *instance) caches() {
	in.claims = otter.Must(&otter.Options[claimsKey, *oidc.Claims]{
		MaximumWeight: 16 << 20,
		Weigher: func(k claimsKey, _ *oidc.Claims) uint32 {
			// The claims take about as much again as the token's text.
			return uint32(2*len(k.idToken) + len(k.scope) + 256)
		},
		ExpiryCalculator: otter.ExpiryAccessing[claimsKey, *oidc.Claims](10 * time.Minute),
	})
	in.refreshed = otter.Must(&otter.Options[string, *refreshResult]{
		MaximumSize:      10_000,
		ExpiryCalculator: otter.ExpiryWriting[string, *refreshResult](refreshKeep),
	})
}

// refreshTokens trades the refresh token for new tokens at the token
// endpoint, updating d; false when the provider refuses or fails.
// Concurrent requests of one session share one call, which none of their
// clients' leaving cuts short (the timeout bounds it), and the requests
// that come shortly after with the old cookie get its result.
func (in *instance) refreshTokens(c *plugin.Ctx, d *sessionData) bool {
	old := d.refreshToken
	r, ok := in.refreshed.GetIfPresent(old)
	if !ok {
		ch := in.refreshes.DoChan(old, func() (any, error) {
			r, err := in.refreshCall(old)
			if err == nil {
				in.refreshed.Set(strings.Clone(old), r)
			}
			return r, err
		})
		select {
		case res := <-ch:
			if res.Err != nil {
				return false
			}
			r = res.Val.(*refreshResult)
		case <-c.Req.Context().Done():
			return false
		}
	}
	if r.idToken != "" {
		d.idToken = r.idToken
	}
	d.accessToken, d.accessExpiry = r.accessToken, r.accessExpiry
	if r.refreshToken != "" {
		d.refreshToken = r.refreshToken
	}
	return true
}

// refreshCall asks the token endpoint for new tokens and verifies a new
// ID token.
func (in *instance) refreshCall(refreshToken string) (*refreshResult, error) {
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), oauth2.HTTPClient, in.v.Client()), in.timeout)
	defer cancel()
	authURL, tokenURL, err := in.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := in.oauth2Config(authURL, tokenURL, "").TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		in.log.Info("openid-connect: refresh refused", "error", err.Error())
		return nil, err
	}
	r := &refreshResult{accessToken: tok.AccessToken, refreshToken: tok.RefreshToken}
	if rawID, ok := tok.Extra("id_token").(string); ok && rawID != "" {
		idv, err := in.idTokens()
		if err != nil {
			return nil, err
		}
		if _, err := idv.Verify(ctx, rawID); err != nil {
			in.log.Info("openid-connect: refreshed ID token refused", "error", err.Error())
			return nil, err
		}
		r.idToken = rawID
	}
	if !tok.Expiry.IsZero() {
		r.accessExpiry = tok.Expiry.Unix()
	}
	return r, nil
}

// claimsKey identifies a session's claims: its ID token and the granted
// scopes (the claims' scopes when the token names none).
type claimsKey struct{ idToken, scope string }

// idTokenClaims are the session's ID token's claims, parsed once per
// token and shared (read-only) by the requests of its session.
func (in *instance) idTokenClaims(d *sessionData) (*oidc.Claims, error) {
	key := claimsKey{d.idToken, d.scope}
	if cl, ok := in.claims.GetIfPresent(key); ok {
		return cl, nil
	}
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
	// The key's strings share the cookie's plaintext, tokens and all: the
	// cache keeps copies of its own.
	in.claims.Set(claimsKey{strings.Clone(d.idToken), strings.Clone(d.scope)}, cl)
	return cl, nil
}
