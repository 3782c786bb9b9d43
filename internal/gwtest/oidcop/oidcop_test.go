package oidcop_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
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
			{ID: "svc", Secret: "svc-secret", JWTAccessTokens: true},
			{ID: "opaque-svc", Secret: "opaque-secret"},
			{ID: "short", Secret: "short-secret", JWTAccessTokens: true, AccessTokenLifetime: 2 * time.Second},
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
	resp, err := http.PostForm(p.IntrospectionEndpoint, url.Values{"token": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
