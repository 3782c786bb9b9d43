package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testPEM makes a self-signed certificate and its key, PEM-encoded.
func testPEM(t *testing.T, isCA bool) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "turnpike test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  isCA,
		BasicConstraintsValid: true,
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

func TestCertificates(t *testing.T) {
	cert, key := testPEM(t, false)
	cert2, key2 := testPEM(t, false)
	ca, _ := testPEM(t, true)
	q := strconv.Quote
	const certID = "11111111-2222-4333-8444-555555555555"
	const caID = "99999999-2222-4333-8444-555555555555"

	tests := []struct {
		name      string
		src       string
		wantErrs  Errors
		wantSNIs  [][]string
		wantCerts int
	}{
		{
			name: "nested plain and object snis, top-level sni by id, service references",
			src: `certificates:
  - id: ` + certID + `
    cert: ` + q(cert) + `
    key: ` + q(key) + `
    snis: [a.example.com, {name: "*.b.example.com"}]
  - cert: ` + q(cert2) + `
    key: ` + q(key2) + `
ca_certificates:
  - id: ` + caID + `
    cert: ` + q(ca) + `
snis:
  - name: c.example.com
    certificate: ` + certID + `
services:
  - url: https://backend.internal
    client_certificate: {id: ` + certID + `}
    ca_certificates: [` + caID + `]
    tls_verify: true
`,
			wantSNIs: [][]string{{"a.example.com", "*.b.example.com", "c.example.com"}, nil},
		},
		{
			name: "bad pairs, non-CA, duplicate and invalid snis",
			src: `certificates:
  - cert: ` + q(cert) + `
    key: ` + q(key2) + `
    snis: [a.example.com, a.example.com, 10.0.0.1]
  - cert: ` + q(cert) + `
    key: ` + q(key) + `
    cert_alt: ` + q(cert2) + `
    snis: [{name: x.example.com, certificate: {id: ` + certID + `}}]
ca_certificates:
  - cert: ` + q(cert) + `
`,
			wantErrs: Errors{
				{Path: "ca_certificates[0].cert", Message: `certificate does not appear to be a CA because it is missing the "CA" basic constraint`},
				{Path: "certificates[0].cert", Message: "invalid certificate or key: tls: private key does not match public key"},
				{Path: "certificates[0].snis[1].name", Message: "duplicate name 'a.example.com' (first defined at certificates[0].snis[0])"},
				{Path: "certificates[0].snis[2].name", Message: "invalid SNI '10.0.0.1'"},
				{Path: "certificates[1].key_alt", Message: "required field missing"},
				{Path: "certificates[1].snis[0].certificate", Message: "value must be null: it may only name the certificate it is nested in"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte("_format_version: \"3.0\"\n"+tt.src), Options{})
			if diff := cmp.Diff(tt.wantErrs, asErrors(t, err), ignoreLine); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
			if err != nil {
				return
			}
			var snis [][]string
			for _, c := range m.Certificates {
				snis = append(snis, c.SNINames())
			}
			if diff := cmp.Diff(tt.wantSNIs, snis); diff != "" {
				t.Errorf("SNIs (-want +got):\n%s", diff)
			}
			if !strings.Contains(m.Summary(), "2 certificates, 1 CA certificate") {
				t.Errorf("Summary() = %q", m.Summary())
			}
		})
	}
}
