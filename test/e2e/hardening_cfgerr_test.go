package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// Issue 10, second round: a configuration's errors cost time and memory in
// proportion to the document, and what is reported of them stays bounded.

const cfeMoreErrors = "more errors (only the first 1000 are listed)"

// cfeBrokenServices is 20,000 services (180 KB) that each decode with an
// error and fail validation: filtering the one by the other compared
// every pair, half a minute of work.
func cfeBrokenServices() string {
	return "_format_version: \"3.0\"\nservices:\n" + strings.Repeat("- {x: 1}\n", 20_000)
}

// cfeAliasedLongKeys is a map with thirty unknown keys of 1,000 bytes (a
// plain YAML key may not be longer) used through an alias by a thousand
// services (30 KB): thirty thousand errors whose paths each held one of
// the keys, 30 MB of error text (more would pass config.MaxAliasBytes).
func cfeAliasedLongKeys() string {
	var sb strings.Builder
	sb.WriteString("_format_version: \"3.0\"\n_ignore:\n- &s\n  host: example.com\n")
	for i := range 30 {
		fmt.Fprintf(&sb, "  k%d%s: 1\n", i, strings.Repeat("a", 1000))
	}
	sb.WriteString("services: [*s" + strings.Repeat(", *s", 999) + "]\n")
	return sb.String()
}

// cfeRefusedPromptly posts doc, which has far more than a thousand errors,
// and checks that the reply comes at once, is bounded, and lists the first
// thousand errors and a count of the others; then that the status page
// holds no more, that the log counts them all, and that the next load is
// not kept out.
func cfeRefusedPromptly(t *testing.T, gw *gwtest.Gateway, upstream, doc, first string, total int) {
	t.Helper()
	code, body := cfgPost(t, gw, "/config?flatten_errors=1", "application/yaml", doc, 15*time.Second)
	// first is "path: message"; the reply lists them apart, as Kong's
	// flattened errors.
	path, msg, _ := strings.Cut(first, ": ")
	if code != 400 || !strings.Contains(body, `"path":"`+path+`"`) || !strings.Contains(body, `"message":"`+msg+`"`) || !strings.Contains(body, cfeMoreErrors) {
		t.Fatalf("POST /config = %d %.500s", code, body)
	}
	if len(body) > 512<<10 {
		t.Errorf("a reply of %d bytes", len(body))
	}
	last, _ := adminStatus(t, gw)["last_reload"].(map[string]any)
	if errs, _ := last["errors"].([]any); len(errs) != 1001 {
		t.Errorf("last_reload lists %d errors, want 1000 and a count", len(errs))
	}
	var logged []map[string]any
	waitUntil(t, "the rejection in the log", func() bool {
		logged = rldLogLines(gw, "configuration rejected; the previous one stays in force")
		return len(logged) > 0
	})
	if got := logged[0]["errors"]; got != float64(total) {
		t.Errorf("the log counts %v errors, want %d", got, total)
	}
	if code, body := cfgPost(t, gw, "/config", "application/yaml", adminRouteConfig(upstream, "next"), 10*time.Second); code != 201 {
		t.Fatalf("POST /config after the refused one = %d %s", code, body)
	}
	cfgServes(t, gw, "/next")
}

func TestCfeManyErrorsRefusedPromptly(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{Args: []string{"--config-load-timeout", "5s"}})
	cfeRefusedPromptly(t, gw, up.URL, cfeBrokenServices(), "services[0].x: unknown field", 20_000)

	path := writeFile(t, "broken.yml", cfeBrokenServices())
	out, code := cfgRunCLI(t, 15*time.Second, "validate", "-c", path)
	if code != 1 || !strings.Contains(out, "and 19000 "+cfeMoreErrors) || len(out) > 256<<10 {
		t.Fatalf("turnpike validate = exit %d, %d bytes:\n%.500s", code, len(out), out)
	}
}

// The aliased keys are refused with their errors, not abandoned for the
// memory their repeated paths took.
func TestCfeAliasedLongKeysRefusedBounded(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{Args: []string{"--config-load-memory", fmt.Sprint(64 << 20)}})
	key := "services[0].k0" + strings.Repeat("a", 62) + "…: unknown field"
	cfeRefusedPromptly(t, gw, up.URL, cfeAliasedLongKeys(), key, 30_000)

	path := writeFile(t, "aliased.yml", cfeAliasedLongKeys())
	out, code := cfgRunCLI(t, 15*time.Second, "validate", "-c", path)
	if code != 1 || !strings.Contains(out, key) || !strings.Contains(out, "and 29000 "+cfeMoreErrors) || len(out) > 256<<10 {
		t.Fatalf("turnpike validate = exit %d, %d bytes:\n%.500s", code, len(out), out)
	}
}

// cfeAdminPath is a public catch-all route and, when admin is set, the
// route admin-path under key-auth.
func cfeAdminPath(upstream string, admin bool) string {
	s := fmt.Sprintf(`_format_version: "3.0"
services:
- name: app
  url: %s
  routes:
  - name: public
    paths: [/]
    preserve_host: true
`, upstream)
	if admin {
		s += "  - name: admin-path\n    paths: [/admin]\n    plugins:\n    - name: key-auth\n"
	}
	return s
}

// Deleting a route that carried a plugin sends its traffic to the route
// that matches next, here the public catch-all: /admin loses key-auth
// and the warning says so, naming the route and the plugin.
func TestCfeRemovedRouteWithPluginsWarns(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, cfeAdminPath(up.URL, true), gwtest.Options{Args: []string{"--access-log", "off"}})
	if resp, _ := gw.Get("/admin/x"); resp.StatusCode != 401 {
		t.Fatalf("/admin/x before: %d, want 401", resp.StatusCode)
	}
	if code, body := cfgPost(t, gw, "/config", "application/yaml", cfeAdminPath(up.URL, false), 10*time.Second); code != 201 {
		t.Fatalf("POST /config = %d %s", code, body)
	}
	if resp, _ := gw.Get("/admin/x"); resp.StatusCode != 200 {
		t.Fatalf("/admin/x after: %d, want 200 (the catch-all)", resp.StatusCode)
	}
	const warning = "configuration applied without plugins the previous one had"
	var lines []map[string]any
	waitUntil(t, "the warning", func() bool {
		lines = rldLogLines(gw, warning)
		return len(lines) > 0
	})
	if len(lines) != 1 || lines[0]["level"] != "WARN" || lines[0]["trigger"] != "admin" {
		t.Fatalf("warnings %v", lines)
	}
	if got := fmt.Sprint(lines[0]["lost"]); !strings.Contains(got, `key-auth on route "admin-path" (route removed)`) {
		t.Errorf("lost plugins %s do not name the route and its plugin", got)
	}
}
