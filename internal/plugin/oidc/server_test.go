package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// authServer is an authorization server for the package's tests: a real
// HTTP server publishing discovery, a key set it can rotate and an RFC
// 7662 introspection endpoint; it counts the calls it serves. The e2e
// tests run the gateway against a full OpenID provider (gwtest/oidcop).
type authServer struct {
	*httptest.Server
	mu      sync.Mutex
	key     *rsa.PrivateKey
	kid     string
	active  map[string]map[string]any
	issuer  string
	jwks    atomic.Int32
	intro   atomic.Int32
	fail    atomic.Bool
	delay   time.Duration
	basicID string
	huge    bool
	// algs is what discovery advertises (RS256 when nil); hmac, when
	// set, is published in the key set as a symmetric key, kid "hs",
	// without alg (go-oidc skips keys naming an alg it does not support).
	algs []string
	hmac []byte
	// noIntrospection leaves the endpoint out of discovery.
	noIntrospection bool
}

func newAuthServer(t testing.TB) *authServer {
	s := &authServer{active: map[string]map[string]any{}, basicID: "gw", kid: "k1"}
	s.key = newKey(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		algs := s.algs
		if algs == nil {
			algs = []string{"RS256"}
		}
		m := map[string]any{
			"issuer": s.issuer, "jwks_uri": s.URL + "/keys", "token_endpoint": s.URL + "/token",
			"introspection_endpoint": s.URL + "/introspect", "authorization_endpoint": s.URL + "/authorize",
			"id_token_signing_alg_values_supported": algs,
		}
		if s.noIntrospection {
			delete(m, "introspection_endpoint")
		}
		writeJSON(w, m)
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		s.jwks.Add(1)
		if s.huge {
			w.Write(make([]byte, MaxResponseBytes+10))
			return
		}
		s.mu.Lock()
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &s.key.PublicKey, KeyID: s.kid, Algorithm: "RS256", Use: "sig"}}}
		if s.hmac != nil {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: s.hmac, KeyID: "hs", Use: "sig"})
		}
		s.mu.Unlock()
		writeJSON(w, set)
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		s.intro.Add(1)
		time.Sleep(s.delay)
		if s.fail.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		if id, secret, ok := r.BasicAuth(); !ok || id != s.basicID || secret != "s3cret" {
			http.Error(w, "who", http.StatusUnauthorized)
			return
		}
		s.mu.Lock()
		ans, ok := s.active[r.PostFormValue("token")]
		s.mu.Unlock()
		if !ok {
			ans = map[string]any{"active": false}
		}
		writeJSON(w, ans)
	})
	s.Server = httptest.NewServer(mux)
	s.issuer = s.URL
	t.Cleanup(s.Close)
	return s
}

func newKey(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// sign issues a JWT with claims under the server's current key.
func (s *authServer) sign(t testing.TB, claims map[string]any) string {
	s.mu.Lock()
	key, kid := s.key, s.kid
	s.mu.Unlock()
	return signWith(t, jose.RS256, key, kid, claims)
}

// signWith issues a JWT with claims, signed by key with alg.
func signWith(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rotate replaces the signing key and its id.
func (s *authServer) rotate(t *testing.T, kid string) {
	k := newKey(t)
	s.mu.Lock()
	s.key, s.kid = k, kid
	s.mu.Unlock()
}
