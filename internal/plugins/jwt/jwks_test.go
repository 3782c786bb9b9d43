package jwt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
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
	mu  sync.Mutex
	doc []byte
	// hook, when set, runs before the nth fetch is answered; false makes
	// the answer a 500.
	hook    func(n int64, r *http.Request) bool
	fetches atomic.Int64
}

func startJWKS(t *testing.T, keys ...any) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.serve(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.fetches.Add(1)
		s.mu.Lock()
		hook := s.hook
		s.mu.Unlock()
		if hook != nil && !hook(n, r) {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		s.mu.Lock()
		doc := s.doc
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setHook(h func(n int64, r *http.Request) bool) {
	s.mu.Lock()
	s.hook = h
	s.mu.Unlock()
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
	d := &plugintest.Directory{Consumers: []*plugin.Consumer{bob, nobody}, ByKind: map[string]map[string]*plugin.Credential{kindName: {}}}
	for key, alg := range map[string]string{"idp": "RS256", "idp-es": "ES256", "idp-ed": "EdDSA"} {
		d.ByKind[kindName][key] = credential("cred-"+key, key, bob, Credential{Algorithm: alg, JWKSURI: uri}, nil)
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
	f := dir.ByKind[kindName]["idp"].Fields.(*Credential)
	f.Issuer, f.Audience = "idp", []string{"orders"}
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

// withJWKS gives in JWK Sets with these intervals (the config's are whole
// seconds).
func withJWKS(in *instance, refresh, unknownKID, timeout time.Duration) {
	in.jwks.close()
	in.jwks = newJWKSSets(jwksOptions{refresh: refresh, unknownKID: unknownKID, timeout: timeout, logger: slog.New(slog.DiscardHandler)})
}

// refreshers counts the running JWK Set refresher goroutines.
func refreshers() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "jwt.(*jwksSets).refresher(")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reload tells in that a reload kept it, in a configuration whose jwt
// credentials name uris.
func reload(in *instance, uris ...string) {
	creds := map[string]*plugin.Credential{}
	for i, u := range uris {
		// Keys sort in the order of uris (the double lists by key).
		creds[strconv.Itoa(100+i)] = &plugin.Credential{Kind: name, Fields: &Credential{JWKSURI: u}}
	}
	in.Reloaded(plugin.Reload{Directory: &plugintest.Directory{ByKind: map[string]map[string]*plugin.Credential{kindName: creds}}})
}

func TestJWKSURIs(t *testing.T) {
	// Each URL once, in the credentials' order; credentials without one
	// name none.
	creds := []*plugin.Credential{
		{Fields: &Credential{JWKSURI: "https://b.example/jwks"}}, {Fields: &Credential{Secret: "s"}},
		{Fields: &Credential{JWKSURI: "https://a.example/jwks"}}, {Fields: &Credential{JWKSURI: "https://b.example/jwks"}},
	}
	if diff := cmp.Diff([]string{"https://b.example/jwks", "https://a.example/jwks"}, jwksURIs(creds)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := jwksURIs(nil); got != nil {
		t.Errorf("no credentials: %v", got)
	}
}

// A reload closes the sets of URLs no credential names any more, and
// fetches the others again at once; requests wait for that fetch, so a
// key the provider withdrew is refused from the reload on.
func TestJWKSReload(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	k := keys(t)
	a := startJWKS(t, jwk(t, &k.rsa.PublicKey, "k1", "RS256"))
	b := startJWKS(t, jwk(t, &k.p256.PublicKey, "e1", "ES256"))
	dir := jwksDir(a.URL)
	dir.ByKind[kindName]["idp-es"].Fields.(*Credential).JWKSURI = b.URL
	in := mustBuild(t, nil)
	before := refreshers()
	tok := func(kid string, key any, jti string) string {
		p := valid("idp")
		p["jti"] = jti
		return sign(t, signer{"RS256", key}, p, map[string]any{"kid": kid})
	}
	ok := outcome{Status: 200, Identity: identity(bob, "idp")}
	if got := run(t, in, newCtx(dir, authorize(tok("k1", k.rsa, "1")))); !cmp.Equal(got, ok) {
		t.Fatalf("k1: %+v", got)
	}
	es := sign(t, signer{"ES256", k.p256}, valid("idp-es"), map[string]any{"kid": "e1"})
	if got := run(t, in, newCtx(dir, authorize(es))); got.Status != 200 {
		t.Fatalf("e1: %+v", got)
	}
	if n := refreshers() - before; n != 2 {
		t.Fatalf("%d refreshers, want 2", n)
	}

	// The provider withdraws k1 for k2; the new configuration no longer
	// names b. A slow answer shows that requests wait for the refetch.
	a.serve(t, jwk(t, &k.rsaOther.PublicKey, "k2", "RS256"))
	a.setHook(func(int64, *http.Request) bool { time.Sleep(100 * time.Millisecond); return true })
	delete(dir.ByKind[kindName], "idp-es")
	// A reload builds new credentials: cached tokens are verified again.
	cred := *dir.ByKind[kindName]["idp"]
	dir.ByKind[kindName]["idp"] = &cred
	reload(in, a.URL, "https://unused.example/jwks")
	if got := run(t, in, newCtx(dir, authorize(tok("k1", k.rsa, "1")))); !cmp.Equal(got, fail("Invalid signature", bearerErr)) {
		t.Errorf("withdrawn k1 right after the reload: %+v", got)
	}
	if got := run(t, in, newCtx(dir, authorize(tok("k2", k.rsaOther, "2")))); !cmp.Equal(got, ok) {
		t.Errorf("k2 after the reload: %+v", got)
	}
	// One fetch for the reload; k1, unknown now, may cause one more.
	if n := a.fetches.Load(); n < 2 || n > 3 {
		t.Errorf("%d fetches of a, want 2 or 3", n)
	}
	waitFor(t, "b's refresher ends", func() bool { return refreshers()-before == 1 })
	if n := b.fetches.Load(); n != 1 {
		t.Errorf("%d fetches of b, want 1", n)
	}
	// A reload without changes is the operator's "refresh now".
	a.setHook(nil)
	a.serve(t, jwk(t, &k.rsa.PublicKey, "k3", "RS256"))
	fetches := a.fetches.Load()
	reload(in, a.URL)
	waitFor(t, "the reload's fetch", func() bool { return a.fetches.Load() == fetches+1 })
	if got := run(t, in, newCtx(dir, authorize(tok("k3", k.rsa, "3")))); !cmp.Equal(got, ok) {
		t.Errorf("k3 after the second reload: %+v", got)
	}
	if n := a.fetches.Load(); n != fetches+1 {
		t.Errorf("%d fetches for the second reload, want 1", n-fetches)
	}
	// A reload that names no JWK Set closes them all.
	reload(in)
	waitFor(t, "every refresher ends", func() bool { return refreshers() == before })
	in.Close()
	a.Close()
	b.Close()
}

// A refresh a token causes runs on the set's context: the client going
// away does not cut it short, and the rate limit counts it only once it
// ended, so the key it brings is there for the next request.
func TestJWKSRefreshOutlivesRequest(t *testing.T) {
	k := keys(t)
	srv := startJWKS(t, jwk(t, &k.rsa.PublicKey, "k1", "RS256"))
	dir := jwksDir(srv.URL)
	in := mustBuild(t, nil)
	if got := run(t, in, newCtx(dir, authorize(sign(t, signer{"RS256", k.rsa}, valid("idp"), map[string]any{"kid": "k1"})))); got.Status != 200 {
		t.Fatalf("k1: %+v", got)
	}
	// The provider rotates; the next fetch answers only once the client
	// that caused it is gone.
	srv.serve(t, jwk(t, &k.rsa.PublicKey, "k1", "RS256"), jwk(t, &k.rsaOther.PublicKey, "k2", "RS256"))
	arrived, release := make(chan struct{}), make(chan struct{})
	srv.setHook(func(n int64, r *http.Request) bool {
		if n == 2 {
			close(arrived)
			<-release
		}
		return r.Context().Err() == nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	junk := newCtx(dir, authorize(sign(t, signer{"RS256", k.rsa}, valid("idp"), map[string]any{"kid": "junk"})))
	junk.Req = junk.Req.WithContext(ctx)
	done := make(chan outcome)
	go func() { done <- run(t, in, junk) }()
	<-arrived
	cancel()
	if got := <-done; got.Status != 401 {
		t.Errorf("junk kid: %+v", got)
	}
	close(release)
	if got := run(t, in, newCtx(dir, authorize(sign(t, signer{"RS256", k.rsaOther}, valid("idp"), map[string]any{"kid": "k2"})))); got.Status != 200 {
		t.Errorf("k2, served since the junk kid's refresh: %+v", got)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

// Concurrent tokens with unknown kids share one fetch.
func TestJWKSRefreshSingleFlight(t *testing.T) {
	k := keys(t)
	srv := startJWKS(t, jwk(t, &k.rsa.PublicKey, "k1", "RS256"))
	dir := jwksDir(srv.URL)
	in := mustBuild(t, nil)
	if got := run(t, in, newCtx(dir, authorize(sign(t, signer{"RS256", k.rsa}, valid("idp"), map[string]any{"kid": "k1"})))); got.Status != 200 {
		t.Fatalf("k1: %+v", got)
	}
	srv.serve(t, jwk(t, &k.rsaOther.PublicKey, "k2", "RS256"))
	srv.setHook(func(int64, *http.Request) bool { time.Sleep(50 * time.Millisecond); return true })
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		p := valid("idp")
		p["jti"] = i
		tok := sign(t, signer{"RS256", k.rsaOther}, p, map[string]any{"kid": "k2"})
		wg.Go(func() { statuses[i] = run(t, in, newCtx(dir, authorize(tok))).Status })
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("request %d: %d", i, s)
		}
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

// When the first fetch failed, a token without a kid makes the set fetch
// again (no key can have verified it).
func TestJWKSRefreshWithoutKID(t *testing.T) {
	k := keys(t)
	srv := startJWKS(t, jwk(t, &k.rsa.PublicKey, "k1", "RS256"))
	srv.setHook(func(n int64, _ *http.Request) bool { return n > 1 })
	in := mustBuild(t, nil)
	tok := sign(t, signer{"RS256", k.rsa}, valid("idp"), nil)
	if got := run(t, in, newCtx(jwksDir(srv.URL), authorize(tok))); got.Status != 200 {
		t.Errorf("no kid after a failed first fetch: %+v", got)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
	// Within the rate limit, a token no key verifies is refused at once.
	bad := sign(t, signer{"RS256", k.rsaOther}, valid("idp"), nil)
	if got := run(t, in, newCtx(jwksDir(srv.URL), authorize(bad))); !cmp.Equal(got, fail("Invalid signature", bearerErr)) {
		t.Errorf("unknown key without kid: %+v", got)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want still 2", n)
	}
}

// A token-caused refresh that the rate limit allows before the request's
// budget runs out is waited for; the interval runs from the end of the
// last such fetch, failed ones included.
func TestJWKSRefreshWaitsForRateLimit(t *testing.T) {
	k := keys(t)
	srv := startJWKS(t, jwk(t, &k.rsa.PublicKey, "k1", "RS256"))
	dir := jwksDir(srv.URL)
	in := mustBuild(t, nil)
	withJWKS(in, time.Hour, 300*time.Millisecond, 2*time.Second)
	kid := func(key any, kid string) string {
		return sign(t, signer{"RS256", key}, valid("idp"), map[string]any{"kid": kid})
	}
	if got := run(t, in, newCtx(dir, authorize(kid(k.rsa, "k1")))); got.Status != 200 {
		t.Fatalf("k1: %+v", got)
	}
	srv.setHook(func(int64, *http.Request) bool { return false })
	if got := run(t, in, newCtx(dir, authorize(kid(k.rsaOther, "k2")))); got.Status != 401 {
		t.Fatalf("k2 while the provider fails: %+v", got)
	}
	srv.setHook(nil)
	srv.serve(t, jwk(t, &k.rsaOther.PublicKey, "k2", "RS256"))
	start := time.Now()
	if got := run(t, in, newCtx(dir, authorize(kid(k.rsaOther, "k2")))); got.Status != 200 {
		t.Errorf("k2 after the rate limit: %+v", got)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("fetched again after %v, within the rate limit", d)
	}
	if n := srv.fetches.Load(); n != 3 {
		t.Errorf("%d fetches, want 3", n)
	}
}

// A set a reload closed keeps its keys until the next reload, for a
// request that still needs it: one of the configuration the reload
// replaced, or of the one in force after a dry run (which is compiled the
// same way) that named other credentials. It does not wait for, nor
// depend on, a new first fetch.
func TestJWKSReloadRetiredKeys(t *testing.T) {
	k := keys(t)
	srv := startJWKS(t, jwk(t, &k.rsa.PublicKey, "k1", "RS256"))
	dir := jwksDir(srv.URL)
	in := mustBuild(t, nil)
	tok := func(jti string) string {
		p := valid("idp")
		p["jti"] = jti
		return sign(t, signer{"RS256", k.rsa}, p, map[string]any{"kid": "k1"})
	}
	if got := run(t, in, newCtx(dir, authorize(tok("1")))); got.Status != 200 {
		t.Fatalf("k1: %+v", got)
	}
	reload(in)
	srv.setHook(func(int64, *http.Request) bool { return false })
	if got := run(t, in, newCtx(dir, authorize(tok("2")))); got.Status != 200 {
		t.Errorf("k1 after a reload that closed its set: %+v", got)
	}
	waitFor(t, "the revived set's fetch", func() bool { return srv.fetches.Load() == 2 })
	// Two reloads later the keys are gone: a new set must fetch them.
	reload(in)
	reload(in)
	if got := run(t, in, newCtx(dir, authorize(tok("3")))); !cmp.Equal(got, fail("Invalid signature", bearerErr)) {
		t.Errorf("k1 two reloads later, provider down: %+v", got)
	}
}
