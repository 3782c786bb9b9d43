package kongcompat

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// kplugAdmin GETs an admin API path and decodes its JSON body.
func kplugAdmin(t *testing.T, gw *gwtest.Gateway, path string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, gw.AdminURL+path, nil)
	resp, body := gwtest.Do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return m
}

// kplugReload rewrites the gateway's config file, sends SIGHUP and waits
// until the admin API reports a configuration with another hash.
func kplugReload(t *testing.T, gw *gwtest.Gateway, cfg string) {
	t.Helper()
	before := kplugAdmin(t, gw, "/status")["configuration_hash"]
	if err := os.WriteFile(gw.ConfigPath(), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	gw.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for kplugAdmin(t, gw, "/status")["configuration_hash"] == before {
		if time.Now().After(deadline) {
			t.Fatalf("the reload was not applied:\n%s", gw.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kplugJWTSecret is the secret the admin API shows for consumer's jwt
// credential key.
func kplugJWTSecret(t *testing.T, gw *gwtest.Gateway, consumer, key string) string {
	t.Helper()
	s, _ := kplugAdmin(t, gw, "/consumers/"+consumer+"/jwt/"+key)["secret"].(string)
	return s
}

func kplugSign(t *testing.T, iss, secret string) string {
	t.Helper()
	tok, err := gojwt.NewWithClaims(gojwt.SigningMethodHS256, gojwt.MapClaims{"iss": iss}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestKplugJWTGeneratedSecret: an HS256 jwt credential without a secret
// gets a random one of Kong's shape, shown by the admin API, that verifies
// tokens, survives a reload of the file, and is never logged.
func TestKplugJWTGeneratedSecret(t *testing.T) {
	const source = `Kong/kong spec/03-plugins/16-jwt/02-api_spec.lua: "does not fail when ` +
		"`secret`" + ` parameter for HS256 algorithms is missing"`
	echo := gwtest.StartEcho(t, "up")
	cfg := func(extraTag string) string {
		return `_format_version: "3.0"
services:
- name: svc
  url: ` + echo.URL + `
  routes:
  - name: r
    paths: [/jwt]
    plugins:
    - name: jwt
consumers:
- username: bob
  tags: [` + extraTag + `]
  jwt_secrets:
  - key: bob5
    algorithm: HS256
- username: alice
  jwt_secrets:
  - key: alice5
`
	}
	gw := gwtest.Start(t, cfg("one"), gwtest.Options{})
	secret := kplugJWTSecret(t, gw, "bob", "bob5")
	if !regexp.MustCompile(`^[A-Za-z0-9]{32}$`).MatchString(secret) {
		t.Fatalf("source %s: secret %q is not 32 alphanumerics", source, secret)
	}
	other := kplugJWTSecret(t, gw, "alice", "alice5")
	if other == secret || other == "" {
		t.Fatalf("source %s: the two credentials' secrets are %q and %q", source, secret, other)
	}
	tok := kplugSign(t, "bob5", secret)
	if resp, body := gw.Get("/jwt", "Authorization", "Bearer "+tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("a token signed with the generated secret: %d %s", resp.StatusCode, body)
	}
	if resp, _ := gw.Get("/jwt", "Authorization", "Bearer "+kplugSign(t, "bob5", secret+"x")); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a token signed with another secret: %d, want 401", resp.StatusCode)
	}

	// A reload that keeps consumer and key keeps the secret, so the token
	// issued with it still works.
	kplugReload(t, gw, cfg("two"))
	if got := kplugJWTSecret(t, gw, "bob", "bob5"); got != secret {
		t.Fatalf("the reload changed the generated secret")
	}
	if resp, body := gw.Get("/jwt", "Authorization", "Bearer "+tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the reload, a token signed with the generated secret: %d %s", resp.StatusCode, body)
	}

	// Moved to another consumer, it is another credential: a new secret.
	moved := strings.Replace(strings.Replace(cfg("three"), "key: bob5", "key: x5", 1), "key: alice5", "key: bob5", 1)
	kplugReload(t, gw, moved)
	if got := kplugJWTSecret(t, gw, "alice", "bob5"); got == secret || got == "" {
		t.Fatalf("the key moved to another consumer kept the secret (or has none: %q)", got)
	}

	logs := gw.Stderr()
	if !strings.Contains(logs, "consumers[0].jwt_secrets[0].secret: not set") {
		t.Fatalf("no load warning about the generated secret:\n%s", logs)
	}
	if strings.Contains(logs+gw.Stdout(), secret) || strings.Contains(logs, other) {
		t.Fatalf("a generated secret was logged:\n%s", logs)
	}
}
