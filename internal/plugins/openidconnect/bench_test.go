package openidconnect

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/turnpikegw/turnpike/internal/gwtest/oidcop"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// benchProvider is a real provider and an instance against it, with the
// claims-to-headers and scope checks a typical route has.
func benchProvider(b *testing.B) (*instance, *oidcop.Provider) {
	op := oidcop.Start(b, oidcop.Options{Clients: []oidcop.Client{{ID: "api", Secret: "s", JWTAccessTokens: true}}})
	in, err := build(b, func(c *Config) {
		c.Issuer = op.Issuer
		c.ScopesRequired = []string{"orders:read"}
		c.UpstreamHeadersClaims, c.UpstreamHeadersNames = []string{"sub"}, []string{"X-Sub"}
	})
	if err != nil {
		b.Fatal(err)
	}
	return in, op
}

// BenchmarkBearerCached is a request with a JWT already checked once: the
// verifier's cache answers; the plugin checks scopes and sets a header.
func BenchmarkBearerCached(b *testing.B) {
	in, op := benchProvider(b)
	cc := clientcredentials.Config{ClientID: "api", ClientSecret: "s", TokenURL: op.TokenEndpoint, Scopes: []string{"orders:read"}}
	tok, err := cc.Token(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	c := ctxFor("GET", "/", "Authorization", "Bearer "+tok.AccessToken)
	if err := in.Access(c); err != nil {
		b.Fatal(err)
	}
	auth := c.Req.Header["Authorization"]
	b.ReportAllocs()
	for b.Loop() {
		c.Req.Header["Authorization"] = auth
		if err := in.Access(c); err != nil || c.Claims == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSession is a request authenticated by its session cookie:
// join and decrypt the cookie, read the ID token's claims, check them,
// set the headers.
func BenchmarkSession(b *testing.B) {
	in, _ := benchProvider(b)
	in.scopesRequired = nil
	now := time.Now().Unix()
	idToken := "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcCIsInN1YiI6ImFsaWNlIiwiYXVkIjoid2ViIiwiZW1haWwiOiJhbGljZUBleGFtcGxlLmNvbSIsImV4cCI6MTg5MzQ1NjAwMH0.c2ln"
	d := &sessionData{created: now, issued: now, idToken: idToken, accessToken: "at", scope: "openid"}
	c := ctxFor("GET", "/", "Cookie", sessionCookie(b, in, d))
	b.ReportAllocs()
	for b.Loop() {
		c.Claims = nil
		delete(c.Req.Header, "Authorization")
		if err := in.Access(c); err != nil || c.Claims == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNoCredentials is an API request without a token: the 401.
func BenchmarkNoCredentials(b *testing.B) {
	in, _ := build(b, nil)
	c := ctxFor("GET", "/")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := in.Access(c).(*plugin.Exit); !ok {
			b.Fatal("not refused")
		}
	}
}
