package openidconnect

import (
	"net/http"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest/oidcop"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// TestCallbackChecksNonce logs in at a real provider and completes the
// callback: with the authorization cookie's nonce altered (the ID token's
// nonce no longer matches: 401), and as it was (a session).
func TestCallbackChecksNonce(t *testing.T) {
	op := oidcop.Start(t, oidcop.Options{
		Clients: []oidcop.Client{{ID: "web", Secret: "s", RedirectURIs: []string{"http://gw.test/cb"}}},
		Users:   []oidcop.User{{Username: "alice", Password: "pw"}},
	})
	in, err := build(t, func(c *Config) { c.Issuer = op.Issuer; c.RedirectURI = "http://gw.test/cb" })
	if err != nil {
		t.Fatal(err)
	}
	login := func() (authz, back string) {
		start, ok := in.Access(ctxFor("GET", "http://gw.test/app", "Accept", "text/html")).(*plugin.Exit)
		if !ok || start.Status != http.StatusFound {
			t.Fatalf("login start: %+v", start)
		}
		authz, _, _ = strings.Cut(start.Header.Get("Set-Cookie"), ";")
		return authz, op.Login(t, &http.Client{}, start.Header.Get("Location"), "alice", "pw").String()
	}
	// A code is good for one exchange: each attempt logs in anew.
	authz, back := login()
	plain, ok := in.authzSeal.Open(strings.TrimPrefix(authz, "authorization="))
	var a authzData
	if !ok || !a.decode(plain) {
		t.Fatal("the authorization cookie does not open")
	}
	a.nonce = "another nonce"
	forged := "authorization=" + in.authzSeal.Seal(a.encode())
	if e, ok := in.Access(ctxFor("GET", back, "Cookie", forged)).(*plugin.Exit); !ok || e.Status != http.StatusUnauthorized {
		t.Fatalf("nonce mismatch: %+v", e)
	}
	authz, back = login()
	e, ok := in.Access(ctxFor("GET", back, "Cookie", authz)).(*plugin.Exit)
	if !ok || e.Status != http.StatusFound || e.Header.Get("Location") != "/app" || !strings.HasPrefix(e.Header.Get("Set-Cookie"), "session=") {
		t.Fatalf("callback: %+v", e)
	}
}
