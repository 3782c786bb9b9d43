// Package oidcop is a real OpenID Connect provider and OAuth2 authorization
// server for tests: zitadel/oidc's op package with its example server (login
// form, authorization requests) and this package's clients, users, tokens and
// keys. It is test support; production code never imports it.
//
//	p := oidcop.Start(t, oidcop.Options{
//		Clients: []oidcop.Client{
//			{ID: "web", Secret: "s3cret", RedirectURIs: []string{cb}},
//			{ID: "spa", RedirectURIs: []string{cb}},                          // public: PKCE
//			{ID: "svc", Secret: "s", JWTAccessTokens: true, AccessTokenLifetime: 2 * time.Second},
//			{ID: "gateway", Secret: "gw", Introspect: true},                  // resource server
//		},
//		Users: []oidcop.User{{Username: "alice", Password: "pw", Email: "alice@example.com",
//			Claims: map[string]any{"groups": []string{"admins"}}}},
//	})
//	// p.Issuer (http://127.0.0.1:port), p.AuthorizationEndpoint, p.TokenEndpoint,
//	// p.IntrospectionEndpoint, p.RevocationEndpoint, p.JWKSURI,
//	// p.UserinfoEndpoint, p.EndSessionEndpoint come from its discovery document.
//	redirected := p.Login(t, httpClient, authCodeURL, "alice", "pw") // ...?code=&state=
//
// What it does, for real: discovery, JWKS (RS256), authorization code with
// PKCE (S256 and plain; required of public clients), refresh (rotating: the
// old refresh token and its access token stop working), client_credentials
// (confidential clients; sub = aud = the client), RFC 7662 introspection
// (client_secret_basic only, zitadel ignores a posted secret there; active
// only for a client in the token's audience or an Introspect client), RFC
// 7009 revocation (basic, posted secret, or a public client's client_id; by
// the client the token was issued to, else 401 invalid_client; a refresh
// token takes its access token with it),
// userinfo, expiry (per-client lifetimes, checked by introspection, userinfo
// and the JWT's exp), and end_session with id_token_hint (the user's tokens at
// that client stop working; redirect to a registered post-logout URI).
// The audience of every token is the client it was issued to.
//
// Not supported, as zitadel/oidc does not: the password grant (its token
// endpoint answers 400 {"error":"unsupported_grant_type"}), and single
// sign-on sessions: every authorization request shows the login form, so
// prompt=none fails with login_required.
//
// RotateKey adds a new signing key: new tokens are signed with it, and the
// JWKS publishes it beside the old ones, so tokens signed before stay
// verifiable; RetireOldKeys then drops all but the newest from the JWKS.
//
// The provider logs one line per request through the default slog logger
// (zitadel's example server does).
package oidcop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
)

// Options configure a provider; AddClient and AddUser register more later.
type Options struct {
	Clients []Client
	Users   []User
}

// Provider is a running provider. The URLs are those of its discovery document.
type Provider struct {
	Issuer                string
	AuthorizationEndpoint string
	TokenEndpoint         string
	IntrospectionEndpoint string
	RevocationEndpoint    string
	JWKSURI               string
	UserinfoEndpoint      string
	EndSessionEndpoint    string

	host  string
	store *store
}

// Start serves a provider on a free 127.0.0.1 port over plain HTTP (the
// insecure issuer is allowed); t.Cleanup stops it.
func Start(t testing.TB, opts Options) *Provider {
	t.Helper()
	st, err := newStore()
	if err != nil {
		t.Fatalf("oidcop: signing key: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("oidcop: listen: %v", err)
	}
	p := &Provider{Issuer: "http://" + ln.Addr().String(), host: ln.Addr().String(), store: st}
	srv := &http.Server{
		Handler:           exampleop.SetupServer(p.Issuer, st, nil, false),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	for _, c := range opts.Clients {
		p.AddClient(c)
	}
	for _, u := range opts.Users {
		p.AddUser(u)
	}
	if err := p.discover(); err != nil {
		t.Fatalf("oidcop: %v", err)
	}
	return p
}

// AddClient registers (or replaces) a client.
func (p *Provider) AddClient(c Client) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.clients[c.ID] = newClient(c)
}

// AddUser registers (or replaces) a user.
func (p *Provider) AddUser(u User) { p.store.users.add(u) }

// RotateKey makes a new signing key current; the old keys stay published.
func (p *Provider) RotateKey() error {
	k, err := newSigningKey()
	if err != nil {
		return err
	}
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.keys = append(p.store.keys, k)
	return nil
}

// RetireOldKeys unpublishes every key but the current one: tokens they
// signed no longer verify.
func (p *Provider) RetireOldKeys() {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.keys = p.store.keys[len(p.store.keys)-1:]
}

func (p *Provider) discover() error {
	var doc struct {
		Issuer                string `json:"issuer"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
		RevocationEndpoint    string `json:"revocation_endpoint"`
		JWKSURI               string `json:"jwks_uri"`
		UserinfoEndpoint      string `json:"userinfo_endpoint"`
		EndSessionEndpoint    string `json:"end_session_endpoint"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	if doc.Issuer != p.Issuer {
		return fmt.Errorf("discovery: issuer %q, want %q", doc.Issuer, p.Issuer)
	}
	p.AuthorizationEndpoint, p.TokenEndpoint = doc.AuthorizationEndpoint, doc.TokenEndpoint
	p.IntrospectionEndpoint, p.RevocationEndpoint = doc.IntrospectionEndpoint, doc.RevocationEndpoint
	p.JWKSURI, p.UserinfoEndpoint, p.EndSessionEndpoint = doc.JWKSURI, doc.UserinfoEndpoint, doc.EndSessionEndpoint
	return nil
}

// Login drives the provider's own login form as a browser would: it requests
// authURL with c (nil: a client without a cookie jar), follows the redirects
// to the form, posts the username and password, follows the redirects back
// and returns the first redirect leaving the provider (the client's
// redirect_uri with code and state, or with error). authURL is an
// authorization request or a relying party's URL that redirects to one; c's
// jar, if any, keeps the cookies both set.
func (p *Provider) Login(t testing.TB, c *http.Client, authURL, username, password string) *url.URL {
	t.Helper()
	u, err := p.TryLogin(c, authURL, username, password)
	if err != nil {
		t.Fatalf("oidcop: login: %v", err)
	}
	return u
}

var (
	formAction = regexp.MustCompile(`<form method="POST" action="([^"]*)"`)
	formID     = regexp.MustCompile(`<input type="hidden" name="id" value="([^"]*)">`)
	formError  = regexp.MustCompile(`<p style="color:red[^"]*">([^<]*)</p>`)
)

// TryLogin is Login returning its error (e.g. the form's "username or
// password wrong") instead of failing the test.
func (p *Provider) TryLogin(c *http.Client, authURL, username, password string) (*url.URL, error) {
	if c == nil {
		c = &http.Client{}
	}
	hc := *c
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != p.host && via[len(via)-1].URL.Host == p.host {
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		return nil
	}
	if hc.Timeout == 0 {
		hc.Timeout = 10 * time.Second
	}
	page, out, err := step(&hc, http.MethodGet, authURL, nil)
	if err != nil || out != nil {
		return out, err
	}
	action, id := formAction.FindStringSubmatch(page), formID.FindStringSubmatch(page)
	if action == nil || id == nil {
		return nil, fmt.Errorf("no login form in %.200q", page)
	}
	form := url.Values{"id": {html.UnescapeString(id[1])}, "username": {username}, "password": {password}}
	page, out, err = step(&hc, http.MethodPost, p.Issuer+html.UnescapeString(action[1]), form)
	if err != nil || out != nil {
		return out, err
	}
	if m := formError.FindStringSubmatch(page); m != nil && m[1] != "" {
		return nil, errors.New(html.UnescapeString(m[1]))
	}
	return nil, fmt.Errorf("login form answered %.200q", page)
}

// step makes one request, following the provider's redirects: it returns the
// page the provider answered, or the redirect leaving it.
func step(c *http.Client, method, target string, form url.Values) (string, *url.URL, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return "", nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	if loc, err := resp.Location(); err == nil {
		return "", loc, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("%s %s: %s: %.200q", method, target, resp.Status, b)
	}
	return string(b), nil, nil
}
