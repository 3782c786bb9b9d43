package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/gwtest/oidcop"
)

// oidcConfig protects /app with openid-connect against a real provider:
// browsers log in, APIs send bearer tokens (JWTs of client "api", opaque
// ones of client "opaque", introspected by the gateway's client "web"),
// with the user's claims as upstream headers; /idle has a 4 s idling
// timeout; /fresh's client gets access tokens of 2 s, refreshed; /strict
// has a Strict session cookie and hides it; /aud requires tokens for
// audience "api".
const oidcConfig = `
_format_version: "3.0"
consumers:
- username: alice
services:
- name: svc
  url: %[1]s
  routes:
  - name: app
    paths: [/app]
    plugins:
    - name: openid-connect
      config:
        issuer: %[2]s
        client_id: web
        client_secret: [web-secret]
        redirect_uri: [%[3]s/app/callback]
        scopes: [openid, email, profile]
        session_secret: e2e-session-secret
        consumer_claim: [sub]
        consumer_optional: true
        upstream_headers_claims: [email, sub]
        upstream_headers_names: [X-User-Email, X-User-Sub]
        logout_uri_suffix: /logout
        logout_methods: [GET, POST]
        logout_redirect_uri: [%[3]s/app/bye]
  - name: idle
    paths: [/idle]
    plugins:
    - name: openid-connect
      config:
        issuer: %[2]s
        client_id: [web]
        client_secret: web-secret
        redirect_uri: %[3]s/idle/callback
        session_secret: e2e-session-secret
        session_cookie_name: idle_session
        session_idling_timeout: 4
  - name: fresh
    paths: [/fresh]
    plugins:
    - name: openid-connect
      config:
        issuer: %[2]s
        client_id: short
        client_secret: short-secret
        redirect_uri: %[3]s/fresh/callback
        scopes: [openid, offline_access]
        session_secret: e2e-session-secret
        session_cookie_name: fresh_session
  - name: strict
    paths: [/strict]
    plugins:
    - name: openid-connect
      config:
        issuer: %[2]s
        client_id: web
        client_secret: web-secret
        redirect_uri: %[3]s/strict/callback
        session_secret: e2e-session-secret
        session_cookie_same_site: Strict
        hide_credentials: true
  - name: aud
    paths: [/aud]
    plugins:
    - name: openid-connect
      config:
        issuer: %[2]s
        client_id: web
        client_secret: web-secret
        auth_methods: [bearer]
        audience_required: [api]
        scopes_required: ["orders:read"]
`

type oidcRig struct {
	t  *testing.T
	op *oidcop.Provider
	gw *gwtest.Gateway
	up *gwtest.Echo
}

func startOIDCRig(t *testing.T) *oidcRig {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	gwURL := "http://" + addr
	op := oidcop.Start(t, oidcop.Options{
		Clients: []oidcop.Client{
			{ID: "web", Secret: "web-secret", Introspect: true,
				RedirectURIs:           []string{gwURL + "/app/callback", gwURL + "/idle/callback", gwURL + "/strict/callback"},
				PostLogoutRedirectURIs: []string{gwURL + "/app/bye"}},
			{ID: "short", Secret: "short-secret", AccessTokenLifetime: 2 * time.Second,
				RedirectURIs: []string{gwURL + "/fresh/callback"}},
			{ID: "api", Secret: "api-secret", JWTAccessTokens: true},
			{ID: "other", Secret: "other-secret", JWTAccessTokens: true},
			{ID: "opaque", Secret: "opaque-secret"},
		},
		Users: []oidcop.User{{Username: "alice", Password: "pw", Email: "alice@example.com", EmailVerified: true}},
	})
	up := gwtest.StartEcho(t, "app")
	gw := gwtest.Start(t, fmt.Sprintf(oidcConfig, up.URL, op.Issuer, gwURL), gwtest.Options{ProxyListen: addr})
	return &oidcRig{t: t, op: op, gw: gw, up: up}
}

// browser is a client with a cookie jar that does not follow redirects,
// so each step is seen.
func newBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login goes through the provider's real login form: /app/orders sends
// the browser to the provider, the form is posted, the callback sets the
// session, and the browser lands on /app/orders?x=1.
func (r *oidcRig) login(c *http.Client, path string) {
	r.t.Helper()
	resp, _ := r.do(c, r.gw.URL+path)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, r.op.AuthorizationEndpoint+"?") {
		r.t.Fatalf("no session: %d to %q, want a redirect to %s", resp.StatusCode, loc, r.op.AuthorizationEndpoint)
	}
	q, _ := url.Parse(loc)
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if q.Query().Get(k) == "" {
			r.t.Fatalf("authorization request without %s: %s", k, loc)
		}
	}
	if q.Query().Get("code_challenge_method") != "S256" {
		r.t.Fatalf("PKCE method %q", q.Query().Get("code_challenge_method"))
	}
	back := r.op.Login(r.t, c, loc, "alice", "pw")
	resp, _ = r.do(c, back.String())
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != path {
		r.t.Fatalf("callback: %d to %q, want %q; %q", resp.StatusCode, resp.Header.Get("Location"), path, resp.Header["Set-Cookie"])
	}
}

// do is a browser navigation: its jar sends and keeps the cookies.
func (r *oidcRig) do(c *http.Client, target string) (*http.Response, string) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		r.t.Fatal(err)
	}
	return resp, string(b)
}

func (r *oidcRig) token(id, secret string, scopes ...string) string {
	r.t.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: r.op.TokenEndpoint, Scopes: scopes}
	tok, err := cc.Token(context.Background())
	if err != nil {
		r.t.Fatalf("client_credentials for %s: %v", id, err)
	}
	return tok.AccessToken
}

func (r *oidcRig) bearer(path, tok string) (*http.Response, string) {
	r.t.Helper()
	return r.gw.Get(path, "Authorization", "Bearer "+tok, "Accept", "application/json")
}

func TestOpenIDConnectBrowserLogin(t *testing.T) {
	r := startOIDCRig(t)
	c := newBrowser(t)

	if resp, _ := r.gw.Get("/app/orders", "Accept", "application/json"); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("API client without token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	r.login(c, "/app/orders?x=1")
	resp, body := r.do(c, r.gw.URL+"/app/orders?x=1")
	if resp.StatusCode != 200 {
		t.Fatalf("with the session: %d %q", resp.StatusCode, body)
	}
	seen := gwtest.DecodeSeen(t, body)
	if first(seen.Header, "X-User-Email") != "alice@example.com" || first(seen.Header, "X-User-Sub") != "alice" ||
		first(seen.Header, "X-Consumer-Username") != "alice" || !strings.HasPrefix(first(seen.Header, "Authorization"), "Bearer ") ||
		seen.Query != "x=1" {
		t.Fatalf("upstream saw %v %q", seen.Header, seen.Query)
	}

	// A tampered session is no session: log in again, never a 500.
	gwURL, _ := url.Parse(r.gw.URL)
	var tampered []*http.Cookie
	for _, ck := range c.Jar.Cookies(gwURL) {
		if ck.Name == "session" {
			v := []byte(ck.Value)
			v[len(v)/2] ^= 0x01
			if v[len(v)/2] == '.' || v[len(v)/2] == '/' {
				v[len(v)/2] = 'A'
			}
			tampered = append(tampered, &http.Cookie{Name: "session", Value: string(v)})
		}
	}
	if len(tampered) != 1 {
		t.Fatalf("session cookies in the jar: %v", c.Jar.Cookies(gwURL))
	}
	other := newBrowser(t)
	other.Jar.SetCookies(gwURL, tampered)
	if resp, _ := r.do(other, r.gw.URL+"/app/orders"); resp.StatusCode != http.StatusFound ||
		!strings.HasPrefix(resp.Header.Get("Location"), r.op.AuthorizationEndpoint) {
		t.Fatalf("tampered cookie: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Logout: the session cookie goes, the browser goes to end_session.
	resp, _ = r.do(c, r.gw.URL+"/app/logout")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), r.op.EndSessionEndpoint) ||
		loc.Query().Get("id_token_hint") == "" || loc.Query().Get("post_logout_redirect_uri") != r.gw.URL+"/app/bye" {
		t.Fatalf("logout: %d %q", resp.StatusCode, loc)
	}
	for _, ck := range c.Jar.Cookies(gwURL) {
		if ck.Name == "session" {
			t.Fatalf("session cookie kept after logout: %v", ck)
		}
	}
	resp, _ = r.do(c, loc.String())
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != r.gw.URL+"/app/bye" {
		t.Fatalf("end_session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := r.do(c, r.gw.URL+"/app/orders"); resp.StatusCode != http.StatusFound ||
		!strings.HasPrefix(resp.Header.Get("Location"), r.op.AuthorizationEndpoint) {
		t.Fatalf("after logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestOpenIDConnectIdleTimeout: a session in use is renewed (a new
// cookie once a quarter of its 4 s idling window has passed) and outlives
// the window; left alone, it ends. Times are whole seconds, hence the
// margins.
func TestOpenIDConnectIdleTimeout(t *testing.T) {
	r := startOIDCRig(t)
	c := newBrowser(t)
	r.login(c, "/idle/page")
	time.Sleep(1500 * time.Millisecond)
	if resp, _ := r.do(c, r.gw.URL+"/idle/page"); resp.StatusCode != 200 || len(resp.Header["Set-Cookie"]) != 1 {
		t.Fatalf("renewal due: %d %q", resp.StatusCode, resp.Header["Set-Cookie"])
	}
	time.Sleep(2500 * time.Millisecond) // 4 s after the login, 2.5 s after the renewal
	if resp, _ := r.do(c, r.gw.URL+"/idle/page"); resp.StatusCode != 200 {
		t.Fatalf("renewed session: %d", resp.StatusCode)
	}
	time.Sleep(5 * time.Second)
	if resp, _ := r.do(c, r.gw.URL+"/idle/page"); resp.StatusCode != http.StatusFound ||
		!strings.HasPrefix(resp.Header.Get("Location"), r.op.AuthorizationEndpoint) {
		t.Fatalf("idle session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestOpenIDConnectBearer(t *testing.T) {
	r := startOIDCRig(t)
	jwt := r.token("api", "api-secret", "orders:read")
	if strings.Count(jwt, ".") != 2 {
		t.Fatalf("api's token is not a JWT: %q", jwt)
	}
	resp, body := r.bearer("/app/x", jwt)
	if resp.StatusCode != 200 || first(gwtest.DecodeSeen(t, body).Header, "X-User-Sub") != "api" {
		t.Fatalf("JWT: %d %q", resp.StatusCode, body)
	}
	opaque := r.token("opaque", "opaque-secret")
	if strings.Count(opaque, ".") == 2 {
		t.Fatalf("opaque's token is a JWT: %q", opaque)
	}
	if resp, body := r.bearer("/app/x", opaque); resp.StatusCode != 200 || first(gwtest.DecodeSeen(t, body).Header, "X-User-Sub") != "opaque" {
		t.Fatalf("introspected token: %d %q", resp.StatusCode, body)
	}
	for _, bad := range []string{jwt[:len(jwt)-4] + "AAAA", "no-such-token"} {
		if resp, _ := r.bearer("/app/x", bad); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
			t.Fatalf("bad token %.20q: %d %q", bad, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}

	// /aud: audience and scopes.
	if resp, _ := r.bearer("/aud", jwt); resp.StatusCode != 200 {
		t.Fatalf("audience api: %d", resp.StatusCode)
	}
	if resp, _ := r.bearer("/aud", r.token("other", "other-secret", "orders:read")); resp.StatusCode != 403 {
		t.Fatalf("audience other: %d", resp.StatusCode)
	}
	if resp, _ := r.bearer("/aud", r.token("api", "api-secret")); resp.StatusCode != 403 ||
		resp.Header.Get("WWW-Authenticate") != `Bearer error="insufficient_scope"` {
		t.Fatalf("without the scope: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp, _ := r.bearer("/aud", opaque); resp.StatusCode != 401 {
		t.Fatalf("opaque token where introspection is off: %d", resp.StatusCode)
	}

	// Key rotation: a token signed with the new key is accepted once the
	// key set is fetched again (at most every 5 s); the old one still is.
	if err := r.op.RotateKey(); err != nil {
		t.Fatal(err)
	}
	rotated := r.token("api", "api-secret", "orders:read")
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, _ := r.bearer("/aud", rotated)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token of the rotated key: %d", resp.StatusCode)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestOpenIDConnectStrictSession: with a Strict session cookie the login
// cookie is not Strict (a browser would leave it off the provider's
// cross-site redirect back and log in forever), the login completes, and
// hide_credentials keeps the session from the upstream but not the
// application's own cookies.
func TestOpenIDConnectStrictSession(t *testing.T) {
	r := startOIDCRig(t)
	c := newBrowser(t)
	resp, _ := r.do(c, r.gw.URL+"/strict/x")
	var authz *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "authorization" {
			authz = ck
		}
	}
	if authz == nil || authz.SameSite == http.SameSiteStrictMode || strings.Contains(resp.Header.Get("Set-Cookie"), "SameSite") {
		t.Fatalf("authorization cookie %q", resp.Header["Set-Cookie"])
	}
	r.login(c, "/strict/x")
	gwURL, _ := url.Parse(r.gw.URL)
	c.Jar.SetCookies(gwURL, []*http.Cookie{{Name: "session_id", Value: "app"}})
	resp, body := r.do(c, r.gw.URL+"/strict/x")
	if resp.StatusCode != 200 {
		t.Fatalf("with the session: %d %q", resp.StatusCode, body)
	}
	if got := first(gwtest.DecodeSeen(t, body).Header, "Cookie"); got != "session_id=app" {
		t.Fatalf("upstream got cookies %q", got)
	}
}
