package snapshot

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// OpenSSL's verify depth d allows d intermediates between the leaf and
// the trust anchor; a self-signed leaf trusted as is always passes.
func TestVerifyDepth(t *testing.T) {
	chain := func(n int) [][]*x509.Certificate { return [][]*x509.Certificate{make([]*x509.Certificate, n)} }
	for _, c := range []struct {
		depth, length int
		ok            bool
	}{
		{0, 1, true}, {0, 2, true}, {0, 3, false},
		{1, 3, true}, {1, 4, false},
		{2, 4, true}, {2, 5, false},
	} {
		err := verifyDepth(c.depth)(nil, chain(c.length))
		if (err == nil) != c.ok {
			t.Errorf("depth %d, chain of %d: %v, want ok %v", c.depth, c.length, err, c.ok)
		}
	}
	// Any verified chain within the limit passes (a cross-signed root
	// gives two).
	if err := verifyDepth(0)(nil, append(chain(4), chain(2)...)); err != nil {
		t.Errorf("a short chain beside a long one: %v", err)
	}
}

func testClientPEM(t *testing.T, cn string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

const mtlsServices = `
_format_version: "3.0"
certificates:
- id: 5e3f2a10-8c4d-4b6e-9a7f-1c2d3e4f5a6b
  cert: ${CERT}
  key: ${KEY}
upstreams:
- name: backend
  host_header: api.internal
  targets: [{target: "10.0.0.9:8443"}]
- name: fallback
  client_certificate: {id: 5e3f2a10-8c4d-4b6e-9a7f-1c2d3e4f5a6b}
  targets: [{target: "10.0.0.9:8443"}]
services:
- {name: plain, url: "https://backend"}
- {name: cert, url: "https://backend", client_certificate: {id: 5e3f2a10-8c4d-4b6e-9a7f-1c2d3e4f5a6b}}
- {name: depth, url: "https://backend", client_certificate: {id: 5e3f2a10-8c4d-4b6e-9a7f-1c2d3e4f5a6b}, tls_verify_depth: 2}
- {name: upcert, url: "https://fallback"}
`

// The service's TLS settings reach the pool of its targets, and each
// one that changes a connection gives a pool of its own: the client
// certificate (by id and content), the depth and the server name.
func TestUpstreamTLSPools(t *testing.T) {
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	rt := upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})
	build := func(cert, key string, prev *Snapshot) *Snapshot {
		env := map[string]string{"CERT": cert, "KEY": key}
		m, err := config.Parse([]byte(mtlsServices), config.Options{ExpandEnv: true, LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		}})
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		s, err := Compile(m, Deps{Upstreams: rt, Previous: prev})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pool := func(s *Snapshot, name string) *upstream.Pool {
		return serviceByName(t, s, name).Balancer.Targets()[0].Pool
	}
	cert, key := testClientPEM(t, "gw")
	s := build(cert, key, nil)
	names := []string{"plain", "cert", "depth", "upcert"}
	seen := map[*upstream.Pool]string{}
	for _, n := range names {
		p := pool(s, n)
		if other, dup := seen[p]; dup {
			t.Errorf("%s shares its pool with %s", n, other)
		}
		seen[p] = n
	}
	for name, key := range map[string]string{"plain": "|api.internal|verify:true", "cert": "|cert:5e3f2a10-", "depth": "|depth:2|", "upcert": "|fallback|"} {
		var found bool
		for k := range s.Upstreams.PoolKeys {
			found = found || strings.Contains(k, key)
		}
		if !found {
			t.Errorf("%s: no pool key holds %q", name, key)
		}
	}

	same := build(cert, key, s)
	if pool(same, "cert") != pool(s, "cert") {
		t.Error("an unchanged certificate lost its warm pool on reload")
	}
	cert2, key2 := testClientPEM(t, "gw")
	rotated := build(cert2, key2, same)
	if pool(rotated, "cert") == pool(s, "cert") || pool(rotated, "upcert") == pool(s, "upcert") {
		t.Error("a certificate replaced under the same id kept the pool of the old one")
	}
	if pool(rotated, "plain") != pool(s, "plain") {
		t.Error("a service without the certificate lost its pool")
	}
}

// The depth check runs once per upstream handshake, not per request
// (connections are pooled).
func BenchmarkVerifyDepth(b *testing.B) {
	check := verifyDepth(1)
	chains := [][]*x509.Certificate{make([]*x509.Certificate, 3)}
	b.ReportAllocs()
	for b.Loop() {
		if check(nil, chains) != nil {
			b.Fatal("refused")
		}
	}
}
