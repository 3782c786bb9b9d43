package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// mtlsParty is a certificate made by the test, with its key.
type mtlsParty struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// mtlsIssue signs tmpl with parent (self-signed when parent is nil).
func mtlsIssue(t *testing.T, tmpl *x509.Certificate, parent *mtlsParty) *mtlsParty {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = sn
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &mtlsParty{cert: cert, key: key}
}

func mtlsCA(t *testing.T, cn string) *mtlsParty {
	return mtlsIssue(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, nil)
}

func mtlsClient(t *testing.T, ca *mtlsParty, cn string) *mtlsParty {
	return mtlsIssue(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca)
}

func (p *mtlsParty) pem() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.cert.Raw}))
}

func (p *mtlsParty) tlsCert() *tls.Certificate {
	return &tls.Certificate{Certificate: [][]byte{p.cert.Raw}, PrivateKey: p.key}
}

// revoke writes a PEM CRL of ca listing the certificates to path.
func (p *mtlsParty) revoke(t *testing.T, path string, certs ...*mtlsParty) {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(time.Now().UnixNano()), ThisUpdate: time.Now().Add(-time.Minute),
		NextUpdate: time.Now().Add(time.Hour)}
	for _, c := range certs {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.cert.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, p.cert, p.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mtlsAnswer is what a TLS client got from the gateway.
type mtlsAnswer struct {
	status int
	proto  int // HTTP major version
	body   string
	// asked is whether the handshake carried a certificate request.
	asked bool
	seen  gwtest.Seen
}

// mtlsGet sends GET path to the gateway's TLS listener under the server
// name sni, over HTTP/2 or HTTP/1.1, presenting cert when asked (nil:
// none).
func mtlsGet(t *testing.T, gw *gwtest.Gateway, sni, path string, cert *tls.Certificate, h2 bool, header ...string) mtlsAnswer {
	t.Helper()
	var asked atomic.Bool
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: sni, InsecureSkipVerify: true,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				asked.Store(true)
				if cert == nil {
					return &tls.Certificate{}, nil
				}
				return cert, nil
			}},
		Protocols: new(http.Protocols),
	}
	if h2 {
		tr.Protocols.SetHTTP2(true)
	} else {
		tr.Protocols.SetHTTP1(true)
	}
	defer tr.CloseIdleConnections()
	req := gwtest.NewRequest(t, http.MethodGet, "https"+strings.TrimPrefix(gw.URL, "http")+path, "", header...)
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s (%s): %v", path, sni, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := mtlsAnswer{status: resp.StatusCode, proto: resp.ProtoMajor, body: string(body), asked: asked.Load()}
	if resp.StatusCode == http.StatusOK {
		a.seen = gwtest.DecodeSeen(t, a.body)
	}
	return a
}

func mtlsHeader(s gwtest.Seen, name string) string {
	if v := s.Header[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

const mtlsCAID = "4c0b1ad2-6f3e-4e31-9d6b-8a5e7c2f1b90"

func mtlsConfig(upstream, caPEM, crlPath string, server [2]string) string {
	return fmt.Sprintf(`
_format_version: "3.0"
ca_certificates:
- id: %[5]s
  cert: |
%[2]s
certificates:
- cert: |
%[3]s
  key: |
%[4]s
  snis: [mtls.example.test, plain.example.test]
consumers:
- username: alice
- username: service
  custom_id: svc-7
- username: anonymous
services:
- name: echo
  url: %[1]s
  routes:
  - name: mtls
    protocols: [https]
    snis: [mtls.example.test]
    paths: [/]
    plugins:
    - name: mtls-auth
      config:
        ca_certificates: [%[5]s]
        crl: %[6]s
        inject_client_cert_details: true
  - name: anon
    protocols: [https]
    snis: [mtls.example.test]
    paths: [/anon]
    plugins:
    - name: mtls-auth
      config: {ca_certificates: [%[5]s], anonymous: anonymous}
  - name: skip
    protocols: [https]
    snis: [mtls.example.test]
    paths: [/skip]
    plugins:
    - name: mtls-auth
      config: {ca_certificates: [%[5]s], skip_consumer_lookup: true}
    - name: acl
      config: {allow: [alice]}
  - name: plain
    protocols: [https]
    snis: [plain.example.test]
    paths: [/]
`, upstream, indent(caPEM, "    "), indent(server[0], "    "), indent(server[1], "    "), mtlsCAID, crlPath)
}

func TestMTLSAuth(t *testing.T) {
	up := gwtest.StartEcho(t, "echo")
	root := mtlsCA(t, "Turnpike Test Root")
	alice := mtlsClient(t, root, "alice")
	service := mtlsClient(t, root, "svc-7")
	revoked := mtlsClient(t, root, "alice")
	stranger := mtlsClient(t, mtlsCA(t, "Unknown Root"), "alice")
	crl := filepath.Join(t.TempDir(), "root.crl")
	root.revoke(t, crl, revoked)
	cert, key := selfSigned(t, "mtls.example.test", "plain.example.test")
	gw := gwtest.Start(t, mtlsConfig(up.URL, root.pem(), crl, [2]string{cert, key}), gwtest.Options{ProxyListen: "127.0.0.1:0 ssl"})

	aliceID := sha256.Sum256(alice.cert.Raw)
	tests := []struct {
		name    string
		sni     string
		path    string
		cert    *mtlsParty
		h2      bool
		header  []string
		status  int
		message string
		// want are upstream headers; "" means absent.
		want map[string]string
	}{
		{name: "no certificate", sni: "mtls.example.test", path: "/", status: 401, message: "No required TLS certificate was sent"},
		{name: "consumer by username", sni: "mtls.example.test", path: "/", cert: alice, status: 200, want: map[string]string{
			"X-Consumer-Username": "alice", "X-Credential-Identifier": hex.EncodeToString(aliceID[:]),
			"X-Client-Cert-Subject-Dn": "CN=alice", "X-Client-Cert-Issuer-Dn": "CN=Turnpike Test Root",
			"X-Anonymous-Consumer": ""}},
		{name: "consumer by username over HTTP/2", sni: "mtls.example.test", path: "/", cert: alice, h2: true, status: 200,
			want: map[string]string{"X-Consumer-Username": "alice"}},
		{name: "consumer by custom_id", sni: "mtls.example.test", path: "/", cert: service, status: 200, want: map[string]string{
			"X-Consumer-Username": "service", "X-Consumer-Custom-Id": "svc-7"}},
		{name: "revoked by the CRL", sni: "mtls.example.test", path: "/", cert: revoked, status: 401, message: "TLS certificate failed verification"},
		{name: "unknown CA", sni: "mtls.example.test", path: "/", cert: stranger, h2: true, status: 401, message: "TLS certificate failed verification"},
		{name: "anonymous without a certificate", sni: "mtls.example.test", path: "/anon", status: 200, want: map[string]string{
			"X-Consumer-Username": "anonymous", "X-Anonymous-Consumer": "true", "X-Credential-Identifier": ""}},
		{name: "anonymous with an untrusted certificate", sni: "mtls.example.test", path: "/anon", cert: stranger, h2: true, status: 200,
			want: map[string]string{"X-Consumer-Username": "anonymous", "X-Anonymous-Consumer": "true"}},
		{name: "skip_consumer_lookup, group allowed by acl", sni: "mtls.example.test", path: "/skip", cert: alice,
			header: []string{"X-Client-Cert-Dn", "CN=admin"}, status: 200, want: map[string]string{
				"X-Client-Cert-Dn": "CN=alice", "X-Client-Cert-San": "alice", "X-Authenticated-Groups": "alice", "X-Consumer-Id": ""}},
		{name: "skip_consumer_lookup, group denied by acl", sni: "mtls.example.test", path: "/skip", cert: service, status: 403,
			message: "You cannot consume this service"},
		{name: "another server name is not asked for a certificate", sni: "plain.example.test", path: "/", cert: alice, status: 200,
			want: map[string]string{"X-Consumer-Id": ""}},
		{name: "another server name over HTTP/2", sni: "plain.example.test", path: "/", cert: alice, h2: true, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cert *tls.Certificate
			if tt.cert != nil {
				cert = tt.cert.tlsCert()
			}
			a := mtlsGet(t, gw, tt.sni, tt.path, cert, tt.h2, tt.header...)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
			}
			if wantProto := map[bool]int{true: 2, false: 1}[tt.h2]; a.proto != wantProto {
				t.Errorf("HTTP/%d, want HTTP/%d", a.proto, wantProto)
			}
			if wantAsked := tt.sni == "mtls.example.test"; a.asked != wantAsked {
				t.Errorf("certificate request in the handshake: %v, want %v", a.asked, wantAsked)
			}
			if tt.message != "" && kongMessage(a.body) != tt.message {
				t.Errorf("message %q, want %q", kongMessage(a.body), tt.message)
			}
			for name, want := range tt.want {
				if got := mtlsHeader(a.seen, name); got != want {
					t.Errorf("upstream %s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

// Replacing a CA certificate under the same id (a CA rotation) takes
// effect on reload: certificates of the old CA stop working.
func TestMTLSAuthCARotation(t *testing.T) {
	up := gwtest.StartEcho(t, "echo")
	oldRoot, newRoot := mtlsCA(t, "Old Root"), mtlsCA(t, "New Root")
	oldAlice, newAlice := mtlsClient(t, oldRoot, "alice"), mtlsClient(t, newRoot, "alice")
	crl := filepath.Join(t.TempDir(), "root.crl")
	oldRoot.revoke(t, crl)
	cert, key := selfSigned(t, "mtls.example.test", "plain.example.test")
	server := [2]string{cert, key}
	gw := gwtest.Start(t, mtlsConfig(up.URL, oldRoot.pem(), crl, server), gwtest.Options{ProxyListen: "127.0.0.1:0 ssl"})
	if a := mtlsGet(t, gw, "mtls.example.test", "/", oldAlice.tlsCert(), true); a.status != 200 {
		t.Fatalf("old CA before the rotation: %d %s", a.status, a.body)
	}
	writeAtomically(t, configPath(t, gw), mtlsConfig(up.URL, newRoot.pem(), crl, server))
	waitUntil(t, "the new CA", func() bool {
		return mtlsGet(t, gw, "mtls.example.test", "/", newAlice.tlsCert(), true).status == 200
	})
	if a := mtlsGet(t, gw, "mtls.example.test", "/", oldAlice.tlsCert(), true); a.status != 401 {
		t.Errorf("old CA after the rotation: %d %s", a.status, a.body)
	}
}
