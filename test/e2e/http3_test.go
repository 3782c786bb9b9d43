package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// h3Config is a gateway config with an echo service on /a, a route
// answered by request-termination, and certPEM/keyPEM for a.example.com.
func h3Config(upstream, certPEM, keyPEM string) string {
	return fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  routes:
  - name: a
    paths: [/a]
  - name: teapot
    paths: [/teapot]
plugins:
- name: request-termination
  route: teapot
  config:
    status_code: 418
    message: "I'm a teapot"
certificates:
- cert: |
%s
  key: |
%s
  snis: [a.example.com]
`, upstream, indent(certPEM, "    "), indent(keyPEM, "    "))
}

func h3Do(t *testing.T, c *http.Client, method, url, body string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(gwtest.NewRequest(t, method, url, body))
	if err != nil {
		t.Fatalf("%s %s over HTTP/3: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// h3PeerCert is the certificate a fresh QUIC handshake for a.example.com
// sees.
func h3PeerCert(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, addr,
		&tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}}, nil)
	if err != nil {
		t.Fatalf("QUIC handshake: %v", err)
	}
	defer qc.CloseWithError(0, "")
	return qc.ConnectionState().TLS.PeerCertificates[0]
}

func pemCert(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHTTP3(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	cert, key := selfSigned(t, "a.example.com")
	gw := gwtest.Start(t, h3Config(up.URL, cert, key), gwtest.Options{
		ProxyListen: "127.0.0.1:0 ssl http2 http3",
		Args:        []string{"--client-max-body-size", "1024", "--client-body-timeout", "1s"},
	})
	addr := strings.TrimPrefix(gw.URL, "http://")
	_, port, _ := net.SplitHostPort(addr)
	base := "https://" + addr
	tr := &http3.Transport{TLSClientConfig: &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}}
	defer tr.Close()
	h3 := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	resp, body := h3Do(t, h3, http.MethodGet, base+"/a/x?q=1", "")
	seen := gwtest.DecodeSeen(t, body)
	if resp.StatusCode != 200 || resp.Proto != "HTTP/3.0" || seen.Path != "/x" || seen.Query != "q=1" {
		t.Fatalf("GET /a/x: %d %s %+v", resp.StatusCode, resp.Proto, seen)
	}
	if got := seen.Header["X-Forwarded-Proto"]; len(got) != 1 || got[0] != "https" {
		t.Errorf("X-Forwarded-Proto %v", got)
	}
	if got := seen.Header["X-Forwarded-Port"]; len(got) != 1 || got[0] != port {
		t.Errorf("X-Forwarded-Port %v, want %s", got, port)
	}

	resp, body = h3Do(t, h3, http.MethodPost, base+"/a/post", `{"name":"ada"}`)
	if seen := gwtest.DecodeSeen(t, body); resp.StatusCode != 200 || seen.Method != "POST" || seen.Body != `{"name":"ada"}` {
		t.Errorf("POST /a/post: %d %+v", resp.StatusCode, seen)
	}
	resp, body = h3Do(t, h3, http.MethodPost, base+"/a/big", strings.Repeat("x", 2048))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("POST of 2 KiB over a 1 KiB limit: %d %q", resp.StatusCode, body)
	}
	// A body that stops coming gets 408 after the body timeout.
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("partial"))
	req, _ := http.NewRequest(http.MethodPost, base+"/a/stalled", pr)
	if resp, err := h3.Do(req); err != nil || resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("POST whose body stalls: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	resp, body = h3Do(t, h3, http.MethodGet, base+"/teapot", "")
	if resp.StatusCode != 418 || body != `{"message":"I'm a teapot"}` {
		t.Errorf("request-termination over HTTP/3: %d %q", resp.StatusCode, body)
	}
	resp, body = h3Do(t, h3, http.MethodGet, base+"/nowhere", "")
	if resp.StatusCode != 404 || !strings.HasPrefix(body, "{\n  \"message\":\"no Route matched with those values\",\n  \"request_id\":") {
		t.Errorf("no route over HTTP/3: %d %q", resp.StatusCode, body)
	}
	// The stalled body was being streamed upstream when it stopped.
	if up.Count.Load() != 3 {
		t.Errorf("upstream saw %d requests, want 3", up.Count.Load())
	}

	// TCP answers, the proxy's and the gateway's own, announce HTTP/3.
	tcp := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}}}
	defer tcp.CloseIdleConnections()
	want := `h3=":` + port + `"; ma=86400`
	for _, p := range []string{"/a", "/nowhere"} {
		resp, _ := h3Do(t, tcp, http.MethodGet, base+p, "")
		if resp.ProtoMajor != 2 || resp.Header.Get("Alt-Svc") != want {
			t.Errorf("GET %s over %s: Alt-Svc %q, want %q", p, resp.Proto, resp.Header.Get("Alt-Svc"), want)
		}
	}

	var h3Lines int
	for _, m := range gw.AccessLog(8) {
		if m["protocol"] == "HTTP/3.0" {
			h3Lines++
		}
	}
	if h3Lines != 6 {
		t.Errorf("%d access-log lines with protocol HTTP/3.0, want 6:\n%s", h3Lines, gw.Stdout())
	}

	// A reload that swaps the certificate applies to new QUIC handshakes.
	if got := h3PeerCert(t, addr); !got.Equal(pemCert(t, cert)) {
		t.Fatalf("QUIC handshake sees %v, not the configured certificate", got.SerialNumber)
	}
	cert2, key2 := selfSigned(t, "a.example.com")
	writeAtomically(t, configPath(t, gw), h3Config(up.URL, cert2, key2))
	gw.Signal(syscall.SIGHUP)
	want2 := pemCert(t, cert2)
	waitUntil(t, "the QUIC handshake to see the new certificate", func() bool {
		return h3PeerCert(t, addr).Equal(want2)
	})
	if resp, _ := h3Do(t, h3, http.MethodGet, base+"/a", ""); resp.StatusCode != 200 {
		t.Errorf("GET /a after the reload: %d", resp.StatusCode)
	}
}

func TestHTTP3ListenNeedsSSL(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	cert, key := selfSigned(t, "a.example.com")
	cfg := writeFile(t, "kong.yml", h3Config(up.URL, cert, key))
	_, stderr, code := runCLI(t, nil, "run", "-c", cfg, "--admin-listen", "127.0.0.1:0",
		"--proxy-listen", "127.0.0.1:0 http2 http3")
	if code == 0 || !strings.Contains(stderr, `--proxy-listen: listen address "127.0.0.1:0": http3 needs ssl`) {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}
