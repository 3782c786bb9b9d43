package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// caPEM makes a self-signed certificate valid until notAfter, PEM-encoded.
func caPEM(t *testing.T, isCA bool, notAfter time.Time) (string, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{CommonName: "ca test"},
		NotBefore:             notAfter.Add(-48 * time.Hour),
		NotAfter:              notAfter,
		IsCA:                  isCA,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), der
}

func TestCACertificates(t *testing.T) {
	later := time.Now().Add(24 * time.Hour)
	ca, der := caPEM(t, true, later)
	other, _ := caPEM(t, true, later)
	expired, _ := caPEM(t, true, time.Now().Add(-time.Hour))
	leaf, _ := caPEM(t, false, later)
	sum := sha256.Sum256(der)
	digest := hex.EncodeToString(sum[:])
	q := strconv.Quote
	const id1 = "11111111-2222-4333-8444-555555555555"
	const id2 = "21111111-2222-4333-8444-555555555555"

	tests := []struct {
		name     string
		src      string
		wantErrs Errors
	}{
		{
			name: "valid, digest given in upper case",
			src: `ca_certificates:
  - id: ` + id1 + `
    cert: ` + q(ca) + `
    cert_digest: ` + strings.ToUpper(digest) + `
    tags: [mtls]
  - id: ` + id2 + `
    cert: ` + q(other) + `
`,
		},
		{
			name: "Kong's entity checks",
			src: `ca_certificates:
  - cert: ` + q(ca+other) + `
  - cert: ` + q(expired) + `
  - cert: ` + q(leaf) + `
  - cert: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
  - cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
`,
			wantErrs: Errors{
				{Path: "ca_certificates[0].cert", Message: "please submit only one certificate at a time"},
				{Path: "ca_certificates[1].cert", Message: `certificate expired, "Not After" time is in the past`},
				{Path: "ca_certificates[2].cert", Message: `certificate does not appear to be a CA because it is missing the "CA" basic constraint`},
				{Path: "ca_certificates[3].cert", Message: "invalid certificate: unexpected PEM block PRIVATE KEY"},
				{Path: "ca_certificates[4].cert", Message: "invalid certificate: x509: malformed certificate"},
			},
		},
		{
			name: "wrong digest, duplicate certificate, duplicate and invalid ids",
			src: `ca_certificates:
  - id: ` + id1 + `
    cert: ` + q(ca) + `
  - id: ` + id1 + `
    cert: ` + q(other) + `
    cert_digest: ` + digest + `
  - id: not-a-uuid
    cert: ` + q(ca) + `
`,
			wantErrs: Errors{
				{Path: "ca_certificates[1].cert_digest", Message: "does not match the certificate (its SHA-256 is " + digestOf(t, other) + ")"},
				{Path: "ca_certificates[1].id", Message: "duplicate id '" + id1 + "' (first defined at ca_certificates[0])"},
				{Path: "ca_certificates[2].id", Message: "expected a valid UUID"},
				{Path: "ca_certificates[2].cert_digest", Message: "duplicate cert_digest '" + digest + "' (first defined at ca_certificates[0])"},
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
			e := m.CACerts[0]
			if e.X509 == nil || e.X509.Subject.CommonName != "ca test" || e.Digest != digest {
				t.Errorf("entry: X509 %v, Digest %q, want digest %q", e.X509 != nil, e.Digest, digest)
			}
			if m.CACerts[1].Digest == digest {
				t.Error("second CA has the first one's digest")
			}
		})
	}
}

func digestOf(t *testing.T, certPEM string) string {
	t.Helper()
	block, _ := pem.Decode([]byte(certPEM))
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:])
}
