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

func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// compileH2 compiles src (${CA} is a fresh CA certificate); services
// whose name starts with "tls-" are turned from https into grpcs, since
// the config takes tls_verify and ca_certificates only on https.
func compileH2(t *testing.T, src, ca string, prev *Snapshot) *Snapshot {
	t.Helper()
	m, err := config.Parse([]byte(src), config.Options{ExpandEnv: true, LookupEnv: func(k string) (string, bool) { return ca, k == "CA" }})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for _, se := range m.Services {
		if strings.HasPrefix(se.Service.Name, "tls-") {
			se.Service.Protocol = "grpcs"
		}
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	s, err := Compile(m, Deps{Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools}), Previous: prev})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func serviceByName(t *testing.T, s *Snapshot, name string) *Service {
	t.Helper()
	for _, svc := range s.Services {
		if svc.Info.Name == name {
			return svc
		}
	}
	t.Fatalf("no service %s", name)
	return nil
}

const h2Config = `
_format_version: "3.0"
ca_certificates:
- id: 0b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f
  cert: ${CA}
services:
- {name: plain, url: "http://a.internal"}
- {name: g1, url: "grpc://b.internal:50051", connect_timeout: 1500, write_timeout: 7000}
- {name: g2, url: "grpc://c.internal:50051", connect_timeout: 1500, write_timeout: 7000}
- {name: g3, url: "grpc://c.internal:50051", connect_timeout: 2500, write_timeout: 7000}
- {name: tls-ca, url: "https://grpc.internal:443", ca_certificates: [0b8f6a52-3c1e-4d7a-9f10-2a3b4c5d6e7f]}
- {name: tls-noverify, url: "https://10.0.0.7:8443", tls_verify: false}
- {name: tls-default, url: "https://grpc.internal:443"}
`

func TestHTTP2Transports(t *testing.T) {
	ca := testCAPEM(t)
	s := compileH2(t, h2Config, ca, nil)
	if serviceByName(t, s, "plain").H2 != nil {
		t.Error("an http service got an HTTP/2 transport")
	}
	g1, g2, g3 := serviceByName(t, s, "g1"), serviceByName(t, s, "g2"), serviceByName(t, s, "g3")
	if g1.H2 == nil || g1.H2 != g2.H2 {
		t.Error("grpc services with equal settings do not share one transport")
	}
	if g3.H2 == g1.H2 {
		t.Error("a different connect_timeout shares the transport")
	}
	if g1.H2.TLSClientConfig != nil || !g1.H2.Protocols.UnencryptedHTTP2() || g1.H2.Protocols.HTTP1() {
		t.Errorf("grpc transport: TLS %v protocols %v", g1.H2.TLSClientConfig, g1.H2.Protocols)
	}
	if g1.H2.HTTP2 == nil || g1.H2.HTTP2.WriteByteTimeout != 7*time.Second || g1.H2.TLSHandshakeTimeout != 1500*time.Millisecond {
		t.Errorf("grpc transport timeouts: %+v, handshake %v", g1.H2.HTTP2, g1.H2.TLSHandshakeTimeout)
	}

	withCA, noVerify, def := serviceByName(t, s, "tls-ca"), serviceByName(t, s, "tls-noverify"), serviceByName(t, s, "tls-default")
	for _, svc := range []*Service{withCA, noVerify, def} {
		if svc.H2 == nil || svc.H2.TLSClientConfig == nil || !svc.H2.Protocols.HTTP2() || svc.H2.Protocols.HTTP1() {
			t.Fatalf("%s: grpcs transport %+v", svc.Info.Name, svc.H2)
		}
	}
	if c := withCA.H2.TLSClientConfig; c.ServerName != "grpc.internal" || c.RootCAs == nil || c.InsecureSkipVerify {
		t.Errorf("ca_certificates: server name %q, roots %v, skip verify %v", c.ServerName, c.RootCAs != nil, c.InsecureSkipVerify)
	}
	if c := noVerify.H2.TLSClientConfig; !c.InsecureSkipVerify || c.ServerName != "10.0.0.7" {
		t.Errorf("tls_verify false: %+v", c)
	}
	if c := def.H2.TLSClientConfig; c.InsecureSkipVerify || c.RootCAs != nil {
		t.Errorf("default grpcs verification: %+v", c)
	}
	if def.H2 == withCA.H2 {
		t.Error("services trusting different CAs share a transport")
	}

	// A reload keeps the transports of unchanged settings, warm
	// connections and all; a changed CA gets a new one.
	next := compileH2(t, strings.Replace(h2Config, "connect_timeout: 2500", "connect_timeout: 3000", 1), ca, s)
	if serviceByName(t, next, "g1").H2 != g1.H2 || serviceByName(t, next, "tls-ca").H2 != withCA.H2 {
		t.Error("unchanged settings did not keep their transport across the reload")
	}
	if serviceByName(t, next, "g3").H2 == g3.H2 {
		t.Error("a changed connect_timeout kept its transport")
	}
	rotated := compileH2(t, h2Config, testCAPEM(t), next)
	if serviceByName(t, rotated, "tls-ca").H2 == withCA.H2 {
		t.Error("a rotated CA kept the transport verified against the old one")
	}
	if serviceByName(t, rotated, "tls-default").H2 != def.H2 {
		t.Error("a service unaffected by the CA rotation lost its transport")
	}
}
