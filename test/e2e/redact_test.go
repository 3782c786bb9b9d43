package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// redactValidate runs `validate` on doc with env and fails the test when
// the output holds secret or lacks a wanted line.
func redactValidate(t *testing.T, doc string, env []string, args []string, secret string, want ...string) {
	t.Helper()
	cfg := writeFile(t, "kong.yml", doc)
	stdout, stderr, code := runCLI(t, env, append([]string{"validate", "-c", cfg}, args...)...)
	out := stdout + stderr
	if strings.Contains(out, secret) {
		t.Errorf("exit %d: the value %q is shown:\n%s", code, secret, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("exit %d: output lacks %q:\n%s", code, w, out)
		}
	}
}

// A value from the environment that a YAML alias puts in a second field
// is hidden in the errors about that field too (review 11, finding 1).
func TestRedactThroughAlias(t *testing.T) {
	redactValidate(t, `_format_version: "3.0"
consumers:
- username: alice
  keyauth_credentials:
  - key: &k "{vault://env/redact-alice-key}"
services:
- name: s1
  url: http://127.0.0.1:9
  routes:
  - name: r
    paths: [/a]
    hosts: [*k]
`, []string{"REDACT_ALICE_KEY=Sup3r$ecretKey!"}, nil, "Sup3r$ecretKey",
		"services[0].routes[0].hosts[0]: invalid value (from {vault://env/redact-alice-key})")

	redactValidate(t, `_format_version: "3.0"
services:
- name: s1
  url: &u "{vault://env/redact-u}"
- name: s2
  url: *u
`, []string{"REDACT_U=http://sec ret-host.internal/p"}, nil, "ret-host",
		"services[0].url: invalid value (from {vault://env/redact-u})",
		"services[1].url: invalid value (from {vault://env/redact-u})")
}

// Errors that quote only part of a value from the environment (a URL's
// host or path, a header's value, a shortened copy) do not show that part
// either (review 11, finding 3).
func TestRedactPartialValues(t *testing.T) {
	url := `_format_version: "3.0"
services:
- name: s1
  url: "{vault://env/redact-url}"
`
	redactValidate(t, url, []string{"REDACT_URL=http://secret..host/x"}, nil, "secret..host",
		"services[0].url: invalid value (from {vault://env/redact-url})")
	long := "http://SECRETHOST" + strings.Repeat("a", 300) + "/ x"
	redactValidate(t, url, []string{"REDACT_URL=" + long}, nil, "SECRETHOST",
		"services[0].url: invalid value (from {vault://env/redact-url})")

	redactValidate(t, `_format_version: "3.0"
services:
- name: s1
  url: "http://${REDACT_HOST}/x"
`, []string{"REDACT_HOST=secret..host"}, []string{"--expand-env"}, "secret..host",
		"services[0].url: invalid value (from http://${REDACT_HOST}/x)")

	redactValidate(t, `_format_version: "3.0"
services:
- name: s1
  url: http://127.0.0.1:9
  plugins:
  - name: request-transformer
    config:
      add:
        headers: ["{vault://env/redact-auth-hdr}"]
`, []string{"REDACT_AUTH_HDR=authorization:Bearer SECRET_TOKEN_abc $(foo)"}, nil, "SECRET_TOKEN",
		"services[0].plugins[0].config.add.headers[0]: invalid value (from {vault://env/redact-auth-hdr})")

	// A value quoted by an error about another field, shortened to fit.
	redactValidate(t, `_format_version: "3.0"
services:
- name: "{vault://env/redact-name}"
  url: http://127.0.0.1:9
- name: "{vault://env/redact-name}"
  url: http://127.0.0.1:9
routes:
- paths: [/a]
  service: {name: nosuch}
`, []string{"REDACT_NAME=SECRETNAME" + strings.Repeat("b", 300)}, nil, "SECRETNAME")
}

// Warnings do not show values from the environment either: not in
// `validate`, the POST /config reply, /status or the log (review 11,
// finding 4).
func TestRedactWarnings(t *testing.T) {
	doc := func(route string) string {
		return fmt.Sprintf(`_format_version: "3.0"
services:
- name: s1
  url: http://127.0.0.1:9
  routes:
  - name: "{vault://env/redact-rname}"
    paths: [%s]
    path_handling: v1
`, route)
	}
	env := []string{"REDACT_RNAME=SuperSecretRouteName123", "REDACT_BAD_URL=http://db-secret..internal/x"}
	redactValidate(t, doc("/a"), env, nil, "SuperSecretRouteName123",
		"warning: services[0].routes[0].path_handling: route '{vault://env/redact-rname}'")

	gw := gwtest.Start(t, doc("/a"), gwtest.Options{Env: env})
	status, body := adminCall(t, gw, http.MethodPost, "/config", doc("/b"))
	if status != 201 {
		t.Fatalf("POST /config: %d %v", status, body)
	}
	last, _ := adminStatus(t, gw)["last_reload"].(map[string]any)
	warnings := fmt.Sprint(last["warnings"])
	if !strings.Contains(warnings, "route '{vault://env/redact-rname}'") {
		t.Errorf("last_reload warnings: %v", last)
	}

	// A refused POST /config: its reply, /status and the log.
	bad := strings.Replace(doc("/c"), "url: http://127.0.0.1:9", `url: "{vault://env/redact-bad-url}"`, 1)
	status, body = adminCall(t, gw, http.MethodPost, "/config", bad)
	if fields := fmt.Sprint(body["fields"]); status != 400 || !strings.Contains(fields, "invalid value (from {vault://env/redact-bad-url})") {
		t.Errorf("POST /config: %d %v", status, body)
	}
	last, _ = adminStatus(t, gw)["last_reload"].(map[string]any)
	for what, text := range map[string]string{"/status": warnings + fmt.Sprint(last), "the log": gw.Stdout() + gw.Stderr(), "the reply": fmt.Sprint(body)} {
		if strings.Contains(text, "SuperSecretRouteName123") || strings.Contains(text, "db-secret") {
			t.Errorf("%s shows the value:\n%s", what, text)
		}
	}
}

// --expand-env bounds what a document's strings may grow to, and refuses
// the document with the field before allocating past the bound (review 11,
// finding 6).
func TestRedactExpandEnvBounded(t *testing.T) {
	big := strings.Repeat("x", 60000)
	// 2,000 × 60 KB = 120 MB of expanded text from a 12 KB document.
	doc := "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:9\n  tags: [\"" +
		strings.Repeat("${REDACT_BIG}", 2000) + "\"]\n"
	cfg := writeFile(t, "kong.yml", doc)
	stdout, _, code := runCLI(t, []string{"REDACT_BIG=" + big}, "validate", "--expand-env", "-c", cfg)
	if want := "services[0].tags[0]: expanding ${REDACT_BIG} would take the document's expanded strings past 64 MiB"; code != 1 || !strings.Contains(stdout, want) {
		t.Errorf("exit %d, want 1 and %q:\n%.2000s", code, want, stdout)
	}
}
