package openidconnect

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
)

// TestAuthorizationCookieSameSite: the authorization cookie does not take
// a Strict session cookie's SameSite (the browser would drop it on the
// provider's cross-site redirect back and log in forever); it has its own
// field, Kong's authorization_cookie_same_site (default: none written).
func TestAuthorizationCookieSameSite(t *testing.T) {
	for setting, want := range map[string]string{"Default": "; Path=/; HttpOnly; Max-Age=600", "Lax": "; Path=/; SameSite=Lax; HttpOnly; Max-Age=600"} {
		in, err := build(t, func(c *Config) {
			c.SessionCookieSameSite, c.AuthorizationCookieSameSite = "Strict", setting
			c.AuthorizationEndpoint, c.TokenEndpoint = str("https://idp.example.com/auth"), str("https://idp.example.com/token")
		})
		if err != nil {
			t.Fatal(err)
		}
		e, ok := in.Access(ctxFor("GET", "/app", "Accept", "text/html")).(*plugin.Exit)
		if !ok || e.Status != http.StatusFound {
			t.Fatalf("%s: %+v", setting, e)
		}
		set := e.Header.Get("Set-Cookie")
		if _, attrs, _ := strings.Cut(set, ";"); ";"+attrs != want {
			t.Errorf("%s: authorization cookie %q, want attributes %q", setting, set, want)
		}
		if in.sessionAttrs[0] != "; Path=/; SameSite=Strict; HttpOnly" {
			t.Errorf("%s: session cookie attributes %q", setting, in.sessionAttrs[0])
		}
	}
}

// TestAnonymous: with anonymous set, a request an earlier auth plugin
// authenticated is left alone (Kong's logical OR), a failure (401, 403)
// goes on as the anonymous consumer, whose absence is Kong's 500.
func TestAnonymous(t *testing.T) {
	dir := &plugintest.Directory{Consumers: []*plugin.Consumer{{ID: "a1", Username: "anon"}, {ID: "k1", Username: "keyed"}}}
	in, _ := build(t, func(c *Config) { c.Anonymous = str("anon"); c.ScopesRequired = []string{"admin"} })
	c := ctxFor("GET", "/")
	c.Directory = dir
	plugin.Authenticate(c, &plugin.Credential{ID: "key-1", Consumer: dir.Consumers[1]})
	if err := in.Access(c); err != nil || c.Consumer.ID != "k1" || c.Credential != "key-1" || c.Req.Header["X-Anonymous-Consumer"] != nil {
		t.Fatalf("authenticated before: %v, %+v, %q", err, c.Consumer, c.Req.Header)
	}
	now := in.now().Unix()
	// A session whose claims lack the required scope: 403, so anonymous.
	d := &sessionData{created: now, issued: now, idToken: "e30.eyJzdWIiOiJhbGljZSJ9.c2ln", scope: "openid"}
	c = ctxFor("GET", "/", "Cookie", sessionCookie(t, in, d))
	c.Directory = dir
	if err := in.Access(c); err != nil || c.Consumer == nil || c.Consumer.ID != "a1" || c.Req.Header.Get("X-Anonymous-Consumer") != "true" {
		t.Fatalf("forbidden: %v, %+v", err, c.Consumer)
	}
	ghost, _ := build(t, func(c *Config) { c.Anonymous = str("ghost") })
	c = ctxFor("GET", "/")
	c.Directory = dir
	e, ok := ghost.Access(c).(*plugin.Exit)
	if !ok || e.Status != 500 || e.Message != "anonymous consumer ghost is configured but doesn't exist" {
		t.Fatalf("missing anonymous consumer: %+v", e)
	}
}

// TestClientGoneIsNo502: a client that hangs up while its token waits on
// a provider that does not answer is not counted as the provider's 502.
func TestClientGoneIsNo502(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() // accepts nothing: every call waits for its timeout
	in, _ := build(t, func(c *Config) { c.Issuer = "http://" + l.Addr().String(); c.Timeout = 3000 })
	c := ctxFor("GET", "/", "Authorization", "Bearer a.b.c")
	ctx, cancel := context.WithTimeout(c.Req.Context(), 100*time.Millisecond)
	defer cancel()
	c.Req = c.Req.WithContext(ctx)
	start := time.Now()
	e, ok := in.Access(c).(*plugin.Exit)
	if !ok || e.Status != statusClientClosed || time.Since(start) > time.Second {
		t.Fatalf("%+v after %v", e, time.Since(start))
	}
}

// TestSessionClaimsCached: a session's claims are parsed once per ID
// token and granted scopes: two sessions of one token with different
// scopes each get theirs.
func TestSessionClaimsCached(t *testing.T) {
	in, _ := build(t, nil)
	now := in.now().Unix()
	for _, scope := range []string{"openid email", "openid orders", "openid email"} {
		d := &sessionData{created: now, issued: now, idToken: "e30.eyJzdWIiOiJhbGljZSJ9.c2ln", scope: scope}
		c := ctxFor("GET", "/", "Cookie", sessionCookie(t, in, d))
		if err := in.Access(c); err != nil {
			t.Fatal(err)
		}
		if got, _ := c.Claims.Claim("sub"); got != "alice" || !c.Claims.(interface{ HasScope(string) bool }).HasScope(strings.Fields(scope)[1]) {
			t.Fatalf("%s: claims %+v", scope, c.Claims)
		}
	}
	if n := in.claims.EstimatedSize(); n != 2 {
		t.Fatalf("%d cached claims, want 2", n)
	}
}

// TestIsCallback: the provider's redirect back is recognised at the
// redirect_uri's path (parsed once, at load; a URI without a path is
// "/"), or anywhere without one.
func TestIsCallback(t *testing.T) {
	for _, tc := range []struct {
		redirect, target string
		want             bool
	}{
		{"https://gw/cb", "/cb?state=s&code=c", true}, {"https://gw/cb", "/cb?state=s&error=e", true},
		{"https://gw/cb", "/other?state=s&code=c", false}, {"https://gw/cb", "/cb?code=c", false},
		{"https://gw", "/?state=s&code=c", true}, {"https://gw", "/x?state=s&code=c", false},
		{"", "/x?state=s&code=c", true},
	} {
		in, err := build(t, func(c *Config) {
			if tc.redirect != "" {
				c.RedirectURI = tc.redirect
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := in.isCallback(ctxFor("GET", tc.target, "Cookie", "authorization=x").Req); got != tc.want {
			t.Errorf("%q %s: %v", tc.redirect, tc.target, got)
		}
	}
}
