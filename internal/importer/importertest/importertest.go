// Package importertest is what the importers' tests share: the checks
// `turnpike validate` runs, an import of a test input with its warnings,
// and golden files (`go test -update` rewrites them). Test support only:
// production code never imports it.
package importertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/reload"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Validate runs on out every check `turnpike validate` runs: the
// declarative schema and every plugin's config and credentials.
func Validate(t testing.TB, out []byte) {
	t.Helper()
	reg, err := plugin.NewRegistry(all.Registrations())
	if err != nil {
		t.Fatal(err)
	}
	deps := snapshot.Deps{Registry: reg, Env: plugin.Env{Logger: slog.New(slog.DiscardHandler)}}
	l := reload.New(&snapshot.Holder{}, deps, "import", config.Options{}, nil)
	if _, err := l.Check(func() ([]byte, error) { return out, nil }); err != nil {
		t.Fatalf("the output does not validate:\n%v\n%s", err, out)
	}
}

// Run imports docs and returns the config and the warnings, one a line.
func Run(t testing.TB, docs []importer.Document, imp importer.ImportFunc) ([]byte, string) {
	t.Helper()
	var (
		cfg importer.Config
		ws  importer.Warnings
	)
	if err := imp(docs, &cfg, &ws); err != nil {
		t.Fatal(err)
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.String() + "\n")
	}
	return out, b.String()
}

// File imports testdata/name, its documents named name (the golden files
// name the input, not the test's path to it).
func File(t testing.TB, name string, imp importer.ImportFunc) ([]byte, string) {
	t.Helper()
	docs, err := importer.Read([]string{filepath.Join("testdata", name)}, nil, importer.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	for i := range docs {
		docs[i].File = name
	}
	return Run(t, docs, imp)
}

// Golden compares got with the file at path, or writes it with -update.
func Golden(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// Cert is a test certificate and its key, PEM.
type Cert struct {
	Cert, Key string
	x509      *x509.Certificate
	key       *ecdsa.PrivateKey
}

// NewCert makes a certificate for name valid until notAfter: a
// self-signed one when parent is nil, else signed by parent; isCA marks
// it a CA.
func NewCert(t testing.TB, name string, isCA bool, notAfter time.Time, parent *Cert) *Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter, IsCA: isCA, BasicConstraintsValid: true,
		DNSNames: []string{name}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.x509, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &Cert{
		Cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Key:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})),
		x509: cert, key: key,
	}
}
