package oidc

import (
	"context"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

var _ plugin.Claims = (*Claims)(nil)

// BenchmarkVerifyCached is the per-request cost of a token checked
// before: a hash of the token and a cache lookup.
func BenchmarkVerifyCached(b *testing.B) {
	s := newAuthServer(b)
	clk := newClock()
	v := New(Options{Issuer: s.issuer, Audience: []string{"api"}, CacheTTL: time.Minute, Timeout: time.Second,
		Now: clk.Now})
	defer v.Close()
	if err := v.Discover(context.Background()); err != nil {
		b.Fatal(err)
	}
	tok := s.sign(b, map[string]any{"iss": s.issuer, "sub": "a", "aud": "api", "scope": "read", "exp": clk.unix(time.Hour)})
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRefusedCached is the cost of a token refused before:
// a miss in the accepted cache, a hit in the refusals'.
func BenchmarkVerifyRefusedCached(b *testing.B) {
	s := newAuthServer(b)
	v := New(Options{IntrospectionEndpoint: s.URL + "/introspect", ClientID: "gw", ClientSecret: "s3cret",
		CacheTTL: time.Minute, NegativeTTL: time.Minute, Timeout: time.Second})
	defer v.Close()
	ctx := context.Background()
	if _, err := v.Verify(ctx, "unknown"); err == nil {
		b.Fatal("accepted")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, "unknown"); err == nil {
			b.Fatal("accepted")
		}
	}
	if s.intro.Load() != 1 {
		b.Fatalf("%d introspection calls", s.intro.Load())
	}
}
