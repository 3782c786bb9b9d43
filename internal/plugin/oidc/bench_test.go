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
