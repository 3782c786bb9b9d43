package snapshot

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// testKeyPairPEM is a fresh self-signed certificate and its key.
func testKeyPairPEM(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "example.test"}, DNSNames: []string{"example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
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

// certUser looks up a certificate by id when built.
type certUser struct{ cert *tls.Certificate }

func (*certUser) Access(*plugin.Ctx) error { return nil }

// A reload that changes a `certificates` entity a build looked up
// rebuilds that instance; one that changes nothing it looked up keeps it.
func TestCertificateLookupRebuilds(t *testing.T) {
	const certID = "2b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f"
	reg, err := plugin.NewRegistry([]plugin.Registration{{
		Name: "cert-user", Priority: 10,
		NewConfig: func() any { return &tagConfig{} },
		New: func(_ any, env plugin.Env) (plugin.Instance, error) {
			c, ok := env.Certificates.Certificate(certID)
			if !ok {
				return nil, plugin.FieldError("certificate", "not found")
			}
			return &certUser{cert: c}, nil
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	indent := func(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ") }
	compile := func(cert, key, tags string, prev *Snapshot) (*certUser, *Snapshot) {
		t.Helper()
		src := fmt.Sprintf(`
_format_version: "3.0"
certificates:
- id: %s
  tags: [%s]
  cert: |
    %s
  key: |
    %s
plugins:
- name: cert-user
`, certID, tags, indent(cert), indent(key))
		m, err := config.Parse([]byte(src), config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := Compile(m, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools}), Previous: prev})
		if err != nil {
			t.Fatal(err)
		}
		return s.Instances[0].(*certUser), s
	}
	c1, k1 := testKeyPairPEM(t)
	c2, k2 := testKeyPairPEM(t)
	first, s1 := compile(c1, k1, "a", nil)
	if first.cert == nil || len(first.cert.Certificate) != 1 {
		t.Fatal("the build did not get the key pair")
	}
	same, s2 := compile(c1, k1, "b", s1)
	if same != first {
		t.Error("a reload that changed only the certificate's tags rebuilt the instance")
	}
	if changed, _ := compile(c2, k2, "b", s2); changed == first || string(changed.cert.Certificate[0]) == string(first.cert.Certificate[0]) {
		t.Error("the instance built from the replaced certificate was reused")
	}
}

// Directory.Credentials lists a kind's credentials in configuration order,
// nested ones first.
func TestReloadCredentialsOrder(t *testing.T) {
	reg := credentialRegistry(t)
	m, err := config.Parse([]byte(`
_format_version: "3.0"
consumers:
- username: a
  keyauth_credentials:
  - {key: a1}
  - {key: a2}
- username: b
  keyauth_credentials:
  - {key: b1}
keyauth_credentials:
- {key: c1, consumer: b}
`), config.Options{Credentials: CredentialKinds(reg)})
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	s, err := Compile(m, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})})
	if err != nil {
		t.Fatal(err)
	}
	keys := func(kind string) []string {
		var out []string
		for _, c := range s.Directory.Credentials(kind) {
			out = append(out, c.Kind+":"+c.Key)
		}
		return out
	}
	if diff := cmp.Diff([]string{"key-auth:a1", "key-auth:a2", "key-auth:b1", "key-auth:c1"}, keys("keyauth_credentials")); diff != "" {
		t.Errorf("key-auth (-want +got):\n%s", diff)
	}
	if got := keys("no-such-kind"); got != nil {
		t.Errorf("unknown kind: %v", got)
	}
}

// svcUser resolves a service name when built.
type svcUser struct{ id string }

func (*svcUser) Access(*plugin.Ctx) error { return nil }

// Env.ServiceIDs resolves names to the ids of the configuration being
// compiled; a reload that gives the name another id rebuilds the
// instance, one that changes something else keeps it.
func TestServiceIDLookupRebuilds(t *testing.T) {
	reg, err := plugin.NewRegistry([]plugin.Registration{{
		Name: "svc-user", Priority: 10,
		NewConfig: func() any { return &tagConfig{} },
		New: func(_ any, env plugin.Env) (plugin.Instance, error) {
			id, ok := env.ServiceIDs.ServiceID("users")
			if !ok {
				return nil, plugin.FieldError("service", "no service named 'users'")
			}
			return &svcUser{id: id}, nil
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	compile := func(id, host string, prev *Snapshot) (*svcUser, *Snapshot, error) {
		t.Helper()
		m, err := config.Parse([]byte(fmt.Sprintf(`
_format_version: "3.0"
services:
- name: users
  id: %s
  url: http://%s:80
plugins:
- name: svc-user
`, id, host)), config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := Compile(m, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools}), Previous: prev})
		if err != nil {
			return nil, nil, err
		}
		return s.Instances[0].(*svcUser), s, nil
	}
	const id1, id2 = "6a1b2c3d-0000-4000-8000-000000000001", "6a1b2c3d-0000-4000-8000-000000000002"
	first, s1, err := compile(id1, "a.test", nil)
	if err != nil || first.id != id1 {
		t.Fatalf("first build: %v, id %v", err, first)
	}
	same, s2, _ := compile(id1, "b.test", s1)
	if same != first {
		t.Error("a reload that changed only the service's host rebuilt the instance")
	}
	if changed, _, _ := compile(id2, "b.test", s2); changed == first || changed.id != id2 {
		t.Errorf("the instance kept the service's old id: %+v", changed)
	}
}
