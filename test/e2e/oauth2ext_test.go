package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/gwtest/oidcop"
)

const extCallback = "http://127.0.0.1:1/cb"

// extEnv is a gateway protecting routes with the oauth2 plugin's
// external shape in front of a real OpenID provider.
type extEnv struct {
	p     *oidcop.Provider
	gw    *gwtest.Gateway
	intro atomic.Int64 // introspection calls that reached the provider
}

func startExt(t *testing.T) *extEnv {
	t.Helper()
	e := &extEnv{}
	e.p = oidcop.Start(t, oidcop.Options{
		Clients: []oidcop.Client{
			{ID: "gateway", Secret: "gw-secret", Introspect: true},
			{ID: "svc", Secret: "svc-secret", JWTAccessTokens: true},
			{ID: "opaque", Secret: "opaque-secret"},
			{ID: "short", Secret: "short-secret", JWTAccessTokens: true, AccessTokenLifetime: 2 * time.Second},
			{ID: "web", Secret: "web-secret", RedirectURIs: []string{extCallback}, JWTAccessTokens: true},
		},
		Users: []oidcop.User{{Username: "alice", Password: "alice-pw"}},
	})
	// Introspection goes through a counting relay, so the test sees how
	// many calls the gateway made.
	target, _ := url.Parse(e.p.IntrospectionEndpoint)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		u := *target
		r.Out.URL, r.Out.Host = &u, target.Host
	}}
	counter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.intro.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(counter.Close)
	up := gwtest.StartEcho(t, "api")
	plugin := func(route, extra string) string {
		return `
  - name: ` + route + `
    paths: [/` + route + `]
    plugins:
      - name: oauth2
        config:
          issuer: ` + e.p.Issuer + `
          client_id: gateway
          client_secret: gw-secret
          allowed_token_methods: [client_credentials, refresh_token, authorization_code, password]
          accept_http_if_already_terminated: true
` + extra
	}
	cfg := `_format_version: "3.0"
services:
- name: api
  url: ` + up.URL + `
  routes:` +
		plugin("jwt", "          audience_required: [svc, short, web]\n") +
		plugin("scoped", "          scopes: [admin]\n          mandatory_scope: true\n          realm: api\n") +
		plugin("aud", "          audience_required: [someone-else]\n") +
		plugin("opaque", "          introspection_endpoint: "+counter.URL+"/introspect\n          cache_ttl_max: 2\n          hide_credentials: true\n") +
		plugin("browser", "          authorization_endpoint: "+e.p.AuthorizationEndpoint+"\n          redirect_uri: "+extCallback+"\n          scopes: [openid]\n") +
		plugin("mapped", "          consumer_claim: [client_id]\n") +
		plugin("anyaud", "          introspection_endpoint: "+counter.URL+"/introspect\n") + `
  - name: guide
    paths: [/guide]
    plugins:
      - name: oauth2
        config:
          scopes: [read, write]
          mandatory_scope: true
          token_endpoint: ` + e.p.TokenEndpoint + `
          audience_required: [svc]
          login_redirect_url: https://auth.example.com/login
          allowed_token_methods: [client_credentials]
          revoke_token_method: POST
          accept_http_if_already_terminated: true
consumers:
- username: svc
  custom_id: svc-custom
`
	// The relay's calls come through a TLS-terminating proxy.
	e.gw = gwtest.Start(t, cfg, gwtest.Options{Args: []string{"--trusted-ips", "127.0.0.1/32"}})
	return e
}

// token gets a client_credentials token straight from the provider.
func (e *extEnv) token(t *testing.T, id, secret string, scopes ...string) string {
	t.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.p.TokenEndpoint, Scopes: scopes,
		AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatalf("token of %s: %v", id, err)
	}
	return tok.AccessToken
}

func (e *extEnv) call(t *testing.T, path, token string, header ...string) (*http.Response, string) {
	t.Helper()
	if token != "" {
		header = append(header, "Authorization", "Bearer "+token)
	}
	return e.gw.Get(path, header...)
}

type oauthBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// wantInvalidToken checks a refusal of the token itself: 401 with
// error="invalid_token" in WWW-Authenticate and in the body.
func wantInvalidToken(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if b := decodeOAuth(t, body); b.Error != "invalid_token" {
		t.Fatalf("body %+v", b)
	}
}

func decodeOAuth(t *testing.T, body string) oauthBody {
	t.Helper()
	var b oauthBody
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("not an oauth error body: %q", body)
	}
	return b
}

func TestOAuth2ExternalJWT(t *testing.T) {
	e := startExt(t)
	tok := e.token(t, "svc", "svc-secret", "read", "write")
	resp, body := e.call(t, "/jwt/x", tok)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	seen := gwtest.DecodeSeen(t, body)
	if got := seen.Header["X-Authenticated-Userid"]; len(got) != 1 || got[0] != "svc" {
		t.Errorf("X-Authenticated-Userid = %v", got)
	}
	if got := seen.Header["X-Credential-Identifier"]; len(got) != 1 || got[0] != "svc" {
		t.Errorf("X-Credential-Identifier = %v", got)
	}
	if got := seen.Header["X-Authenticated-Scope"]; len(got) != 1 || !strings.Contains(got[0], "read") {
		t.Errorf("X-Authenticated-Scope = %v", got)
	}
	if seen.Header["Authorization"] == nil {
		t.Error("the token was hidden without hide_credentials")
	}
	// A client-sent identity is not believed.
	resp, body = e.call(t, "/jwt/x", tok, "X-Authenticated-Userid", "admin")
	if got := gwtest.DecodeSeen(t, body).Header["X-Authenticated-Userid"]; len(got) != 1 || got[0] != "svc" {
		t.Errorf("spoofed X-Authenticated-Userid reached the upstream: %v", got)
	}

	t.Run("missing token", func(t *testing.T) {
		resp, body := e.call(t, "/jwt/x", "")
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != "Bearer" {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if b := decodeOAuth(t, body); b.Error != "invalid_request" || b.Description != "The access token is missing" {
			t.Fatalf("%+v", b)
		}
	})
	t.Run("tampered and foreign tokens", func(t *testing.T) {
		parts := strings.Split(tok, ".")
		for _, bad := range []string{parts[0] + "." + parts[1] + "x." + parts[2], "garbage", tok + "x"} {
			resp, body := e.call(t, "/jwt/x", bad)
			if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
			if b := decodeOAuth(t, body); b.Error != "invalid_token" {
				t.Fatalf("%+v", b)
			}
		}
		resp, _ := e.call(t, "/jwt/x", "", "Authorization", "Basic "+tok)
		if resp.StatusCode != 401 {
			t.Fatalf("a Basic header was taken as a token: %d", resp.StatusCode)
		}
	})
	t.Run("wrong audience", func(t *testing.T) {
		resp, body := e.call(t, "/aud/x", tok)
		wantInvalidToken(t, resp, body)
	})
	t.Run("insufficient scope", func(t *testing.T) {
		resp, body := e.call(t, "/scoped/x", tok)
		www := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != 403 || !strings.Contains(www, `error="insufficient_scope"`) ||
			!strings.Contains(www, `scope="admin"`) || !strings.HasPrefix(www, `Bearer realm="api"`) {
			t.Fatalf("%d %q", resp.StatusCode, www)
		}
		if b := decodeOAuth(t, body); b.Error != "insufficient_scope" {
			t.Fatalf("%+v", b)
		}
		if resp, _ := e.call(t, "/scoped/x", e.token(t, "svc", "svc-secret", "admin")); resp.StatusCode != 200 {
			t.Fatalf("a token with the scope: %d", resp.StatusCode)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		short := e.token(t, "short", "short-secret")
		if resp, body := e.call(t, "/jwt/x", short); resp.StatusCode != 200 {
			t.Fatalf("fresh: %d %s", resp.StatusCode, body)
		}
		time.Sleep(3 * time.Second)
		resp, body := e.call(t, "/jwt/x", short)
		wantInvalidToken(t, resp, body)
	})
	t.Run("key rotation", func(t *testing.T) {
		if err := e.p.RotateKey(); err != nil {
			t.Fatal(err)
		}
		e.p.RetireOldKeys()
		fresh := e.token(t, "svc", "svc-secret")
		// The key set is refetched at most every 5 s: the new key is
		// taken within that, whenever the last fetch was. Each refusal
		// is cached for cache_ttl_neg, so the poll asks with new tokens.
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, body := e.call(t, "/jwt/x", fresh)
			if resp.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("token of the new key still refused after 15 s: %d %s", resp.StatusCode, body)
			}
			time.Sleep(200 * time.Millisecond)
			fresh = e.token(t, "svc", "svc-secret")
		}
	})
}

func TestOAuth2ExternalIntrospection(t *testing.T) {
	e := startExt(t)
	tok := e.token(t, "opaque", "opaque-secret", "read")
	if strings.Count(tok, ".") == 2 {
		t.Fatalf("expected an opaque token, got %q", tok)
	}
	for i := range 3 {
		resp, body := e.call(t, "/opaque/x", tok)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s\n%s", i, resp.StatusCode, body, e.gw.Stderr())
		}
		seen := gwtest.DecodeSeen(t, body)
		if seen.Header["Authorization"] != nil {
			t.Fatal("hide_credentials left the token to the upstream")
		}
		if got := seen.Header["X-Credential-Identifier"]; len(got) != 1 || got[0] != "opaque" {
			t.Fatalf("X-Credential-Identifier = %v", got)
		}
	}
	if n := e.intro.Load(); n != 1 {
		t.Fatalf("%d introspection calls for 3 requests, want 1", n)
	}
	// The token in the query works too, and is hidden.
	resp, body := e.gw.Get("/opaque/x?a=1&access_token=" + url.QueryEscape(tok))
	if resp.StatusCode != 200 || gwtest.DecodeSeen(t, body).Query != "a=1" {
		t.Fatalf("query token: %d %s", resp.StatusCode, body)
	}

	// Revoked through the gateway's relay, refused once the cache
	// (cache_ttl_max: 2) forgot it.
	req, _ := http.NewRequest(http.MethodPost, e.gw.URL+"/opaque/oauth2/revoke",
		strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.SetBasicAuth("opaque", "opaque-secret")
	resp, body = gwtest.Do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("revocation: %d %s", resp.StatusCode, body)
	}
	time.Sleep(2500 * time.Millisecond)
	resp, body = e.call(t, "/opaque/x", tok)
	wantInvalidToken(t, resp, body)
	// Refused answers are cached briefly: asking again makes no call.
	n := e.intro.Load()
	e.call(t, "/opaque/x", tok)
	if e.intro.Load() != n {
		t.Fatal("a refused token was introspected again at once")
	}
}

func TestOAuth2ExternalTokenRelay(t *testing.T) {
	e := startExt(t)
	proxied := context.WithValue(context.Background(), oauth2.HTTPClient,
		&http.Client{Transport: forwardedHTTPS{}, Timeout: 10 * time.Second})
	post := func(path string, form url.Values, id, secret string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, e.gw.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-Proto", "https")
		if id != "" {
			req.SetBasicAuth(id, secret)
		}
		return gwtest.Do(t, req)
	}
	t.Run("client credentials relayed", func(t *testing.T) {
		cc := clientcredentials.Config{ClientID: "svc", ClientSecret: "svc-secret",
			TokenURL: e.gw.URL + "/jwt/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}
		tok, err := cc.Token(proxied)
		if err != nil {
			t.Fatal(err)
		}
		if resp, _ := e.call(t, "/jwt/x", tok.AccessToken); resp.StatusCode != 200 {
			t.Fatalf("relayed token refused: %d", resp.StatusCode)
		}
		resp, _ := post("/jwt/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc", "svc-secret")
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", resp.Header.Get("Cache-Control"))
		}
		// Wrong client secret: the server's answer, as it is.
		resp, body := post("/jwt/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc", "nope")
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || decodeOAuth(t, body).Error == "" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("HTTPS required", func(t *testing.T) {
		// Secrets are not relayed from a plain HTTP request, as Kong's
		// endpoints refuse them.
		for _, path := range []string{"/jwt/oauth2/token", "/opaque/oauth2/revoke"} {
			req, _ := http.NewRequest(http.MethodPost, e.gw.URL+path,
				strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "token": {"x"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("svc", "svc-secret")
			resp, body := gwtest.Do(t, req)
			b := decodeOAuth(t, body)
			if resp.StatusCode != 400 || b.Error != "access_denied" || b.Description != "You must use HTTPS" ||
				resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
			}
		}
	})
	t.Run("unsupported grant", func(t *testing.T) {
		resp, body := post("/guide/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, "svc", "svc-secret")
		b := decodeOAuth(t, body)
		if resp.StatusCode != 400 || b.Error != "unsupported_grant_type" || !strings.Contains(b.Description, "not allowed") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("password grant relayed", func(t *testing.T) {
		// Allowed here, so the server answers: zitadel has no password
		// grant, and its refusal comes back as it is.
		resp, body := post("/jwt/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, "svc", "svc-secret")
		b := decodeOAuth(t, body)
		if resp.StatusCode != 400 || b.Error != "unsupported_grant_type" || strings.Contains(b.Description, "not allowed") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("wrong method and body", func(t *testing.T) {
		resp, body := e.gw.Get("/jwt/oauth2/token")
		if resp.StatusCode != 405 || decodeOAuth(t, body).Error != "invalid_method" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		req, _ := http.NewRequest(http.MethodPost, e.gw.URL+"/jwt/oauth2/token", strings.NewReader(strings.Repeat("a", 100<<10)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-Proto", "https")
		if resp, _ := gwtest.Do(t, req); resp.StatusCode != 413 {
			t.Fatalf("oversized body: %d", resp.StatusCode)
		}
	})
	t.Run("browser login, code exchange and refresh", func(t *testing.T) { extBrowserLogin(t, e, proxied) })
	t.Run("guide config discovers from the token endpoint", func(t *testing.T) {
		tok := e.token(t, "svc", "svc-secret", "write")
		if resp, body := e.call(t, "/guide/x", tok); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if resp, _ := e.call(t, "/guide/x", e.token(t, "svc", "svc-secret", "other")); resp.StatusCode != 403 {
			t.Fatalf("without read or write: %d", resp.StatusCode)
		}
	})
}

// extBrowserLogin: a browser without a token is sent to log in; the
// web client's code is exchanged and refreshed through the relay.
func extBrowserLogin(t *testing.T, e *extEnv, proxied context.Context) {
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, e.gw.URL+"/browser/page", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || !strings.HasPrefix(loc.String(), e.p.AuthorizationEndpoint+"?") {
		t.Fatalf("%d %q", resp.StatusCode, loc)
	}
	q := loc.Query()
	var state string
	for _, c := range resp.Cookies() {
		if c.Name == "turnpike_oauth2_state" {
			state = c.Value
		}
	}
	if q.Get("response_type") != "code" || q.Get("client_id") != "gateway" || q.Get("redirect_uri") != extCallback ||
		q.Get("scope") != "openid" || q.Get("state") == "" || q.Get("state") != state {
		t.Fatalf("authorization request %v, state cookie %q", q, state)
	}
	// An API client (no text/html) still gets 401.
	if resp, _ := e.call(t, "/browser/page", ""); resp.StatusCode != 401 {
		t.Fatalf("API client: %d", resp.StatusCode)
	}
	// The guide's login_redirect_url is where its browsers go.
	resp, _ = noFollow.Do(gwtest.NewRequest(t, http.MethodGet, e.gw.URL+"/guide/page", "", "Accept", "text/html"))
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://auth.example.com/login" {
		t.Fatalf("guide: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// The web client's own authorization request, logged in at the
	// provider, its code exchanged and refreshed through the relay.
	conf := oauth2.Config{ClientID: "web", ClientSecret: "web-secret", RedirectURL: extCallback,
		Endpoint: oauth2.Endpoint{AuthURL: e.p.AuthorizationEndpoint, TokenURL: e.gw.URL + "/jwt/oauth2/token",
			AuthStyle: oauth2.AuthStyleInHeader},
		Scopes: []string{"openid", "offline_access"}}
	back := e.p.Login(t, nil, conf.AuthCodeURL("st"), "alice", "alice-pw")
	tok, err := conf.Exchange(proxied, back.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	resp, body := e.call(t, "/jwt/x", tok.AccessToken)
	if resp.StatusCode != 200 || gwtest.DecodeSeen(t, body).Header["X-Authenticated-Userid"][0] != "alice" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := conf.TokenSource(proxied, tok).Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == tok.AccessToken {
		t.Fatal("not refreshed")
	}
	if resp, _ := e.call(t, "/jwt/x", fresh.AccessToken); resp.StatusCode != 200 {
		t.Fatalf("refreshed token: %d", resp.StatusCode)
	}
}

// TestOAuth2ExternalGuideExample loads the patterns guide's example as
// written, and refuses bad values with their field paths.
func TestOAuth2ExternalGuideExample(t *testing.T) {
	guide := `_format_version: "3.0"
plugins:
- name: oauth2
  config:
    scopes:
    - read
    - write
    mandatory_scope: true
    token_endpoint: https://auth.example.com/oauth/token
    authorization_endpoint: https://auth.example.com/oauth/authorize
    login_redirect_url: https://auth.example.com/login
    allowed_token_methods:
    - client_credentials
    - password
    revoke_token_method: POST
`
	out, stderr, code := runCLI(t, nil, "validate", "-c", writeFile(t, "guide.yml", guide))
	if code != 0 {
		t.Fatalf("validate: %d\n%s\n%s", code, out, stderr)
	}
	bad := strings.NewReplacer("    - password\n", "    - implicit\n", "revoke_token_method: POST", "revoke_token_method: GET",
		"token_endpoint: https://auth.example.com/oauth/token", "token_endpoint: /oauth/token").Replace(guide)
	out, stderr, code = runCLI(t, nil, "validate", "-c", writeFile(t, "bad.yml", bad))
	all := out + stderr
	for _, want := range []string{"config.allowed_token_methods[1]", "config.revoke_token_method", "config.token_endpoint"} {
		if code == 0 || !strings.Contains(all, want) {
			t.Errorf("bad config: %d, no %s in\n%s", code, want, all)
		}
	}
}

// TestOAuth2ExternalServerDown: while the server cannot be discovered,
// tokens are refused with 503 and the failure is logged; none is let
// through unchecked.
func TestOAuth2ExternalServerDown(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	up := gwtest.StartEcho(t, "api")
	gw := gwtest.Start(t, `_format_version: "3.0"
services:
- name: api
  url: `+up.URL+`
  routes:
  - name: r
    paths: [/]
    plugins:
    - name: oauth2
      config:
        token_endpoint: `+dead.URL+`/oauth/token
        allowed_token_methods: [client_credentials]
`, gwtest.Options{})
	resp, body := gw.Get("/x", "Authorization", "Bearer a.b.c")
	if resp.StatusCode != 503 || decodeOAuth(t, body).Error != "temporarily_unavailable" || up.Count.Load() != 0 {
		t.Fatalf("%d %s (upstream saw %d)", resp.StatusCode, body, up.Count.Load())
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(gw.Stderr(), "authorization server discovery failed") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(gw.Stderr(), "authorization server discovery failed") {
		t.Fatalf("no discovery error logged:\n%s", gw.Stderr())
	}
}

// TestOAuth2ExternalConsumer maps tokens to consumers by a claim.
func TestOAuth2ExternalConsumer(t *testing.T) {
	e := startExt(t)
	resp, body := e.call(t, "/mapped/x", e.token(t, "svc", "svc-secret"), "X-Consumer-Username", "spoofed")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	h := gwtest.DecodeSeen(t, body).Header
	if h["X-Consumer-Username"][0] != "svc" || h["X-Consumer-Custom-Id"][0] != "svc-custom" || h["X-Consumer-Id"] == nil {
		t.Fatalf("consumer headers %v", h)
	}
	// A token whose client is no consumer is refused.
	resp, body = e.call(t, "/mapped/x", e.token(t, "opaque", "opaque-secret"))
	if resp.StatusCode != 403 || decodeOAuth(t, body).Error != "access_denied" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// Without consumer_claim, no consumer, and no client-sent one.
	resp, body = e.call(t, "/jwt/x", e.token(t, "svc", "svc-secret"), "X-Consumer-Username", "spoofed")
	if h := gwtest.DecodeSeen(t, body).Header; resp.StatusCode != 200 || h["X-Consumer-Username"] != nil {
		t.Fatalf("%d %v", resp.StatusCode, h)
	}
}

// TestOAuth2ExternalIDTokenRefused: without audience_required a JWT is
// not verified against the key set alone (any token the provider signs,
// another application's ID token too, would pass): it is introspected,
// and the provider says an ID token is no access token.
func TestOAuth2ExternalIDTokenRefused(t *testing.T) {
	e := startExt(t)
	conf := oauth2.Config{ClientID: "web", ClientSecret: "web-secret", RedirectURL: extCallback,
		Endpoint: oauth2.Endpoint{AuthURL: e.p.AuthorizationEndpoint, TokenURL: e.p.TokenEndpoint,
			AuthStyle: oauth2.AuthStyleInHeader},
		Scopes: []string{"openid"}}
	back := e.p.Login(t, nil, conf.AuthCodeURL("st"), "alice", "alice-pw")
	tok, err := conf.Exchange(context.Background(), back.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	idToken, _ := tok.Extra("id_token").(string)
	if strings.Count(idToken, ".") != 2 {
		t.Fatalf("no ID token: %q", idToken)
	}
	resp, body := e.call(t, "/anyaud/x", idToken)
	wantInvalidToken(t, resp, body)
	if e.intro.Load() != 1 {
		t.Fatalf("%d introspection calls, want the ID token introspected", e.intro.Load())
	}
	// The gateway's own access token passes, by introspection.
	if resp, body := e.call(t, "/anyaud/x", e.token(t, "svc", "svc-secret")); resp.StatusCode != 200 {
		t.Fatalf("access token: %d %s", resp.StatusCode, body)
	}
	if e.intro.Load() != 2 {
		t.Fatalf("%d introspection calls, want 2", e.intro.Load())
	}
}
