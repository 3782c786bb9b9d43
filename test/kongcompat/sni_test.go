package kongcompat

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// sniCert makes a self-signed certificate with common name cn and an RSA
// or ECDSA key, PEM-encoded and indented for a YAML block scalar.
func sniCert(t *testing.T, cn string, ec bool) (certPEM, keyPEM string) {
	t.Helper()
	var key crypto.Signer
	var err error
	if ec {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pad := func(s string) string { return "      " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n      ") }
	return pad(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))),
		pad(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})))
}

// TestSNISelection replays the handshakes of Kong's
// spec/02-integration/05-proxy/06-ssl_spec.lua: the same certificates and
// snis (exact, `*.wildcard.com`, `wildcard.*`, `test.wildcard.*`,
// `*.www.wildcard.com`, and `*` for the default), an RSA certificate with an
// ECDSA cert_alt, through real TLS handshakes with the binary.
func TestSNISelection(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	exCert, exKey := sniCert(t, "ssl-example.com", false)
	exAlt, exAltKey := sniCert(t, "ssl-example.com ecdsa", true)
	altCert, altKey := sniCert(t, "ssl-alt.com", false)
	aaCert, aaKey := sniCert(t, "ssl-alt-alt.com", false)
	defCert, defKey := sniCert(t, "default", true)
	cfg := fmt.Sprintf(`_format_version: "3.0"
services:
- name: a
  url: %s
  routes: [{paths: [/]}]
certificates:
- cert: |
%s
  key: |
%s
  cert_alt: |
%s
  key_alt: |
%s
  snis: [example.com, ssl1.com]
- cert: |
%s
  key: |
%s
  snis: ["*.wildcard.com", "wildcard.*"]
- cert: |
%s
  key: |
%s
  snis: [wildcard.org, "test.wildcard.*", "*.www.wildcard.com"]
- cert: |
%s
  key: |
%s
  snis: ["*"]
`, up.URL, exCert, exKey, exAlt, exAltKey, altCert, altKey, aaCert, aaKey, defCert, defKey)
	gw := gwtest.Start(t, cfg, gwtest.Options{ProxyListen: "127.0.0.1:0 ssl"})
	addr := strings.TrimPrefix(gw.URL, "http://")
	cn := func(conf *tls.Config) string {
		t.Helper()
		conf.InsecureSkipVerify = true
		conn, err := tls.Dial("tcp", addr, conf)
		if err != nil {
			t.Fatalf("handshake with SNI %q: %v\n%s", conf.ServerName, err, gw.Stderr())
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	for _, tc := range []struct{ source, sni, want string }{
		{`"sets the configured SSL certificate if SNI match"`, "ssl1.com", "ssl-example.com"},
		{`"sets the configured SSL certificate if SNI match"`, "example.com", "ssl-example.com"},
		{`"matches *.wildcard.com (prefix)"`, "test.wildcard.com", "ssl-alt.com"},
		{`"matches wildcard.* (suffix)"`, "wildcard.eu", "ssl-alt.com"},
		{`"respects matching priorities (exact first)"`, "wildcard.org", "ssl-alt-alt.com"},
		{`"respects matching priorities (suffix third)"`, "test.wildcard.org", "ssl-alt-alt.com"},
		{`"matches *.www.wildcard.com"`, "test.www.wildcard.com", "ssl-alt-alt.com"},
		{`"sets the default certificate of '*' SNI"`, "test.com", "default"},
		{`"fallbacks on the default proxy SSL certificate when SNI is not provided by client"`, "", "default"},
	} {
		if got := cn(&tls.Config{ServerName: tc.sni}); got != tc.want {
			t.Errorf("%s: SNI %q got %q, want %q", tc.source, tc.sni, got, tc.want)
		}
	}
	// The alternative: a client that can only use ECDSA gets cert_alt; Go's
	// client lists RSA-PSS first and gets the RSA certificate.
	ecdsaOnly := &tls.Config{ServerName: "example.com", MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}
	if got := cn(ecdsaOnly); got != "ssl-example.com ecdsa" {
		t.Errorf("an ECDSA-only client got %q, want the cert_alt", got)
	}
	rsaOnly := &tls.Config{ServerName: "example.com", MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}
	if got := cn(rsaOnly); got != "ssl-example.com" {
		t.Errorf("an RSA-only client got %q, want the cert", got)
	}
	if got := cn(&tls.Config{ServerName: "example.com"}); got != "ssl-example.com" {
		t.Errorf("a client preferring RSA-PSS got %q, want the cert", got)
	}
}
