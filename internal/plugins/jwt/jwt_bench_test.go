package jwt

import (
	"testing"
)

// BenchmarkAccess is the latency and allocations the plugin adds to an
// authenticated request: finding the token in Authorization, verifying
// it, checking exp and setting the upstream headers. Each algorithm runs
// with the verified-token cache off (every request verifies the
// signature) and on (the same token again: a SHA-256 and a map lookup).
func BenchmarkAccess(b *testing.B) {
	dir, signers := newDir(b)
	for _, key := range []string{"hs256", "rs256", "es256"} {
		payload := valid(key)
		payload["sub"], payload["aud"], payload["scope"] = "user-1234567890", "orders-api", "orders:read orders:write"
		payload["email"], payload["name"] = "someone@example.com", "Some One"
		tok := sign(b, signers[key], payload, map[string]any{"kid": "key-2026-03"})
		for _, cached := range []bool{false, true} {
			name := key + "/cache=off"
			if cached {
				name = key + "/cache=on"
			}
			b.Run(name, func(b *testing.B) {
				in := mustBuild(b, func(c *Config) {
					c.ClaimsToVerify = []string{"exp"}
					if !cached {
						c.TokenCacheSize = 0
					}
				})
				c := newCtx(dir, authorize(tok))
				b.ReportAllocs()
				for b.Loop() {
					c.Consumer, c.Credential = nil, ""
					if err := in.Access(c); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkAccessClaimsToHeaders is a cached token on a route with two
// claims_to_headers, in a request carrying the headers a browser sends:
// the cost of removing the client's copies under every spelling.
func BenchmarkAccessClaimsToHeaders(b *testing.B) {
	dir, signers := newDir(b)
	payload := valid("es256")
	payload["sub"], payload["email"] = "user-1234567890", "someone@example.com"
	tok := sign(b, signers["es256"], payload, nil)
	in := mustBuild(b, func(c *Config) {
		c.ClaimsToHeaders = []ClaimHeader{{Claim: "sub", Header: "X-User-Id"}, {Claim: "email", Header: "X-User-Email"}}
	})
	c := newCtx(dir, req{header: []string{"Authorization", "Bearer " + tok, "Accept", "*/*", "Accept-Encoding", "gzip, br",
		"Accept-Language", "en-GB", "User-Agent", "Mozilla/5.0", "Cookie", "session=abc", "Referer", "https://app.example/",
		"X-Request-Id", "0123456789abcdef"}})
	b.ReportAllocs()
	for b.Loop() {
		c.Consumer, c.Credential = nil, ""
		if err := in.Access(c); err != nil {
			b.Fatal(err)
		}
	}
}
