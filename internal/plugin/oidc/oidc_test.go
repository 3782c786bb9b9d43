package oidc

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *clock) Now() time.Time             { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration)        { c.ns.Add(int64(d)) }
func (c *clock) unix(d time.Duration) int64 { return c.Now().Add(d).Unix() }

func newVerifier(t *testing.T, s *authServer, clk *clock, mod func(*Options)) *Verifier {
	o := Options{
		Issuer: s.issuer, ClientID: "gw", ClientSecret: "s3cret",
		CacheTTL: time.Minute, NegativeTTL: 5 * time.Second, Timeout: 2 * time.Second, Now: clk.Now,
	}
	if mod != nil {
		mod(&o)
	}
	v := New(o)
	t.Cleanup(v.Close)
	if len(o.DiscoveryURLs) > 0 || o.Issuer != "" {
		if err := v.Discover(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func TestJWTVerifiedAgainstTheKeySet(t *testing.T) {
	s := newAuthServer(t)
	clk := newClock()
	v := newVerifier(t, s, clk, func(o *Options) { o.Audience = []string{"api", "other"} })
	if m := v.Metadata(); m.TokenEndpoint != s.URL+"/token" || v.Provider() == nil {
		t.Fatalf("metadata %+v", m)
	}
	good := map[string]any{"iss": s.issuer, "sub": "alice", "aud": []string{"api"}, "exp": clk.unix(time.Hour),
		"scope": "read write", "client_id": "app", "n": 42, "b": true, "groups": []string{"a", "b"}}
	c, err := v.Verify(context.Background(), s.sign(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.ClientID != "app" || !c.HasScope("write") || c.HasScope("admin") {
		t.Fatalf("claims %+v", c)
	}
	for name, want := range map[string]string{"n": "42", "b": "true", "groups": "a, b", "sub": "alice"} {
		if got, ok := c.Claim(name); !ok || got != want {
			t.Errorf("Claim(%s) = %q, %v; want %q", name, got, ok, want)
		}
	}
	if _, ok := c.Claim("nope"); ok {
		t.Error("Claim of an absent claim is ok")
	}

	refused := map[string]map[string]any{
		"wrong audience": {"aud": "someone-else"},
		"wrong issuer":   {"iss": "https://evil.example"},
		"expired":        {"exp": clk.unix(-time.Minute)},
		"not yet valid":  {"nbf": clk.unix(time.Hour)},
	}
	for name, change := range refused {
		claims := map[string]any{}
		for k, val := range good {
			claims[k] = val
		}
		for k, val := range change {
			claims[k] = val
		}
		if _, err := v.Verify(context.Background(), s.sign(t, claims)); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: err = %v, want invalid", name, err)
		}
	}
	// A token signed by a key the server never published.
	other := newAuthServer(t)
	other.issuer = s.issuer
	if _, err := v.Verify(context.Background(), other.sign(t, good)); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("foreign key: err = %v", err)
	}
}

func TestKeyRotationRefetchesTheKeySetAtMostEveryInterval(t *testing.T) {
	s := newAuthServer(t)
	clk := newClock()
	v := newVerifier(t, s, clk, func(o *Options) { o.Audience = []string{"api"} })
	claims := map[string]any{"iss": s.issuer, "sub": "a", "aud": "api", "exp": clk.unix(time.Hour)}
	if _, err := v.Verify(context.Background(), s.sign(t, claims)); err != nil {
		t.Fatal(err)
	}
	fetches := s.jwks.Load()
	s.rotate(t, "k2")
	claims["sub"] = "b"
	rotated := s.sign(t, claims)
	// Within the refetch interval a new key id is not fetched for.
	if _, err := v.Verify(context.Background(), rotated); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("err = %v", err)
	}
	if s.jwks.Load() != fetches {
		t.Fatalf("key set fetched within the interval")
	}
	clk.Add(6 * time.Second)
	claims["sub"] = "c"
	if c, err := v.Verify(context.Background(), s.sign(t, claims)); err != nil || c.Subject != "c" {
		t.Fatalf("after rotation: %v %v", c, err)
	}
	if s.jwks.Load() != fetches+1 {
		t.Fatalf("key set fetches %d, want %d", s.jwks.Load(), fetches+1)
	}
}

func TestIntrospectionCachedAndShared(t *testing.T) {
	s := newAuthServer(t)
	clk := newClock()
	s.delay = 50 * time.Millisecond
	s.active["opaque"] = map[string]any{"active": true, "sub": "bob", "scope": "read", "exp": clk.unix(time.Hour)}
	v := newVerifier(t, s, clk, nil)

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if c, err := v.Verify(context.Background(), "opaque"); err != nil || c.Subject != "bob" {
				t.Errorf("%v %v", c, err)
			}
		})
	}
	wg.Wait()
	if n := s.intro.Load(); n != 1 {
		t.Fatalf("%d introspection calls for one token, want 1", n)
	}
	// Cached until CacheTTL, then asked again.
	clk.Add(30 * time.Second)
	v.Verify(context.Background(), "opaque")
	if n := s.intro.Load(); n != 1 {
		t.Fatalf("%d calls", n)
	}

	// Refused tokens are remembered briefly; failed calls not at all.
	for range 3 {
		if _, err := v.Verify(context.Background(), "unknown"); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := s.intro.Load(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
	s.fail.Store(true)
	for range 2 {
		if _, err := v.Verify(context.Background(), "other"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := s.intro.Load(); n != 4 {
		t.Fatalf("%d calls, want 4 (errors are not cached)", n)
	}
}

func TestIntrospectionCacheBoundedByExpiryAndTTL(t *testing.T) {
	s := newAuthServer(t)
	s.active["short"] = map[string]any{"active": true, "sub": "x", "exp": time.Now().Add(1500 * time.Millisecond).Unix()}
	s.active["expired"] = map[string]any{"active": true, "sub": "x", "exp": time.Now().Add(-time.Minute).Unix()}
	v := newVerifier(t, s, &clock{}, func(o *Options) { o.Now = time.Now; o.CacheTTL = time.Hour })
	if _, err := v.Verify(context.Background(), "short"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), "expired"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired: %v", err)
	}
	time.Sleep(2 * time.Second)
	s.mu.Lock()
	delete(s.active, "short")
	s.mu.Unlock()
	if _, err := v.Verify(context.Background(), "short"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("past exp the cache still answered: %v", err)
	}
}

func TestIntrospectionOnlyWithoutDiscovery(t *testing.T) {
	s := newAuthServer(t)
	s.active["t"] = map[string]any{"active": true, "sub": "x"}
	v := newVerifier(t, s, newClock(), func(o *Options) { o.Issuer = ""; o.IntrospectionEndpoint = s.URL + "/introspect" })
	if c, err := v.Verify(context.Background(), "t"); err != nil || c.Subject != "x" {
		t.Fatal(c, err)
	}
	if s.jwks.Load() != 0 {
		t.Fatal("key set fetched without discovery")
	}
	// Wrong client credentials: the server refuses the gateway, which
	// is not the token's fault.
	v2 := newVerifier(t, s, newClock(), func(o *Options) {
		o.Issuer = ""
		o.IntrospectionEndpoint = s.URL + "/introspect"
		o.ClientSecret = "wrong"
	})
	if _, err := v2.Verify(context.Background(), "t"); !errors.Is(err, ErrUnavailable) {
		t.Fatal(err)
	}
}

func TestDiscoveryRefusals(t *testing.T) {
	s := newAuthServer(t)
	v := New(Options{Issuer: s.URL + "/other", Timeout: time.Second})
	defer v.Close()
	if _, err := v.Verify(context.Background(), "x"); !errors.Is(err, ErrNotReady) {
		t.Fatalf("before discovery: %v", err)
	}
	if err := v.Discover(context.Background()); err == nil {
		t.Fatal("a document at another issuer's address was accepted")
	}
	s.issuer = "https://elsewhere.example"
	v = New(Options{Issuer: s.URL, Timeout: time.Second})
	defer v.Close()
	if err := v.Discover(context.Background()); err == nil || !strings.Contains(err.Error(), "not the configured") {
		t.Fatalf("issuer mismatch: %v", err)
	}
	// From a token endpoint's origin any issuer is taken, and JWTs must
	// carry the one found.
	v = New(Options{DiscoveryURLs: DiscoveryURLs(s.URL), Timeout: time.Second})
	defer v.Close()
	if err := v.Discover(context.Background()); err != nil || v.Metadata().Issuer != "https://elsewhere.example" {
		t.Fatal(err)
	}
}

func TestOversizedKeySetRefused(t *testing.T) {
	s := newAuthServer(t)
	clk := newClock()
	v := newVerifier(t, s, clk, func(o *Options) { o.AnyAudienceJWT = true })
	s.huge = true
	_, err := v.Verify(context.Background(), s.sign(t, map[string]any{"iss": s.issuer, "exp": clk.unix(time.Hour)}))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
}

func TestStartDiscoversInBackground(t *testing.T) {
	s := newAuthServer(t)
	v := New(Options{Issuer: s.URL, Timeout: time.Second, HTTPClient: http.DefaultClient})
	defer v.Close()
	v.Start()
	deadline := time.Now().Add(5 * time.Second)
	for v.Metadata() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if v.Metadata() == nil {
		t.Fatal("not discovered")
	}
}
