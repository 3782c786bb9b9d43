package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// oauth2Config is Kong's oauth2 with the gateway as the authorization
// server, behind a TLS-terminating proxy (accept_http_if_already_terminated
// and --trusted-ips): a confidential web app and a public client.
const oauth2Config = `
_format_version: "3.0"
consumers:
- username: alice
  oauth2_credentials:
  - name: web
    client_id: web-app
    client_secret: web-secret
    hash_secret: true
    redirect_uris: [https://app.test/callback]
  - name: spa
    client_id: spa-app
    client_type: public
    redirect_uris: [https://spa.test/cb]
services:
- name: api
  url: %s
  routes:
  - name: api
    paths: [/api]
    plugins:
    - name: oauth2
      config:
        scopes: [read, write]
        provision_key: the-provision-key
        enable_authorization_code: true
        enable_implicit_grant: true
        enable_client_credentials: true
        enable_password_grant: true
        accept_http_if_already_terminated: true
        token_expiration: 60
`

// forwardedHTTPS is the TLS-terminating proxy in front of the gateway:
// every request says it arrived over HTTPS.
type forwardedHTTPS struct{}

func (forwardedHTTPS) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-Proto", "https")
	return http.DefaultTransport.RoundTrip(r)
}

// TestOAuth2Grants runs every grant of Kong's oauth2 against the binary
// with golang.org/x/oauth2 as the client, then calls the API with each
// token.
func TestOAuth2Grants(t *testing.T) {
	up := gwtest.StartEcho(t, "api")
	gw := gwtest.Start(t, strings.ReplaceAll(oauth2Config, "%s", up.URL), gwtest.Options{
		Args: []string{"--trusted-ips", "127.0.0.1/32"}})
	proxied := &http.Client{Transport: forwardedHTTPS{}, Timeout: 10 * time.Second}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, proxied)
	tokenURL := gw.URL + "/api/oauth2/token"
	web := &oauth2.Config{ClientID: "web-app", ClientSecret: "web-secret", RedirectURL: "https://app.test/callback",
		Scopes: []string{"read"}, Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}}

	// callAPI calls the API with a token and returns what the upstream saw.
	callAPI := func(t *testing.T, token string, want int) gwtest.Seen {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, gw.URL+"/api/data", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, body := gwtest.Do(t, req)
		if resp.StatusCode != want {
			t.Fatalf("API call: %d, want %d: %s", resp.StatusCode, want, body)
		}
		if want != http.StatusOK {
			if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
				t.Fatalf("challenge %q", got)
			}
			return gwtest.Seen{}
		}
		return gwtest.DecodeSeen(t, body)
	}

	t.Run("client_credentials", func(t *testing.T) {
		cc := clientcredentials.Config{ClientID: "web-app", ClientSecret: "web-secret", TokenURL: tokenURL,
			Scopes: []string{"read", "write"}}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken != "" || tok.Expiry.IsZero() {
			t.Fatalf("token %+v", tok)
		}
		seen := callAPI(t, tok.AccessToken, http.StatusOK)
		h := http.Header(seen.Header)
		if h.Get("X-Consumer-Username") != "alice" || h.Get("X-Credential-Identifier") != "web-app" ||
			h.Get("X-Authenticated-Scope") != "read write" {
			t.Fatalf("upstream headers %v", h)
		}
		cc.ClientSecret = "wrong"
		if _, err := cc.Token(ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("wrong secret: %v", err)
		}
	})

	t.Run("password", func(t *testing.T) {
		// Kong's password grant takes the web app's provision_key and the
		// user it authenticated; the client library sends what the token
		// URL's query carries along.
		pw := *web
		pw.Endpoint.TokenURL = tokenURL + "?provision_key=the-provision-key&authenticated_userid=alice-42"
		tok, err := pw.PasswordCredentialsToken(ctx, "alice", "her-password")
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken == "" {
			t.Fatalf("no refresh token: %+v", tok)
		}
		if got := http.Header(callAPI(t, tok.AccessToken, http.StatusOK).Header).Get("X-Authenticated-Userid"); got != "alice-42" {
			t.Fatalf("X-Authenticated-Userid %q", got)
		}
	})

	t.Run("authorization_code with PKCE and refresh", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		code := authorize(t, proxied, gw.URL, url.Values{"client_id": {"web-app"}, "response_type": {"code"},
			"scope": {"read"}, "redirect_uri": {"https://app.test/callback"}, "state": {"xyz"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}, false)
		// Without the verifier the code is refused, and spent: the right
		// verifier no longer redeems it.
		if _, err := web.Exchange(ctx, code); err == nil {
			t.Fatal("exchange without verifier succeeded")
		}
		if _, err := web.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil ||
			!strings.Contains(err.Error(), "Invalid code") {
			t.Fatalf("a refused code redeemed: %v", err)
		}
		code = authorize(t, proxied, gw.URL, url.Values{"client_id": {"web-app"}, "response_type": {"code"},
			"scope": {"read"}, "redirect_uri": {"https://app.test/callback"}, "state": {"xyz"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}, false)
		tok, err := web.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		callAPI(t, tok.AccessToken, http.StatusOK)
		if _, err := web.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
			t.Fatal("a code was exchanged twice")
		}
		// Refresh: the expired token is replaced, the old access token dies.
		tok.Expiry = time.Now().Add(-time.Minute)
		next, err := web.TokenSource(ctx, tok).Token()
		if err != nil {
			t.Fatal(err)
		}
		if next.AccessToken == tok.AccessToken || next.RefreshToken == tok.RefreshToken {
			t.Fatalf("refresh gave %+v", next)
		}
		callAPI(t, next.AccessToken, http.StatusOK)
		callAPI(t, tok.AccessToken, http.StatusUnauthorized)
		// The old refresh token was spent by the refresh.
		if _, err := web.TokenSource(ctx, tok).Token(); err == nil || !strings.Contains(err.Error(), "Invalid refresh_token") {
			t.Fatalf("a spent refresh token redeemed: %v", err)
		}

		// Revocation (RFC 7009) takes the token away.
		revoke := url.Values{"token": {next.AccessToken}, "client_id": {"web-app"}, "client_secret": {"web-secret"}}
		resp, err := proxied.PostForm(gw.URL+"/api/oauth2/revoke", revoke)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
		callAPI(t, next.AccessToken, http.StatusUnauthorized)
	})

	t.Run("public client with PKCE", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		code := authorize(t, proxied, gw.URL, url.Values{"client_id": {"spa-app"}, "response_type": {"code"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}}, false)
		spa := &oauth2.Config{ClientID: "spa-app", RedirectURL: "https://spa.test/cb",
			Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}}
		tok, err := spa.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		callAPI(t, tok.AccessToken, http.StatusOK)
	})

	t.Run("implicit", func(t *testing.T) {
		token := authorize(t, proxied, gw.URL, url.Values{"client_id": {"web-app"}, "response_type": {"token"},
			"scope": {"write"}}, true)
		if got := http.Header(callAPI(t, token, http.StatusOK).Header).Get("X-Authenticated-Scope"); got != "write" {
			t.Fatalf("scope %q", got)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		// Plain HTTP without the proxy's word is refused.
		resp, body := gwtest.Do(t, mustPost(t, tokenURL, url.Values{"grant_type": {"client_credentials"},
			"client_id": {"web-app"}, "client_secret": {"web-secret"}}))
		if resp.StatusCode != http.StatusBadRequest || body != `{"error":"access_denied","error_description":"You must use HTTPS"}` {
			t.Fatalf("plain HTTP: %d %s", resp.StatusCode, body)
		}
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
			t.Fatalf("headers %v", resp.Header)
		}
		resp, body = gw.Get("/api/data")
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "Bearer" ||
			body != `{"error":"invalid_request","error_description":"The access token is missing"}` {
			t.Fatalf("no token: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
		callAPI(t, "forged", http.StatusUnauthorized)
	})
}

func mustPost(t *testing.T, target string, form url.Values) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// authorize is the web application's part: having logged the user in,
// it asks the gateway for a code (or an implicit grant's token) and
// returns it from the redirect_uri the browser would be sent to.
func authorize(t *testing.T, c *http.Client, gw string, form url.Values, implicit bool) string {
	t.Helper()
	form.Set("provision_key", "the-provision-key")
	form.Set("authenticated_userid", "alice-42")
	resp, err := c.PostForm(gw+"/api/oauth2/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		RedirectURI string `json:"redirect_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("authorize: %d %v %+v", resp.StatusCode, err, body)
	}
	u, err := url.Parse(body.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		v, _ := url.ParseQuery(u.Fragment)
		return v.Get("access_token")
	}
	if s := form.Get("state"); s != "" && u.Query().Get("state") != s {
		t.Fatalf("state lost: %s", body.RedirectURI)
	}
	return u.Query().Get("code")
}
