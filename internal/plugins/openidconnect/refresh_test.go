package openidconnect

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest/oidcop"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// refreshProvider is a real provider whose access tokens last 2 s
// and whose refresh tokens rotate, and an instance that refreshes.
func refreshProvider(t *testing.T) (*instance, *oidcop.Provider) {
	op := oidcop.Start(t, oidcop.Options{
		Clients: []oidcop.Client{{ID: "web", Secret: "s", RedirectURIs: []string{"http://gw.test/cb"},
			JWTAccessTokens: true, AccessTokenLifetime: 2 * time.Second}},
		Users: []oidcop.User{{Username: "alice", Password: "pw"}},
	})
	in, err := build(t, func(c *Config) {
		c.Issuer, c.RedirectURI = op.Issuer, "http://gw.test/cb"
		c.Scopes = []string{"openid", "offline_access"}
	})
	if err != nil {
		t.Fatal(err)
	}
	return in, op
}

// loginSession logs alice in through the instance and returns the
// session's Cookie header.
func loginSession(t *testing.T, in *instance, op *oidcop.Provider) string {
	start, ok := in.Access(ctxFor("GET", "http://gw.test/app", "Accept", "text/html")).(*plugin.Exit)
	if !ok || start.Status != http.StatusFound {
		t.Fatalf("login start: %+v", start)
	}
	authz, _, _ := strings.Cut(start.Header.Get("Set-Cookie"), ";")
	back := op.Login(t, &http.Client{}, start.Header.Get("Location"), "alice", "pw").String()
	e, ok := in.Access(ctxFor("GET", back, "Cookie", authz)).(*plugin.Exit)
	if !ok || e.Status != http.StatusFound {
		t.Fatalf("callback: %+v", e)
	}
	return cookieHeader(e.Header["Set-Cookie"], in.sessionName)
}

// cookieHeader is the Cookie header a browser sends after Set-Cookie
// lines (of the cookies named name...).
func cookieHeader(lines []string, name string) string {
	var parts []string
	for _, l := range lines {
		nv, attrs, _ := strings.Cut(l, ";")
		if strings.HasPrefix(nv, name) && !strings.Contains(attrs, "Max-Age=0") {
			parts = append(parts, nv)
		}
	}
	return strings.Join(parts, "; ")
}

// TestRefreshShared: the requests of a session whose access token expired
// share one refresh (the provider rotates refresh tokens: a second
// refresh with the old one is refused), and a request that comes after it
// with the old cookie still gets the new tokens.
func TestRefreshShared(t *testing.T) {
	in, op := refreshProvider(t)
	session := loginSession(t, in, op)
	c := ctxFor("GET", "/app", "Cookie", session)
	if err := in.Access(c); err != nil {
		t.Fatal(err)
	}
	first := c.Req.Header.Get("Authorization")
	time.Sleep(2100 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	tokens := make([]string, 8)
	for i := range errs {
		wg.Go(func() {
			c := ctxFor("GET", "/app", "Cookie", session)
			errs[i] = in.Access(c)
			tokens[i] = c.Req.Header.Get("Authorization")
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || tokens[i] == first || tokens[i] != tokens[0] {
			t.Fatalf("request %d: %v, %.20q (first %.20q)", i, err, tokens[i], tokens[0])
		}
	}
	c = ctxFor("GET", "/app", "Cookie", session)
	if err := in.Access(c); err != nil || c.Req.Header.Get("Authorization") != tokens[0] {
		t.Fatalf("the old cookie after the refresh: %v", err)
	}
}

// TestRefreshTooLarge: refreshed tokens that do not fit in the session
// cookie end the session (kept, it would refresh on every request).
func TestRefreshTooLarge(t *testing.T) {
	in, op := refreshProvider(t)
	session := loginSession(t, in, op)
	op.AddUser(oidcop.User{Username: "alice", Password: "pw", Claims: map[string]any{"big": strings.Repeat("x", 25000)}})
	time.Sleep(2100 * time.Millisecond)
	e, ok := in.Access(ctxFor("GET", "/app", "Cookie", session)).(*plugin.Exit)
	if !ok || e.Status != http.StatusUnauthorized {
		t.Fatalf("want the session over (401), got %+v", e)
	}
}
