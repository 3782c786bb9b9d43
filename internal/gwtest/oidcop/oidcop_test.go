package oidcop_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/turnpikegw/turnpike/internal/gwtest/oidcop"
)

const (
	callback  = "http://127.0.0.1:1/cb"
	loggedOut = "http://127.0.0.1:1/bye"
)

func start(t *testing.T) *oidcop.Provider {
	t.Helper()
	return oidcop.Start(t, oidcop.Options{
		Clients: []oidcop.Client{
			{ID: "web", Secret: "web-secret", RedirectURIs: []string{callback}, PostLogoutRedirectURIs: []string{loggedOut}},
			{ID: "spa", RedirectURIs: []string{callback}},
			{ID: "web-jwt", Secret: "web-secret", RedirectURIs: []string{callback}, JWTAccessTokens: true},
			{ID: "svc", Secret: "svc-secret", JWTAccessTokens: true},
			{ID: "opaque-svc", Secret: "opaque-secret"},
			{ID: "short", Secret: "short-secret", JWTAccessTokens: true, AccessTokenLifetime: 2 * time.Second},
			{ID: "short-opaque", Secret: "short-secret", AccessTokenLifetime: 2 * time.Second},
			{ID: "gateway", Secret: "gw-secret", Introspect: true, GrantTypes: []string{}},
		},
		Users: []oidcop.User{{
			Username: "alice", Password: "alice-pw", Subject: "u-alice", Email: "alice@example.com", EmailVerified: true,
			Claims: map[string]any{"groups": []string{"admins", "dev"}},
		}},
	})
}

func webConfig(t *testing.T, p *oidcop.Provider) (*oidc.Provider, *oauth2.Config) {
	t.Helper()
	prov, err := oidc.NewProvider(context.Background(), p.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return prov, &oauth2.Config{
		ClientID: "web", ClientSecret: "web-secret", Endpoint: prov.Endpoint(), RedirectURL: callback,
		Scopes: []string{oidc.ScopeOpenID, "email", "profile", oidc.ScopeOfflineAccess, "orders:read"},
	}
}

func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// login runs the code flow with PKCE through the login form and exchanges
// the code.
func login(t *testing.T, p *oidcop.Provider, conf *oauth2.Config) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n0nce"))
	got := p.Login(t, browser(t), authURL, "alice", "alice-pw")
	if got.Host != "127.0.0.1:1" || got.Path != "/cb" || got.Query().Get("state") != "st4te" {
		t.Fatalf("redirected to %s", got)
	}
	tok, err := conf.Exchange(context.Background(), got.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

func introspect(t *testing.T, p *oidcop.Provider, id, secret, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.IntrospectionEndpoint, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("introspection: %s %s", resp.Status, b)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func clientCredentials(t *testing.T, p *oidcop.Provider, id, secret string) *oauth2.Token {
	t.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: p.TokenEndpoint, Scopes: []string{"orders:read"}}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatalf("client_credentials: %v", err)
	}
	return tok
}

func TestDiscoveryDocument(t *testing.T) {
	p := start(t)
	if !strings.HasPrefix(p.Issuer, "http://127.0.0.1:") {
		t.Fatalf("issuer %q", p.Issuer)
	}
	for name, u := range map[string]string{
		"authorization": p.AuthorizationEndpoint, "token": p.TokenEndpoint, "introspection": p.IntrospectionEndpoint,
		"revocation": p.RevocationEndpoint, "jwks": p.JWKSURI, "userinfo": p.UserinfoEndpoint, "end_session": p.EndSessionEndpoint,
	} {
		if !strings.HasPrefix(u, p.Issuer+"/") {
			t.Errorf("%s endpoint %q", name, u)
		}
	}
	var jwks struct {
		Keys []struct{ Kid, Kty, Alg, Use string }
	}
	getJSON(t, p.JWKSURI, &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0].Kty != "RSA" || jwks.Keys[0].Alg != "RS256" || jwks.Keys[0].Use != "sig" {
		t.Fatalf("jwks %+v", jwks)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestCodeFlowPKCEAndIDToken(t *testing.T) {
	p := start(t)
	prov, conf := webConfig(t, p)
	tok := login(t, p, conf)
	raw, _ := tok.Extra("id_token").(string)
	idt, err := prov.Verifier(&oidc.Config{ClientID: "web"}).Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("verify id token: %v", err)
	}
	var claims struct {
		Sub, Email, Nonce, PreferredUsername string
		Groups                               []string
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != "u-alice" || idt.Nonce != "n0nce" || claims.Email != "alice@example.com" || len(claims.Groups) != 2 {
		t.Fatalf("id token claims %+v", claims)
	}
	if tok.RefreshToken == "" || tok.AccessToken == "" {
		t.Fatalf("token %+v", tok)
	}
	info, err := prov.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	if err != nil || info.Email != "alice@example.com" || info.Subject != "u-alice" {
		t.Fatalf("userinfo %+v, %v", info, err)
	}
	if _, err := prov.Verifier(&oidc.Config{ClientID: "spa"}).Verify(context.Background(), raw); err == nil {
		t.Fatal("an ID token of client web verified for client spa")
	}
}

func TestCodeIsSingleUseAndBoundToVerifier(t *testing.T) {
	p := start(t)
	_, conf := webConfig(t, p)
	verifier := oauth2.GenerateVerifier()
	got := p.Login(t, browser(t), conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice", "alice-pw")
	code := got.Query().Get("code")
	if _, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption("wrong-"+verifier)); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("wrong verifier: %v", err)
	}
	got = p.Login(t, browser(t), conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice", "alice-pw")
	code = got.Query().Get("code")
	if _, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}
	if _, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("second use of a code: %v", err)
	}
}

func TestPublicClientNeedsPKCE(t *testing.T) {
	p := start(t)
	_, conf := webConfig(t, p)
	conf.ClientID, conf.ClientSecret = "spa", ""
	got := p.Login(t, browser(t), conf.AuthCodeURL("s"), "alice", "alice-pw")
	if _, err := conf.Exchange(context.Background(), got.Query().Get("code")); !isOAuthError(err, "invalid_request") {
		t.Fatalf("public client without PKCE: %v", err)
	}
	login(t, p, conf)
}

func TestLoginWrongPassword(t *testing.T) {
	p := start(t)
	_, conf := webConfig(t, p)
	if _, err := p.TryLogin(browser(t), conf.AuthCodeURL("s"), "alice", "nope"); err == nil || !strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v", err)
	}
}

func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

func TestClientCredentialsJWT(t *testing.T) {
	p := start(t)
	tok := clientCredentials(t, p, "svc", "svc-secret")
	prov, _ := webConfig(t, p)
	at, err := prov.Verifier(&oidc.Config{ClientID: "svc"}).Verify(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatalf("verify access token: %v", err)
	}
	var claims struct {
		Scope    string
		ClientID string `json:"client_id"`
	}
	if err := at.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if at.Subject != "svc" || claims.Scope != "orders:read" || claims.ClientID != "svc" {
		t.Fatalf("claims %+v sub %q", claims, at.Subject)
	}
	if _, err := prov.Verifier(&oidc.Config{ClientID: "web"}).Verify(context.Background(), tok.AccessToken); err == nil {
		t.Fatal("svc's token verified with audience web")
	}
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: "bad", TokenURL: p.TokenEndpoint}
	if _, err := cc.Token(context.Background()); !isOAuthError(err, "invalid_client") {
		t.Fatalf("bad secret: %v", err)
	}
}

func TestIntrospection(t *testing.T) {
	p := start(t)
	tok := clientCredentials(t, p, "opaque-svc", "opaque-secret")
	if strings.Count(tok.AccessToken, ".") == 2 {
		t.Fatalf("opaque token looks like a JWT: %q", tok.AccessToken)
	}
	m := introspect(t, p, "gateway", "gw-secret", tok.AccessToken)
	if m["active"] != true || m["client_id"] != "opaque-svc" || m["scope"] != "orders:read" || m["sub"] != "opaque-svc" {
		t.Fatalf("introspection %v", m)
	}
	if exp, _ := m["exp"].(float64); time.Until(time.Unix(int64(exp), 0)) < 4*time.Minute {
		t.Fatalf("exp %v", m["exp"])
	}
	if m := introspect(t, p, "gateway", "gw-secret", "not-a-token"); m["active"] != false {
		t.Fatalf("garbage: %v", m)
	}
	// audience: client svc is not in the token's audience and is no resource server.
	if m := introspect(t, p, "svc", "svc-secret", tok.AccessToken); m["active"] != false {
		t.Fatalf("introspected by another client: %v", m)
	}
	if m := introspect(t, p, "opaque-svc", "opaque-secret", tok.AccessToken); m["active"] != true {
		t.Fatalf("introspected by its own client: %v", m)
	}
}

func TestIntrospectionNeedsClientAuth(t *testing.T) {
	p := start(t)
	tok := clientCredentials(t, p, "opaque-svc", "opaque-secret")
	// zitadel authenticates introspection by client_secret_basic (or a JWT
	// assertion) only: a posted secret is no authentication.
	post := url.Values{"token": {tok.AccessToken}, "client_id": {"gateway"}, "client_secret": {"gw-secret"}}
	resp, err := http.PostForm(p.IntrospectionEndpoint, post)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("client_secret_post: status %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, p.IntrospectionEndpoint, strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("gateway", "wrong")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong secret: status %d", resp.StatusCode)
	}
	resp, err = http.PostForm(p.IntrospectionEndpoint, url.Values{"token": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestRefreshRotates(t *testing.T) {
	p := start(t)
	_, conf := webConfig(t, p)
	tok := login(t, p, conf)
	old := *tok
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := conf.TokenSource(context.Background(), tok).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.AccessToken == old.AccessToken || fresh.RefreshToken == "" || fresh.RefreshToken == old.RefreshToken {
		t.Fatalf("refresh gave %+v", fresh)
	}
	if m := introspect(t, p, "gateway", "gw-secret", fresh.AccessToken); m["active"] != true || m["sub"] != "u-alice" || m["email"] != "alice@example.com" {
		t.Fatalf("new access token: %v", m)
	}
	if m := introspect(t, p, "gateway", "gw-secret", old.AccessToken); m["active"] != false {
		t.Fatalf("access token of the spent refresh token: %v", m)
	}
	old.Expiry = time.Now().Add(-time.Minute)
	if _, err := conf.TokenSource(context.Background(), &old).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("reuse of a spent refresh token: %v", err)
	}
	other := *conf
	other.ClientID, other.ClientSecret = "opaque-svc", "opaque-secret"
	if _, err := other.TokenSource(context.Background(), &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token(); err == nil {
		t.Fatal("a refresh token of client web worked for another client")
	}
}

// revoke posts an RFC 7009 revocation with client_secret_basic.
func revoke(t *testing.T, p *oidcop.Provider, id, secret, token, hint string) int {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	req, _ := http.NewRequest(http.MethodPost, p.RevocationEndpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRevocation(t *testing.T) {
	p := start(t)
	_, conf := webConfig(t, p)
	tok := login(t, p, conf)
	if code := revoke(t, p, "svc", "svc-secret", tok.AccessToken, "access_token"); code != http.StatusUnauthorized {
		t.Fatal("another client revoked web's token")
	}
	if m := introspect(t, p, "gateway", "gw-secret", tok.AccessToken); m["active"] != true {
		t.Fatalf("before revocation: %v", m)
	}
	if code := revoke(t, p, "web", "web-secret", tok.AccessToken, "access_token"); code != http.StatusOK {
		t.Fatalf("revocation: %d", code)
	}
	if m := introspect(t, p, "gateway", "gw-secret", tok.AccessToken); m["active"] != false {
		t.Fatalf("after revocation: %v", m)
	}
	if code := revoke(t, p, "web", "web-secret", "unknown-token", ""); code != http.StatusOK {
		t.Fatalf("revoking an unknown token: %d", code)
	}

	// A revoked refresh token takes its access token with it.
	tok = login(t, p, conf)
	if code := revoke(t, p, "web", "web-secret", tok.RefreshToken, "refresh_token"); code != http.StatusOK {
		t.Fatalf("refresh token revocation: %d", code)
	}
	if m := introspect(t, p, "gateway", "gw-secret", tok.AccessToken); m["active"] != false {
		t.Fatalf("access token after its refresh token's revocation: %v", m)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	if _, err := conf.TokenSource(context.Background(), tok).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("refresh with a revoked refresh token: %v", err)
	}

	// A JWT access token: its signature stays valid, introspection says inactive.
	jwt := clientCredentials(t, p, "svc", "svc-secret")
	if code := revoke(t, p, "svc", "svc-secret", jwt.AccessToken, ""); code != http.StatusOK {
		t.Fatalf("JWT revocation: %d", code)
	}
	if m := introspect(t, p, "gateway", "gw-secret", jwt.AccessToken); m["active"] != false {
		t.Fatalf("revoked JWT: %v", m)
	}
}

func TestExpiry(t *testing.T) {
	p := start(t)
	tok := clientCredentials(t, p, "short", "short-secret")
	opaque := clientCredentials(t, p, "short-opaque", "short-secret")
	if left := time.Until(tok.Expiry); left > 3*time.Second || left <= 0 {
		t.Fatalf("expires in %v", left)
	}
	prov, _ := webConfig(t, p)
	verifier := prov.Verifier(&oidc.Config{ClientID: "short"})
	if _, err := verifier.Verify(context.Background(), tok.AccessToken); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	for _, at := range []string{tok.AccessToken, opaque.AccessToken} {
		if m := introspect(t, p, "gateway", "gw-secret", at); m["active"] != true {
			t.Fatalf("fresh token: %v", m)
		}
	}
	time.Sleep(time.Until(tok.Expiry) + 1100*time.Millisecond)
	var expired *oidc.TokenExpiredError
	if _, err := verifier.Verify(context.Background(), tok.AccessToken); !errors.As(err, &expired) {
		t.Fatalf("expired token verified: %v", err)
	}
	for _, at := range []string{tok.AccessToken, opaque.AccessToken} {
		if m := introspect(t, p, "gateway", "gw-secret", at); m["active"] != false {
			t.Fatalf("expired token: %v", m)
		}
	}
}

func TestAudience(t *testing.T) {
	p := start(t)
	_, conf := webConfig(t, p)
	tok := login(t, p, conf)
	if m := introspect(t, p, "svc", "svc-secret", tok.AccessToken); m["active"] != false {
		t.Fatalf("web's token introspected by svc: %v", m)
	}
	m := introspect(t, p, "gateway", "gw-secret", tok.AccessToken)
	aud, _ := m["aud"].([]any)
	if m["active"] != true || len(aud) != 1 || aud[0] != "web" || m["client_id"] != "web" {
		t.Fatalf("web's token introspected by the resource server: %v", m)
	}
}

func TestKeyRotation(t *testing.T) {
	p := start(t)
	prov, _ := webConfig(t, p)
	verifier := prov.Verifier(&oidc.Config{ClientID: "svc"})
	before := clientCredentials(t, p, "svc", "svc-secret")
	if _, err := verifier.Verify(context.Background(), before.AccessToken); err != nil {
		t.Fatal(err)
	}
	if err := p.RotateKey(); err != nil {
		t.Fatal(err)
	}
	after := clientCredentials(t, p, "svc", "svc-secret")
	if kid(t, before.AccessToken) == kid(t, after.AccessToken) {
		t.Fatal("the token after RotateKey has the old key id")
	}
	// The verifier's key set cached the old key: an unknown kid refetches the JWKS.
	if _, err := verifier.Verify(context.Background(), after.AccessToken); err != nil {
		t.Fatalf("token signed with the new key: %v", err)
	}
	if _, err := verifier.Verify(context.Background(), before.AccessToken); err != nil {
		t.Fatalf("token signed with the old, still published key: %v", err)
	}
	p.RetireOldKeys()
	var jwks struct{ Keys []struct{ Kid string } }
	getJSON(t, p.JWKSURI, &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0].Kid != kid(t, after.AccessToken) {
		t.Fatalf("jwks after RetireOldKeys: %+v", jwks)
	}
	fresh, _ := webConfig(t, p)
	if _, err := fresh.Verifier(&oidc.Config{ClientID: "svc"}).Verify(context.Background(), before.AccessToken); err == nil {
		t.Fatal("a token of a retired key verified")
	}
}

func kid(t *testing.T, jwt string) string {
	t.Helper()
	head, _, _ := strings.Cut(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(b, &h); err != nil || h.Kid == "" {
		t.Fatalf("header %s: %v", b, err)
	}
	return h.Kid
}

func TestPasswordGrantUnsupported(t *testing.T) {
	p := start(t)
	_, conf := webConfig(t, p)
	_, err := conf.PasswordCredentialsToken(context.Background(), "alice", "alice-pw")
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "unsupported_grant_type" || re.Response.StatusCode != http.StatusBadRequest {
		t.Fatalf("password grant: %v", err)
	}
}

func TestEndSession(t *testing.T) {
	p := start(t)
	_, conf := webConfig(t, p)
	tok := login(t, p, conf)
	idToken, _ := tok.Extra("id_token").(string)
	q := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {loggedOut}, "state": {"bye"}}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(p.EndSessionEndpoint + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || !strings.HasPrefix(loc.String(), loggedOut) || loc.Query().Get("state") != "bye" {
		t.Fatalf("end_session: %d %v %v", resp.StatusCode, loc, err)
	}
	if m := introspect(t, p, "gateway", "gw-secret", tok.AccessToken); m["active"] != false {
		t.Fatalf("access token after logout: %v", m)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	if _, err := conf.TokenSource(context.Background(), tok).Token(); err == nil {
		t.Fatal("refresh after logout worked")
	}
}

func TestUserJWTAccessToken(t *testing.T) {
	p := start(t)
	prov, conf := webConfig(t, p)
	conf.ClientID = "web-jwt"
	tok := login(t, p, conf)
	at, err := prov.Verifier(&oidc.Config{ClientID: "web-jwt"}).Verify(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatalf("verify access token: %v", err)
	}
	var claims struct {
		Scope  string
		Groups []string
	}
	if err := at.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if at.Subject != "u-alice" || claims.Scope != "openid email profile offline_access orders:read" || len(claims.Groups) != 2 {
		t.Fatalf("claims %+v sub %q", claims, at.Subject)
	}
}

// Login starts at the relying party: its redirect to the provider is followed.
func TestLoginFromRelyingParty(t *testing.T) {
	p := start(t)
	_, conf := webConfig(t, p)
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("rp", oauth2.S256ChallengeOption(verifier))
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "rp-state", Value: "rp"})
		http.Redirect(w, r, authURL, http.StatusFound)
	}))
	defer rp.Close()
	c := browser(t)
	got := p.Login(t, c, rp.URL+"/protected", "alice", "alice-pw")
	if got.Query().Get("state") != "rp" || got.Query().Get("code") == "" {
		t.Fatalf("redirected to %s", got)
	}
	u, _ := url.Parse(rp.URL)
	if cs := c.Jar.Cookies(u); len(cs) != 1 || cs[0].Value != "rp" {
		t.Fatalf("relying party cookie %v", cs)
	}
}

// An authorization request the provider refuses comes back as the client's
// redirect with error, before any form.
func TestLoginErrorRedirect(t *testing.T) {
	p := start(t)
	_, conf := webConfig(t, p)
	authURL := conf.AuthCodeURL("s", oauth2.SetAuthURLParam("prompt", "none"))
	got := p.Login(t, browser(t), authURL, "alice", "alice-pw")
	if got.Path != "/cb" || got.Query().Get("error") != "login_required" || got.Query().Get("state") != "s" {
		t.Fatalf("redirected to %s", got)
	}
}

// BenchmarkIntrospection is the cost of one uncached RFC 7662 check against
// this provider over loopback: what a gateway's introspection cache saves.
func BenchmarkIntrospection(b *testing.B) {
	p := oidcop.Start(b, oidcop.Options{Clients: []oidcop.Client{
		{ID: "svc", Secret: "svc-secret"}, {ID: "gateway", Secret: "gw-secret", Introspect: true},
	}})
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: "svc-secret", TokenURL: p.TokenEndpoint}
	tok, err := cc.Token(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	body := url.Values{"token": {tok.AccessToken}}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, p.IntrospectionEndpoint, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("gateway", "gw-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var m struct{ Active bool }
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if err != nil || !m.Active {
			b.Fatalf("introspection: %v %v", m, err)
		}
	}
}
