package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/server"
)

func TestAdminCertificateFlags(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ssl := []server.Listen{{Addr: "10.1.2.3:8444", TLS: true}, {Addr: "admin.example.test:8445", TLS: true}}

	// Without a certificate, a self-signed one naming the listeners.
	get, err := (&tlsOptions{}).adminCertificate(ssl, logger)
	if err != nil {
		t.Fatal(err)
	}
	c, err := get(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "10.1.2.3", "admin.example.test"} {
		if err := c.Leaf.VerifyHostname(name); err != nil {
			t.Errorf("self-signed certificate: %v", err)
		}
	}
	if fp := fingerprint(c.Leaf.Raw); !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Errorf("fingerprint %q", fp)
	}

	// Given as PEM text, that pair is served.
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Leaf.Raw}))
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	get, err = (&tlsOptions{adminCert: certPEM, adminKey: keyPEM}).adminCertificate(ssl, logger)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := get(&tls.ClientHelloInfo{}); string(got.Certificate[0]) != string(c.Leaf.Raw) {
		t.Error("the given certificate is not the one served")
	}

	// No ssl listener: nothing to serve.
	if get, err := (&tlsOptions{}).adminCertificate([]server.Listen{{Addr: "127.0.0.1:8001"}}, logger); get != nil || err != nil {
		t.Errorf("plain admin listener: %v %v", get != nil, err)
	}
	for _, c := range []struct {
		o    tlsOptions
		want string
	}{
		{tlsOptions{adminCert: certPEM}, "go together"},
		{tlsOptions{adminCert: "a.crt,b.crt", adminKey: "a.key"}, "names 2 certificates and --admin-ssl-cert-key 1 keys"},
		{tlsOptions{adminCert: "/nonexistent.crt", adminKey: "/nonexistent.key"}, "--admin-ssl-cert /nonexistent.crt:"},
		{tlsOptions{adminCert: certPEM, adminKey: certPEM}, "--admin-ssl-cert #1: tls:"},
	} {
		if _, err := c.o.adminCertificate(ssl, logger); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
}
