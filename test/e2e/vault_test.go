package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// vaultConfig takes its upstream, a key-auth key and a plugin's message
// from the environment through vault references, the key through a vault
// entity with a prefix, and rewrites the path to a text with `${id}` in
// it, which is no variable (Kong has no ${...} syntax).
const vaultConfig = `
_format_version: "3.0"
vaults:
- name: env
  prefix: team-secrets
  config: {prefix: VAULT_E2E_}
services:
- name: movies
  url: "{vault://env/vault-e2e-upstream}"
  routes:
  - paths: [/movies]
    plugins:
    - name: key-auth
    - name: request-transformer
      config:
        replace:
          uri: /api/movies/${id}
  - paths: [/motd]
    plugins:
    - name: request-termination
      config: {status_code: 200, message: "{vault://env/vault-e2e-motd}"}
consumers:
- username: alice
  keyauth_credentials:
  - key: "{vault://team-secrets/alice-key}"
`

func TestVaultReferencesFromEnvironment(t *testing.T) {
	up := gwtest.StartEcho(t, "movies")
	gw := gwtest.Start(t, vaultConfig, gwtest.Options{Env: []string{
		"VAULT_E2E_UPSTREAM=" + up.URL, "VAULT_E2E_ALICE_KEY=k-from-env", "VAULT_E2E_MOTD=motd-from-env"}})

	resp, body := gw.Get("/movies", "apikey", "k-from-env")
	if resp.StatusCode != 200 {
		t.Fatalf("the key from the environment: %d %s", resp.StatusCode, body)
	}
	if p, _ := url.PathUnescape(gwtest.DecodeSeen(t, body).Path); p != "/api/movies/${id}" {
		t.Errorf("upstream path %q, want the ${id} text kept", p)
	}
	if resp, _ := gw.Get("/movies", "apikey", "{vault://team-secrets/alice-key}"); resp.StatusCode != 401 {
		t.Errorf("the reference text is a key: %d", resp.StatusCode)
	}

	if resp, body := gw.Get("/motd"); resp.StatusCode != 200 || !strings.Contains(body, "motd-from-env") {
		t.Errorf("/motd: %d %s", resp.StatusCode, body)
	}

	// The admin API shows the document, and plugin configs, with their
	// references as written (as Kong does), not the values.
	for _, path := range []string{"/config", "/plugins"} {
		req, _ := http.NewRequest(http.MethodGet, gw.AdminURL+path, nil)
		_, text := gwtest.Do(t, req)
		if strings.Contains(text, "motd-from-env") || !strings.Contains(text, "{vault://env/vault-e2e-motd}") {
			t.Errorf("GET %s: %s", path, text)
		}
	}
}

// A reference to a variable that is not set refuses the load with the
// field path; on reload the configuration in force stays.
func TestVaultUnsetVariable(t *testing.T) {
	up := gwtest.StartEcho(t, "movies")
	cfg := writeFile(t, "kong.yml", vaultConfig)
	_, stderr, code := runCLI(t, []string{"VAULT_E2E_UPSTREAM=" + up.URL, "VAULT_E2E_MOTD=m"}, "run", "-c", cfg, "--proxy-listen", "127.0.0.1:0", "--admin-listen", "off")
	want := "consumers[0].keyauth_credentials[0].key: unable to resolve reference {vault://team-secrets/alice-key} (environment variable VAULT_E2E_ALICE_KEY is not set)"
	if code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, want 1 and %q:\n%s", code, want, stderr)
	}

	gw := gwtest.Start(t, vaultConfig, gwtest.Options{Env: []string{
		"VAULT_E2E_UPSTREAM=" + up.URL, "VAULT_E2E_ALICE_KEY=k-from-env", "VAULT_E2E_MOTD=m"}})
	writeAtomically(t, configPath(t, gw), strings.Replace(vaultConfig, "alice-key", "bob-key", 1))
	gw.Signal(syscall.SIGHUP)
	var last map[string]any
	waitUntil(t, "the rejection to be recorded", func() bool {
		last, _ = adminStatus(t, gw)["last_reload"].(map[string]any)
		return last != nil && last["ok"] == false
	})
	if errs := fmt.Sprint(last["errors"]); !strings.Contains(errs, "consumers[0].keyauth_credentials[0].key") ||
		!strings.Contains(errs, "VAULT_E2E_BOB_KEY is not set") {
		t.Errorf("last_reload: %v", last)
	}
	if resp, _ := gw.Get("/movies", "apikey", "k-from-env"); resp.StatusCode != 200 {
		t.Errorf("after the rejected reload: %d", resp.StatusCode)
	}

	// POST /config resolves references too, and is refused the same way.
	status, body := adminCall(t, gw, http.MethodPost, "/config", strings.Replace(vaultConfig, "alice-key", "carol-key", 1))
	if status != 400 || !strings.Contains(fmt.Sprint(body["fields"]), "VAULT_E2E_CAROL_KEY is not set") {
		t.Errorf("POST /config: %d %v", status, body)
	}
}

// ${NAME} is expanded only with --expand-env (or TURNPIKE_EXPAND_ENV), on
// start and on reload; otherwise it is text.
func TestVaultExpandEnvFlag(t *testing.T) {
	up := gwtest.StartEcho(t, "env")
	doc := func(route string) string {
		return fmt.Sprintf("_format_version: \"3.0\"\nservices:\n- url: ${VAULT_E2E_URL}\n  routes: [{paths: [%s]}]\n", route)
	}
	cfg := writeFile(t, "kong.yml", doc("/a"))
	env := []string{"VAULT_E2E_URL=" + up.URL}
	stdout, _, code := runCLI(t, env, "validate", "-c", cfg)
	if code != 1 || !strings.Contains(stdout, "services[0].url: invalid url '${VAULT_E2E_URL}'") {
		t.Errorf("without --expand-env: exit %d\n%s", code, stdout)
	}
	for _, args := range [][]string{{"validate", "-c", cfg, "--expand-env"}, {"explain", "-c", cfg, "--expand-env", "GET", "http://x/a"}} {
		if out, stderr, code := runCLI(t, env, args...); code != 0 {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
	}
	if out, _, code := runCLI(t, append(env, "TURNPIKE_EXPAND_ENV=true"), "validate", "-c", cfg); code != 0 {
		t.Errorf("TURNPIKE_EXPAND_ENV: exit %d\n%s", code, out)
	}

	gw := gwtest.Start(t, doc("/a"), gwtest.Options{Env: env, Args: []string{"--expand-env"}})
	if resp, _ := gw.Get("/a"); resp.StatusCode != 200 {
		t.Fatalf("/a: %d", resp.StatusCode)
	}
	writeAtomically(t, configPath(t, gw), doc("/b"))
	gw.Signal(syscall.SIGHUP)
	waitUntil(t, "the reload", func() bool {
		resp, _ := gw.Get("/b")
		return resp.StatusCode == 200
	})
}

// Errors name a field that took its value from the environment as
// written, also those a plugin finds when it is built (after parsing).
func TestVaultValuesNotInErrors(t *testing.T) {
	env := []string{"VAULT_E2E_URL=not a url hunter2", "VAULT_E2E_ORIGIN=(hunter2"}
	for doc, want := range map[string]string{
		"services:\n- url: \"{vault://env/vault-e2e-url}\"\n":                                 "services[0].url: invalid value (from {vault://env/vault-e2e-url})",
		"plugins:\n- name: cors\n  config: {origins: [\"{vault://env/vault-e2e-origin}\"]}\n": "plugins[0].config.origins[0]: invalid value (from {vault://env/vault-e2e-origin})",
	} {
		cfg := writeFile(t, "kong.yml", "_format_version: \"3.0\"\n"+doc)
		out, _, code := runCLI(t, env, "validate", "-c", cfg)
		if code != 1 || !strings.Contains(out, want) || strings.Contains(out, "hunter2") {
			t.Errorf("exit %d, want 1 and %q, never the value:\n%s", code, want, out)
		}
	}
}
