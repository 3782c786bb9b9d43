package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rsaPEM makes a self-signed RSA certificate and its key, PEM-encoded.
func rsaPEM(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "turnpike rsa test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
}

// TestCertificateDefaultSNIAndAlt: Kong's `*` SNI (the default certificate,
// spec/02-integration/05-proxy/06-ssl_spec.lua "sets the default certificate
// of '*' SNI") and suffix wildcards are valid names; a cert_alt must be of
// another key kind than cert (kong/db/schema/entities/certificates.lua).
func TestCertificateDefaultSNIAndAlt(t *testing.T) {
	ec, ecKey := testPEM(t, false)
	ec2, ec2Key := testPEM(t, false)
	rsaCert, rsaKey := rsaPEM(t)
	q := strconv.Quote
	tests := []struct {
		name string
		src  string
		want Errors
	}{
		{
			name: "default and wildcard snis, rsa with ecdsa alternative",
			src: `certificates:
  - cert: ` + q(rsaCert) + `
    key: ` + q(rsaKey) + `
    cert_alt: ` + q(ec) + `
    key_alt: ` + q(ecKey) + `
    snis: ["*", "wildcard.*", "*.wildcard.com"]
`,
		},
		{
			name: "alternative of the same kind",
			src: `certificates:
  - cert: ` + q(ec) + `
    key: ` + q(ecKey) + `
    cert_alt: ` + q(ec2) + `
    key_alt: ` + q(ec2Key) + `
    snis: ["**", "a.*.com"]
`,
			want: Errors{
				{Path: "certificates[0].cert_alt", Message: "certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), the provided certificates were both of the same type"},
				{Path: "certificates[0].snis[0].name", Message: "invalid SNI '**'"},
				{Path: "certificates[0].snis[1].name", Message: "invalid SNI 'a.*.com'"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("_format_version: \"3.0\"\n"+tt.src), Options{})
			if diff := cmp.Diff(tt.want, asErrors(t, err), ignoreLine); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
