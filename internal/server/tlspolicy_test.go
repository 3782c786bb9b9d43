package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	for _, c := range []struct {
		suite, protocols, ciphers string
		min, max                  uint16
		suites                    []uint16
	}{
		{"modern", "", "", tls.VersionTLS13, tls.VersionTLS13, nil},
		// A preset decides the protocols; ssl_protocols is read with
		// custom only (Kong).
		{"modern", "TLSv1.2", "AES128-SHA", tls.VersionTLS13, tls.VersionTLS13, nil},
		{"intermediate", "", "", tls.VersionTLS12, tls.VersionTLS13, []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}},
		{"fips", "", "", tls.VersionTLS12, tls.VersionTLS12, []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}},
		{"custom", "", "", tls.VersionTLS12, tls.VersionTLS13, nil},
		{"custom", "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256: ECDHE-RSA-CHACHA20-POLY1305", tls.VersionTLS12, tls.VersionTLS12,
			[]uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}},
		{"custom", "TLSv1.1 TLSv1 TLSv1.2", "", tls.VersionTLS10, tls.VersionTLS12, nil},
	} {
		p, err := ParsePolicy(c.suite, c.protocols, c.ciphers)
		if err != nil {
			t.Errorf("%s %q %q: %v", c.suite, c.protocols, c.ciphers, err)
			continue
		}
		if p.MinVersion != c.min || p.MaxVersion != c.max || !slices.Equal(p.CipherSuites, c.suites) {
			t.Errorf("%s %q %q: %+v, want %x-%x %x", c.suite, c.protocols, c.ciphers, p, c.min, c.max, c.suites)
		}
	}
	old, err := ParsePolicy("old", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if old.MinVersion != tls.VersionTLS10 || old.MaxVersion != tls.VersionTLS13 || len(old.CipherSuites) != 18 ||
		!slices.Contains(old.CipherSuites, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA) {
		t.Errorf("old: %+v", old)
	}
}

func TestParsePolicyRefuses(t *testing.T) {
	for _, c := range []struct{ suite, protocols, ciphers, want string }{
		{"strong", "", "", "--ssl-cipher-suite: Undefined cipher suite strong"},
		{"custom", "SSLv3 TLSv1.2", "", `--ssl-protocols: unsupported protocol "SSLv3"`},
		{"custom", "TLSv1 TLSv1.3", "", "leaves a gap"},
		{"custom", "   ", "", ""},
		{"custom", "TLSv1.2", "DHE-RSA-AES128-GCM-SHA256", `--ssl-ciphers: cipher "DHE-RSA-AES128-GCM-SHA256" is not one Go serves`},
		{"custom", "TLSv1.2", "HIGH:!aNULL", `cipher "HIGH"`},
	} {
		_, err := ParsePolicy(c.suite, c.protocols, c.ciphers)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.protocols, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %q %q: %v, want %q", c.suite, c.protocols, c.ciphers, err, c.want)
		}
	}
}

// Real handshakes against a listener's config under each preset.
func TestPolicyHandshakes(t *testing.T) {
	cert := testServerCert(t)
	for _, c := range []struct {
		suite      string
		clientMax  uint16
		ciphers    []uint16
		ok         bool
		wantCipher uint16
	}{
		{"modern", tls.VersionTLS12, nil, false, 0},
		{"modern", tls.VersionTLS13, nil, true, 0},
		{"intermediate", tls.VersionTLS11, nil, false, 0},
		{"intermediate", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, false, 0},
		{"intermediate", tls.VersionTLS12, nil, true, 0},
		{"old", tls.VersionTLS10, nil, true, 0},
		{"old", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, true, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
	} {
		p, err := ParsePolicy(c.suite, "", "")
		if err != nil {
			t.Fatal(err)
		}
		conf := tlsConfig(TLS{Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }, Policy: p})
		sc, cc := net.Pipe()
		srv := tls.Server(sc, conf)
		go func() {
			srv.Handshake()
			sc.Close()
		}()
		cl := tls.Client(cc, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: c.clientMax, CipherSuites: c.ciphers})
		cc.SetDeadline(time.Now().Add(5 * time.Second))
		err = cl.Handshake()
		cc.Close()
		if (err == nil) != c.ok {
			t.Errorf("%s, client up to %x with %x: handshake error %v, want ok %v", c.suite, c.clientMax, c.ciphers, err, c.ok)
			continue
		}
		if c.wantCipher != 0 && cl.ConnectionState().CipherSuite != c.wantCipher {
			t.Errorf("%s: cipher %x", c.suite, cl.ConnectionState().CipherSuite)
		}
	}
}

func testServerCert(t *testing.T) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "policy.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"policy.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
