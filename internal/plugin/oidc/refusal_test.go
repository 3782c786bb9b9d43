package oidc

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// syncBuffer is a log destination the test reads while the verifier
// writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Without an audience to check, a JWT the issuer signed for any other
// application would pass the key set: it goes to introspection, or is
// refused (logged once) when the server has none.
func TestJWTVerifiedLocallyOnlyWithAnAudience(t *testing.T) {
	s := newAuthServer(t)
	clk := newClock()
	idToken := s.sign(t, map[string]any{"iss": s.issuer, "sub": "alice", "aud": "another-app", "exp": clk.unix(time.Hour)})

	v := newVerifier(t, s, clk, nil)
	if _, err := v.Verify(context.Background(), idToken); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("another app's token: %v", err)
	}
	if n := s.intro.Load(); n != 1 {
		t.Fatalf("%d introspection calls, want the JWT introspected", n)
	}
	s.active[idToken] = map[string]any{"active": true, "sub": "alice"}
	v = newVerifier(t, s, clk, nil)
	if c, err := v.Verify(context.Background(), idToken); err != nil || c.Subject != "alice" {
		t.Fatalf("introspected as active: %v %v", c, err)
	}

	// No client credentials: the discovered endpoint is not asked.
	calls := s.intro.Load()
	v = newVerifier(t, s, clk, func(o *Options) { o.ClientID, o.ClientSecret = "", "" })
	if _, err := v.Verify(context.Background(), idToken); !errors.Is(err, ErrInvalidToken) || s.intro.Load() != calls {
		t.Fatalf("without client credentials: %v, %d calls", err, s.intro.Load()-calls)
	}

	s.noIntrospection = true
	var logs syncBuffer
	v = newVerifier(t, s, clk, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	for i := range 3 {
		tok := s.sign(t, map[string]any{"iss": s.issuer, "sub": strconv.Itoa(i), "exp": clk.unix(time.Hour)})
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("no audience, no introspection: %v", err)
		}
	}
	if n := strings.Count(logs.String(), "set audience_required"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs.String())
	}

	v = newVerifier(t, s, clk, func(o *Options) { o.AnyAudienceJWT = true })
	if _, err := v.Verify(context.Background(), idToken); err != nil {
		t.Fatalf("AnyAudienceJWT: %v", err)
	}
}

// go-oidc allows a fixed 5 min on nbf; the configured leeway is the one
// that counts, on exp and nbf alike, JWT or introspection.
func TestLeewayBeyondFiveMinutes(t *testing.T) {
	s := newAuthServer(t)
	clk := newClock()
	v := newVerifier(t, s, clk, func(o *Options) { o.Audience = []string{"api"}; o.Leeway = 10 * time.Minute })
	for _, tc := range []struct {
		name     string
		exp, nbf time.Duration
		ok       bool
	}{
		{"nbf 7 min ahead", time.Hour, 7 * time.Minute, true},
		{"exp 7 min ago", -7 * time.Minute, -time.Hour, true},
		{"nbf 11 min ahead", time.Hour, 11 * time.Minute, false},
		{"exp 11 min ago", -11 * time.Minute, -time.Hour, false},
	} {
		claims := map[string]any{"iss": s.issuer, "sub": tc.name, "aud": "api", "exp": clk.unix(tc.exp), "nbf": clk.unix(tc.nbf)}
		_, err := v.Verify(context.Background(), s.sign(t, claims))
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrInvalidToken) {
			t.Errorf("JWT, %s: %v", tc.name, err)
		}
		intro := map[string]any{"active": true, "aud": "api", "exp": clk.unix(tc.exp), "nbf": clk.unix(tc.nbf)}
		s.mu.Lock()
		s.active[tc.name] = intro
		s.mu.Unlock()
		_, err = v.Verify(context.Background(), tc.name)
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrInvalidToken) {
			t.Errorf("introspection, %s: %v", tc.name, err)
		}
	}
}

// Only public-key algorithms are taken from discovery: a symmetric key
// the server publishes would otherwise sign tokens for anyone.
func TestSymmetricAndNoneAlgorithmsRefused(t *testing.T) {
	s := newAuthServer(t)
	s.algs = []string{"RS256", "HS256", "none"}
	s.hmac = []byte("a symmetric key anyone reading the key set knows")
	clk := newClock()
	v := newVerifier(t, s, clk, func(o *Options) { o.Audience = []string{"api"} })
	claims := map[string]any{"iss": s.issuer, "sub": "mallory", "aud": "api", "exp": clk.unix(time.Hour)}
	if _, err := v.Verify(context.Background(), s.sign(t, claims)); err != nil {
		t.Fatalf("RS256: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	payload, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	forged := map[string]string{
		"HS256 with the published symmetric key": signWith(t, jose.HS256, s.hmac, "hs", claims),
		"HS256 with the public key":              signWith(t, jose.HS256, pub, "k1", claims),
		"alg none":                               enc([]byte(`{"alg":"none","kid":"k1","typ":"JWT"}`)) + "." + enc(payload) + ".",
	}
	for name, tok := range forged {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// Tokens naming made-up key ids make no more than one key-set fetch per
// interval, however many there are.
func TestUnknownKeyIDFloodThrottled(t *testing.T) {
	s := newAuthServer(t)
	clk := newClock()
	v := newVerifier(t, s, clk, func(o *Options) { o.Audience = []string{"api"} })
	claims := map[string]any{"iss": s.issuer, "sub": "a", "aud": "api", "exp": clk.unix(time.Hour)}
	if _, err := v.Verify(context.Background(), s.sign(t, claims)); err != nil {
		t.Fatal(err)
	}
	fetches := s.jwks.Load()
	for i := range 50 {
		tok := signWith(t, jose.RS256, s.key, "made-up-"+strconv.Itoa(i), claims)
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("unknown kid %d: %v", i, err)
		}
	}
	if n := s.jwks.Load() - fetches; n != 0 {
		t.Fatalf("%d key-set fetches for 50 unknown key ids within the interval, want 0", n)
	}
	clk.Add(6 * time.Second)
	for i := range 50 {
		v.Verify(context.Background(), signWith(t, jose.RS256, s.key, "later-"+strconv.Itoa(i), claims))
	}
	if n := s.jwks.Load() - fetches; n != 1 {
		t.Fatalf("%d key-set fetches past the interval, want 1", n)
	}
}

// Refusals have their own cache: a flood of made-up tokens does not push
// an accepted token out.
func TestRefusalFloodKeepsAcceptedTokens(t *testing.T) {
	s := newAuthServer(t)
	clk := newClock()
	s.active["good"] = map[string]any{"active": true, "sub": "bob", "exp": clk.unix(time.Hour)}
	v := newVerifier(t, s, clk, func(o *Options) {
		o.CacheBytes = 4 << 10
		o.Issuer = ""
		o.IntrospectionEndpoint = s.URL + "/introspect"
	})
	if _, err := v.Verify(context.Background(), "good"); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		v.Verify(context.Background(), "made-up-"+strconv.Itoa(i))
	}
	n := s.intro.Load()
	if _, err := v.Verify(context.Background(), "good"); err != nil {
		t.Fatal(err)
	}
	if s.intro.Load() != n {
		t.Fatal("the accepted token was evicted by refusals and introspected again")
	}
}
