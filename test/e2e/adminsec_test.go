package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

const admSecNewConfig = `_format_version: "3.0"
services:
- name: added
  url: http://127.0.0.1:9
  routes:
  - name: added
    paths: [/added]
`

// Named tokens from a file and from TURNPIKE_ADMIN_TOKENS, with roles: a
// read-only token reads and cannot write, an admin token writes, and each
// write is logged under the token's name, never with the token itself.
func TestAdminTokensFileAndRoles(t *testing.T) {
	file := writeFile(t, "tokens.yml", `
- {name: ops, token: ops-admin-token-1, role: admin}
- {name: viewer, token: viewer-token-1, role: read-only}
`)
	gw := gwtest.Start(t, admSecretConfig, gwtest.Options{
		Args: []string{"--admin-tokens-file", file},
		Env:  []string{`TURNPIKE_ADMIN_TOKENS=[{"name":"ci","token":"ci-token-1","role":"read-only"}]`},
	})
	addr := strings.TrimPrefix(gw.AdminURL, "http://")
	for _, tok := range []string{"viewer-token-1", "ci-token-1", "ops-admin-token-1"} {
		if code, body := admRequest(t, addr, addr, http.MethodGet, "/services/svc", "", "Authorization", "Bearer "+tok); code != 200 {
			t.Errorf("GET /services/svc with %s: %d %s", tok, code, body)
		}
	}
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Kong-Admin-Token", "viewer-token-"}} {
		if code, body := admRequest(t, addr, addr, http.MethodGet, "/services", "", hdr...); code != 401 || kongMessage(body) != "Unauthorized" {
			t.Errorf("GET /services with %v: %d %s", hdr, code, body)
		}
	}
	code, body := admRequest(t, addr, addr, http.MethodPost, "/config", admSecNewConfig,
		"Kong-Admin-Token", "viewer-token-1", "Content-Type", "application/yaml")
	if code != 403 || kongMessage(body) != "viewer, you do not have permissions to create this resource" {
		t.Errorf("read-only POST /config: %d %s", code, body)
	}
	if resp, _ := gw.Get("/r"); resp.StatusCode == 404 {
		t.Error("a refused write changed the configuration")
	}
	code, body = admRequest(t, addr, addr, http.MethodPost, "/config", admSecNewConfig,
		"Authorization", "Bearer ops-admin-token-1", "Content-Type", "application/yaml")
	if code != 201 {
		t.Fatalf("admin POST /config: %d %s", code, body)
	}
	if resp, _ := gw.Get("/r"); resp.StatusCode != 404 {
		t.Errorf("after the admin's write /r = %d, want 404", resp.StatusCode)
	}
	// The line is written once the answer has gone.
	var lines []map[string]any
	eventually(2*time.Second, func() bool {
		lines = rldLogLines(gw, "admin write")
		return len(lines) >= 2
	})
	if len(lines) != 2 || lines[0]["token"] != "viewer" || lines[0]["status"] != float64(403) ||
		lines[1]["token"] != "ops" || lines[1]["status"] != float64(201) || lines[1]["path"] != "/config" ||
		lines[1]["method"] != "POST" || !strings.HasPrefix(lines[1]["remote"].(string), "127.0.0.1:") {
		t.Errorf("admin write log lines: %v", lines)
	}
	if strings.Contains(gw.Stderr(), "ops-admin-token-1") || strings.Contains(gw.Stderr(), "viewer-token-1") {
		t.Error("a token is in the error log")
	}
}

// The admin listener over TLS with a client CA: no certificate or one of
// another CA fails the handshake; a certificate whose CN a client_cn entry
// names gets that entry's role; another certificate of the CA needs a token.
func TestAdminMutualTLS(t *testing.T) {
	server := gwtest.WriteTLSFiles(t)
	clientCA, otherCA := mtlsCA(t, "admin clients CA"), mtlsCA(t, "someone else's CA")
	laptop, stranger := mtlsClient(t, clientCA, "ops-laptop"), mtlsClient(t, clientCA, "stranger")
	forged := mtlsClient(t, otherCA, "ops-laptop")
	caFile := writeFile(t, "clients.pem", clientCA.pem())
	tokens := writeFile(t, "tokens.yml", `
- {name: laptop, client_cn: ops-laptop, role: read-only}
- {name: root, token: root-token-1, role: admin}
`)
	gw := gwtest.Start(t, admSecretConfig, gwtest.Options{Args: []string{
		"--admin-listen", "127.0.0.1:0 ssl", "--admin-ssl-cert", server.CertFile, "--admin-ssl-cert-key", server.KeyFile,
		"--admin-client-ca", caFile, "--admin-tokens-file", tokens,
	}})
	addr := strings.TrimPrefix(gw.AdminURL, "http://")
	roots := x509.NewCertPool()
	pemData, _ := os.ReadFile(server.CAFile)
	roots.AppendCertsFromPEM(pemData)
	call := func(cert *tls.Certificate, method, path, body string, header ...string) (int, string, error) {
		conf := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
		if cert != nil {
			conf.Certificates = []tls.Certificate{*cert}
		}
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: conf}}
		defer client.CloseIdleConnections()
		resp, err := client.Do(gwtest.NewRequest(t, method, "https://"+addr+path, body, header...))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b), err
	}
	for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "another CA's certificate": forged.tlsCert()} {
		if code, _, err := call(cert, http.MethodGet, "/status", "", "Kong-Admin-Token", "root-token-1"); err == nil {
			t.Errorf("%s: answered %d, want a failed handshake", name, code)
		}
	}
	if code, body, err := call(laptop.tlsCert(), http.MethodGet, "/services/svc", ""); err != nil || code != 200 {
		t.Errorf("mapped certificate GET: %d %s %v", code, body, err)
	}
	code, body, err := call(laptop.tlsCert(), http.MethodPost, "/config", admSecNewConfig, "Content-Type", "application/yaml")
	if err != nil || code != 403 || kongMessage(body) != "laptop, you do not have permissions to create this resource" {
		t.Errorf("mapped read-only certificate POST /config: %d %s %v", code, body, err)
	}
	if code, body, err := call(stranger.tlsCert(), http.MethodGet, "/status", ""); err != nil || code != 401 {
		t.Errorf("unmapped certificate without a token: %d %s %v", code, body, err)
	}
	code, body, err = call(stranger.tlsCert(), http.MethodPost, "/config", admSecNewConfig,
		"Content-Type", "application/yaml", "Authorization", "Bearer root-token-1")
	if err != nil || code != 201 {
		t.Errorf("unmapped certificate with the admin token POST /config: %d %s %v", code, body, err)
	}
	// The line is written once the answer has gone.
	logged := eventually(2*time.Second, func() bool {
		return strings.Contains(gw.Stderr(), `"token":"laptop"`) && strings.Contains(gw.Stderr(), `"token":"root"`)
	})
	if !logged {
		t.Errorf("write log lacks the credentials' names:\n%s", gw.Stderr())
	}
}

// An admin listener other machines can reach is refused at start without a
// credential, with the flag and the fix named; loopback stays free.
func TestAdminListenOffLoopbackRefused(t *testing.T) {
	cfg := writeFile(t, "kong.yml", admSecretConfig)
	for _, listen := range []string{"0.0.0.0:0", ":0"} {
		stderr, code := admSecRefused(t, []string{"TURNPIKE_ADMIN_TOKEN="}, "run", "-c", cfg, "--proxy-listen", "127.0.0.1:0", "--admin-listen", listen)
		if code != 1 || !strings.Contains(stderr, "--admin-listen "+listen) || !strings.Contains(stderr, "TURNPIKE_ADMIN_TOKEN") {
			t.Errorf("--admin-listen %s without a token: exit %d, %s", listen, code, stderr)
		}
	}
	ca := writeFile(t, "ca.pem", mtlsCA(t, "ca").pem())
	stderr, code := admSecRefused(t, nil, "run", "-c", cfg, "--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--admin-client-ca", ca)
	if code != 1 || !strings.Contains(stderr, "--admin-client-ca: --admin-listen 127.0.0.1:0 is not ssl") {
		t.Errorf("--admin-client-ca on a plain listener: exit %d, %s", code, stderr)
	}

	gw := gwtest.Start(t, admSecretConfig, gwtest.Options{Args: []string{"--admin-listen", "0.0.0.0:0"}, Env: []string{"TURNPIKE_ADMIN_TOKEN=wide-token-1"}})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(gw.AdminURL, "http://"))
	addr := "127.0.0.1:" + port
	if code, _ := admRequest(t, addr, addr, http.MethodGet, "/status", ""); code != 401 {
		t.Errorf("published admin API without the token: %d", code)
	}
	if code, _ := admRequest(t, addr, addr, http.MethodGet, "/status", "", "Kong-Admin-Token", "wide-token-1"); code != 200 {
		t.Errorf("published admin API with the token: %d", code)
	}
	if !strings.Contains(gw.Stderr(), "clear text") {
		t.Error("no warning for tokens over plain HTTP on a published listener")
	}
}

// admSecRefused runs the binary expecting it to exit at start-up; one
// that starts serving instead is stopped after 10 s and reported as -1.
func admSecRefused(t *testing.T, env []string, args ...string) (stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gwtest.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var errb strings.Builder
	cmd.Stderr = &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return errb.String(), -1
	case errors.As(err, &ee):
		return errb.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return errb.String(), 0
}
