package e2e

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

func policyConfig(t *testing.T, upstream string) string {
	cert, key := selfSigned(t, "policy.example.test")
	return fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  routes: [{paths: [/]}]
certificates:
- cert: |
%s
  key: |
%s
  snis: [policy.example.test]
`, upstream, indent(cert, "    "), indent(key, "    "))
}

// tlsHandshake dials addr with TLS versions up to maxVersion and returns
// the negotiated version or the handshake error.
func tlsHandshake(addr string, maxVersion uint16) (uint16, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "policy.example.test", InsecureSkipVerify: true, MaxVersion: maxVersion})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return conn.ConnectionState().Version, nil
}

// Under `modern` a TLS 1.2 client is refused and a TLS 1.3 one served;
// the default (intermediate) serves TLS 1.2; a bad preset stops start-up
// with Kong's message.
func TestListenerTLSPolicy(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	cfg := policyConfig(t, up.URL)
	modern := gwtest.Start(t, cfg, gwtest.Options{ProxyListen: "127.0.0.1:0 ssl", Args: []string{"--ssl-cipher-suite", "modern"}})
	addr := strings.TrimPrefix(modern.URL, "http://")
	if v, err := tlsHandshake(addr, tls.VersionTLS12); err == nil {
		t.Errorf("modern served a TLS 1.2 client (version %x)", v)
	}
	if v, err := tlsHandshake(addr, tls.VersionTLS13); err != nil || v != tls.VersionTLS13 {
		t.Errorf("modern with a TLS 1.3 client: %x %v", v, err)
	}

	def := gwtest.Start(t, cfg, gwtest.Options{ProxyListen: "127.0.0.1:0 ssl"})
	if v, err := tlsHandshake(strings.TrimPrefix(def.URL, "http://"), tls.VersionTLS12); err != nil || v != tls.VersionTLS12 {
		t.Errorf("intermediate with a TLS 1.2 client: %x %v", v, err)
	}
	if _, err := tlsHandshake(strings.TrimPrefix(def.URL, "http://"), tls.VersionTLS11); err == nil {
		t.Error("intermediate served a TLS 1.1 client")
	}

	path := writeFile(t, "kong.yml", cfg)
	_, stderr, code := runCLI(t, nil, "run", "-c", path, "--proxy-listen", "127.0.0.1:0 ssl", "--admin-listen", "off", "--ssl-cipher-suite", "strong")
	if code == 0 || !strings.Contains(stderr, "Undefined cipher suite strong") {
		t.Errorf("bad preset: exit %d, %s", code, stderr)
	}
}

// The admin API over TLS: with no --admin-ssl-cert, a self-signed
// certificate made at start whose fingerprint is logged; with one, that
// certificate.
func TestAdminOverTLS(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, policyConfig(t, up.URL), gwtest.Options{Args: []string{"--admin-listen", "127.0.0.1:0 ssl"}})
	addr := strings.TrimPrefix(gw.AdminURL, "http://")
	var logged string
	for line := range strings.SplitSeq(gw.Stderr(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["sha256_fingerprint"] != nil {
			logged, _ = m["sha256_fingerprint"].(string)
		}
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	sum := sha256.Sum256(leaf.Raw)
	want := strings.ToUpper(fmt.Sprintf("%x", sum[:]))
	if strings.ReplaceAll(logged, ":", "") != want || !strings.Contains(logged, ":") {
		t.Errorf("logged fingerprint %q, served certificate's %s", logged, want)
	}
	if leaf.VerifyHostname("127.0.0.1") != nil || leaf.VerifyHostname("localhost") != nil {
		t.Errorf("self-signed certificate names %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get("https://" + addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /status over TLS: %d", resp.StatusCode)
	}
	if resp, err := http.Get("http://" + addr + "/status"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("the ssl admin listener served plain HTTP")
		}
	}

	certPEM, keyPEM := selfSigned(t, "admin.example.test")
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	writeAtomically(t, certPath, certPEM)
	writeAtomically(t, keyPath, keyPEM)
	own := gwtest.Start(t, policyConfig(t, up.URL), gwtest.Options{Args: []string{"--admin-listen", "127.0.0.1:0 ssl",
		"--admin-ssl-cert", certPath, "--admin-ssl-cert-key", keyPath}})
	conn, err = tls.Dial("tcp", strings.TrimPrefix(own.AdminURL, "http://"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "admin.example.test" {
		t.Errorf("--admin-ssl-cert: served %q", cn)
	}
	conn.Close()
	if strings.Contains(own.Stderr(), "sha256_fingerprint") {
		t.Error("a self-signed certificate was made although one was given")
	}
}
