package jwt

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	gojwt "github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
)

// jwksServer is an identity provider's JWK Set endpoint on loopback whose
// document the test changes.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	doc     []byte
	fetches atomic.Int64
}

func startJWKS(t *testing.T, keys ...any) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.serve(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		doc := s.doc
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve replaces the document: each key is a jwkset.JWK or a raw JWK map.
func (s *jwksServer) serve(t *testing.T, keys ...any) {
	t.Helper()
	var set []any
	for _, k := range keys {
		if j, ok := k.(jwkset.JWK); ok {
			set = append(set, j.Marshal())
			continue
		}
		set = append(set, k)
	}
	doc, err := json.Marshal(map[string]any{"keys": set})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.doc = doc
	s.mu.Unlock()
}

// jwk describes pub as a JWK with a kid, an alg and use "sig".
func jwk(t *testing.T, pub any, kid, alg string) jwkset.JWK {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
		KID: kid, ALG: jwkset.ALG(alg), USE: jwkset.UseSig,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// jwksDir is a directory with one credential per algorithm family using
// the JWK Set at uri: "idp" (RS256), "idp-es" (ES256), "idp-ed" (EdDSA).
func jwksDir(uri string) *plugintest.Directory {
	d := &plugintest.Directory{Consumers: []*plugin.Consumer{bob, nobody}, JWTs: map[string]*plugin.Credential{}}
	for key, alg := range map[string]string{"idp": "RS256", "idp-es": "ES256", "idp-ed": "EdDSA"} {
		d.JWTs[key] = &plugin.Credential{ID: "cred-" + key, Kind: "jwt", Key: key, Consumer: bob, Algorithm: alg, JWKSURI: uri}
	}
	return d
}

func authorize(tok string) req { return req{header: []string{"Authorization", "Bearer " + tok}} }

func TestJWKS(t *testing.T) {
	k := keys(t)
	srv := startJWKS(t, jwk(t, &k.rsa.PublicKey, "k1", "RS256"), jwk(t, &k.p256.PublicKey, "e1", "ES256"),
		jwk(t, k.ed.Public(), "d1", "EdDSA"))
	dir := jwksDir(srv.URL)
	in := mustBuild(t, nil)
	rs := func(key any, kid string, payload claims) string {
		return sign(t, signer{"RS256", key}, payload, map[string]any{"kid": kid})
	}
	ok := outcome{Status: 200, Identity: identity(bob, "idp")}

	if got := run(t, in, newCtx(dir, authorize(rs(k.rsa, "k1", valid("idp"))))); !cmp.Equal(got, ok) {
		t.Fatalf("k1: %+v", got)
	}
	for _, c := range []struct {
		key   string
		token string
	}{
		{"idp-es", sign(t, signer{"ES256", k.p256}, valid("idp-es"), map[string]any{"kid": "e1"})},
		{"idp-ed", sign(t, signer{"EdDSA", k.ed}, valid("idp-ed"), map[string]any{"kid": "d1"})},
	} {
		if got := run(t, in, newCtx(dir, authorize(c.token))); !cmp.Equal(got, outcome{Status: 200, Identity: identity(bob, c.key)}) {
			t.Errorf("%s: %+v", c.key, got)
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (one set per URL, shared)", n)
	}

	// Rotation: the provider now signs with k2 and serves it; the unknown
	// kid makes the set refresh at once.
	srv.serve(t, jwk(t, &k.rsaOther.PublicKey, "k2", "RS256"))
	if got := run(t, in, newCtx(dir, authorize(rs(k.rsaOther, "k2", valid("idp"))))); !cmp.Equal(got, ok) {
		t.Fatalf("k2 after rotation: %+v", got)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after rotation, want 2", n)
	}
	// The refresh replaced the set: k1 is gone (for a token not verified
	// before; the cache trusts a verified one for up to cacheTTL).
	fresh := valid("idp")
	fresh["jti"] = "fresh"
	if got := run(t, in, newCtx(dir, authorize(rs(k.rsa, "k1", fresh)))); got.Status != 401 {
		t.Errorf("withdrawn k1: %+v", got)
	}

	// Refreshes for unknown kids are rate limited: a second rotation right
	// after is not fetched (and the request is answered at once).
	srv.serve(t, jwk(t, &k.rsa.PublicKey, "k3", "RS256"))
	start := time.Now()
	if got := run(t, in, newCtx(dir, authorize(rs(k.rsa, "k3", valid("idp"))))); !cmp.Equal(got, fail("Invalid signature", bearerErr)) {
		t.Errorf("k3 within the rate limit: %+v", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refused after %v, want at once", d)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want still 2", n)
	}

	// Without a kid every key of the set is tried.
	if got := run(t, in, newCtx(dir, authorize(sign(t, signer{"RS256", k.rsaOther}, valid("idp"), nil)))); !cmp.Equal(got, ok) {
		t.Errorf("no kid: %+v", got)
	}
	// A kid that is not a string names no key.
	if got := run(t, in, newCtx(dir, authorize(rs(k.rsaOther, "", valid("idp"))))); got.Status != 401 {
		t.Errorf("empty kid: %+v", got)
	}
	bad := sign(t, signer{"RS256", k.rsaOther}, valid("idp"), map[string]any{"kid": 2})
	if got := run(t, in, newCtx(dir, authorize(bad))); got.Status != 401 {
		t.Errorf("numeric kid: %+v", got)
	}
}

// Keys of a JWK Set are used only for the credential's algorithm.
func TestJWKSKeyChecks(t *testing.T) {
	k := keys(t)
	secret := []byte("a shared secret in a public set")
	srv := startJWKS(t,
		jwk(t, &k.rsa.PublicKey, "rs384", "RS384"),
		map[string]any{"kty": "RSA", "kid": "enc", "use": "enc", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(k.rsa.N.Bytes()), "e": "AQAB"},
		map[string]any{"kty": "RSA", "kid": "no-alg",
			"n": base64.RawURLEncoding.EncodeToString(k.rsa.N.Bytes()), "e": "AQAB"},
		map[string]any{"kty": "oct", "kid": "oct", "alg": "HS256", "k": base64.RawURLEncoding.EncodeToString(secret)},
		jwk(t, &k.p384.PublicKey, "p384", ""),
	)
	in := mustBuild(t, nil)
	dir := jwksDir(srv.URL)
	tests := []struct {
		name, token string
		want        outcome
	}{
		{"JWK alg differs", sign(t, signer{"RS256", k.rsa}, valid("idp"), map[string]any{"kid": "rs384"}), fail("Invalid signature", bearerErr)},
		{"JWK for encryption", sign(t, signer{"RS256", k.rsa}, valid("idp"), map[string]any{"kid": "enc"}), fail("Invalid signature", bearerErr)},
		{"JWK without alg", sign(t, signer{"RS256", k.rsa}, valid("idp"), map[string]any{"kid": "no-alg"}), outcome{Status: 200, Identity: identity(bob, "idp")}},
		{"HS256 with the set's oct key", sign(t, signer{"HS256", secret}, valid("idp"), map[string]any{"kid": "oct"}), fail("Invalid algorithm", bearerErr)},
		{"HS256 with the set's RSA modulus", forge(t, map[string]any{"alg": "HS256", "kid": "no-alg"}, valid("idp"), gojwt.SigningMethodHS256,
			k.rsa.N.Bytes(), nil), fail("Invalid algorithm", bearerErr)},
		{"RS256 naming the oct key", sign(t, signer{"RS256", k.rsa}, valid("idp"), map[string]any{"kid": "oct"}), fail("Invalid signature", bearerErr)},
		{"ES256 with a P-384 key", sign(t, signer{"ES384", k.p384}, valid("idp-es"), map[string]any{"kid": "p384", "alg": "ES256"}),
			fail("Invalid signature", bearerErr)},
		{"jku elsewhere", sign(t, signer{"RS256", k.rsaOther}, valid("idp"), map[string]any{"kid": "no-alg", "jku": "http://127.0.0.1:1/"}),
			fail("Invalid signature", bearerErr)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(t, in, newCtx(dir, authorize(tt.token))); !cmp.Equal(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A JWK Set that cannot be fetched fails closed, within the fetch timeout.
func TestJWKSUnavailable(t *testing.T) {
	k := keys(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A server that accepts and never answers.
	var conns sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				<-stop
				c.Close()
			})
		}
	}()
	t.Cleanup(func() { close(stop); ln.Close(); conns.Wait() })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String() + "/jwks"
	closed.Close()

	for name, uri := range map[string]string{"hanging": "http://" + ln.Addr().String() + "/jwks", "refused": refused} {
		t.Run(name, func(t *testing.T) {
			in := mustBuild(t, func(c *Config) { c.JWKSTimeout = 1 })
			tok := sign(t, signer{"RS256", k.rsa}, valid("idp"), map[string]any{"kid": "k1"})
			start := time.Now()
			got := run(t, in, newCtx(jwksDir(uri), authorize(tok)))
			if !cmp.Equal(got, fail("Invalid signature", bearerErr)) {
				t.Errorf("got %+v", got)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("answered after %v", d)
			}
		})
	}
}

// Close stops the background refreshers; a closed instance fails closed.
func TestJWKSClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	k := keys(t)
	srv := startJWKS(t, jwk(t, &k.rsa.PublicKey, "k1", "RS256"))
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	cfg.JWKSRefreshInterval = 1
	inst, err := reg.New(cfg, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	in := inst.(*instance)
	in.now = func() time.Time { return now }
	in.cache = nil
	tok := sign(t, signer{"RS256", k.rsa}, valid("idp"), map[string]any{"kid": "k1"})
	dir := jwksDir(srv.URL)
	if got := run(t, in, newCtx(dir, authorize(tok))); got.Status != 200 {
		t.Fatalf("got %+v", got)
	}
	// The background refresh runs every second.
	deadline := time.Now().Add(5 * time.Second)
	for srv.fetches.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := srv.fetches.Load(); n < 2 {
		t.Fatalf("%d fetches, want a background refresh", n)
	}
	in.Close()
	if got := run(t, in, newCtx(dir, authorize(tok))); !cmp.Equal(got, fail("Invalid signature", bearerErr)) {
		t.Errorf("after Close: %+v", got)
	}
	n := srv.fetches.Load()
	time.Sleep(1500 * time.Millisecond)
	if m := srv.fetches.Load(); m != n {
		t.Errorf("%d fetches after Close", m-n)
	}
	srv.Close()
}

func TestJWKSIssuerAudience(t *testing.T) {
	k := keys(t)
	srv := startJWKS(t, jwk(t, &k.rsa.PublicKey, "k1", "RS256"))
	dir := jwksDir(srv.URL)
	dir.JWTs["idp"].Issuer, dir.JWTs["idp"].Audience = "idp", []string{"orders"}
	in := mustBuild(t, nil)
	p := valid("idp")
	p["aud"] = []string{"orders"}
	if got := run(t, in, newCtx(dir, authorize(sign(t, signer{"RS256", k.rsa}, p, map[string]any{"kid": "k1"})))); got.Status != 200 {
		t.Errorf("got %+v", got)
	}
	p["aud"] = "billing"
	if got := run(t, in, newCtx(dir, authorize(sign(t, signer{"RS256", k.rsa}, p, map[string]any{"kid": "k1"})))); !cmp.Equal(got, claimFail(`{"aud":"invalid audience"}`)) {
		t.Errorf("got %+v", got)
	}
}

func TestJWKSBodyLimit(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"keys":[],"pad":"`))
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = 'a'
		}
		for range 2 * maxJWKSBytes / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		w.Write([]byte(`"}`))
	}))
	defer big.Close()
	s := newJWKSSets(jwksOptions{refresh: time.Hour, unknownKID: time.Hour, timeout: 2 * time.Second, logger: slog.New(slog.DiscardHandler)})
	defer s.close()
	resp, err := s.client.Get(big.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err == nil {
		t.Fatal("a JWK Set over the limit was read")
	}
}

// Concurrent first uses of a JWK Set share one set and one fetch.
func TestJWKSConcurrentFirstUse(t *testing.T) {
	k := keys(t)
	srv := startJWKS(t, jwk(t, &k.rsa.PublicKey, "k1", "RS256"))
	dir := jwksDir(srv.URL)
	in := mustBuild(t, nil)
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		p := valid("idp")
		p["jti"] = i
		tok := sign(t, signer{"RS256", k.rsa}, p, map[string]any{"kid": "k1"})
		wg.Go(func() {
			statuses[i] = run(t, in, newCtx(dir, authorize(tok))).Status
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("request %d: %d", i, s)
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}
