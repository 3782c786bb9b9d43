package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// adminCall sends a request to the admin listener, with header's name and
// value pairs, and decodes its JSON object body (nil when empty). A body
// is YAML unless header names another Content-Type.
func adminCall(t *testing.T, gw *gwtest.Gateway, method, path, body string, header ...string) (int, map[string]any) {
	t.Helper()
	req := gwtest.NewRequest(t, method, gw.AdminURL+path, body, header...)
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/yaml")
	}
	resp, text := gwtest.Do(t, req)
	var m map[string]any
	if text != "" {
		if err := json.Unmarshal([]byte(text), &m); err != nil {
			t.Fatalf("%s %s: not JSON: %q", method, path, text)
		}
	}
	return resp.StatusCode, m
}

func adminRouteConfig(upstream, name string) string {
	return fmt.Sprintf(`
_format_version: "3.0"
services:
- name: svc
  url: %s
  routes:
  - name: %s
    paths: [/%s]
`, upstream, name, name)
}

// POST /config swaps the routes live; an invalid document is refused with
// field paths and the routes in force keep answering.
func TestAdminPostConfigSwapsRoutesLive(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "old"), gwtest.Options{})
	if resp, body := gw.Get("/old"); resp.StatusCode != 200 {
		t.Fatalf("/old before: %d %s", resp.StatusCode, body)
	}

	code, body := adminCall(t, gw, http.MethodPost, "/config", adminRouteConfig(up.URL, "new"))
	if code != 201 || len(body["routes"].(map[string]any)) != 1 {
		t.Fatalf("POST /config: %d %v", code, body)
	}
	if resp, body := gw.Get("/new/x"); resp.StatusCode != 200 || gwtest.DecodeSeen(t, body).Path != "/x" {
		t.Errorf("/new after POST: %d %s", resp.StatusCode, body)
	}
	if resp, _ := gw.Get("/old"); resp.StatusCode != 404 {
		t.Errorf("/old after POST: %d, want 404", resp.StatusCode)
	}
	_, routes := adminCall(t, gw, http.MethodGet, "/routes", "")
	if data := routes["data"].([]any); len(data) != 1 || data[0].(map[string]any)["name"] != "new" {
		t.Errorf("GET /routes: %v", routes)
	}
	status := adminStatus(t, gw)
	last, _ := status["last_reload"].(map[string]any)
	if last["trigger"] != "admin" || last["ok"] != true || last["configuration_hash"] != status["configuration_hash"] {
		t.Errorf("status after POST: %v", status)
	}
	if code, _ := adminCall(t, gw, http.MethodPost, "/config?check_hash=1", adminRouteConfig(up.URL, "new")); code != 304 {
		t.Errorf("unchanged POST with check_hash: %d", code)
	}

	bad := strings.Replace(adminRouteConfig(up.URL, "broken"), "paths: [/broken]", "paths: [broken]", 1)
	code, body = adminCall(t, gw, http.MethodPost, "/config", bad)
	if code != 400 || body["name"] != "invalid declarative configuration" {
		t.Fatalf("invalid POST /config: %d %v", code, body)
	}
	if kongField(body["fields"], "services[0].routes[0].paths[0]") == nil {
		t.Errorf("invalid POST fields: %v", body["fields"])
	}
	if body["flattened_errors"] != nil {
		t.Errorf("flattened_errors without flatten_errors: %v", body)
	}
	if resp, body := gw.Get("/new"); resp.StatusCode != 200 {
		t.Errorf("/new after an invalid POST: %d %s", resp.StatusCode, body)
	}
	last, _ = adminStatus(t, gw)["last_reload"].(map[string]any)
	if last["ok"] != false || last["trigger"] != "admin" || !strings.Contains(fmt.Sprint(last["errors"]), "paths[0]") {
		t.Errorf("status after an invalid POST: %v", last)
	}
	_, cfg := adminCall(t, gw, http.MethodGet, "/config", "")
	if !strings.Contains(fmt.Sprint(cfg["config"]), "paths: [/new]") {
		t.Errorf("GET /config after an invalid POST: %v", cfg)
	}
}

// The admin API never answers on the proxy port: without a matching route
// the proxy's 404, with a catch-all route the upstream.
func TestAdminNotReachableThroughProxy(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, adminRouteConfig(up.URL, "only"), gwtest.Options{})
	for _, p := range []string{"/status", "/config", "/services", "/"} {
		resp, body := gw.Get(p)
		if resp.StatusCode != 404 || strings.Contains(body, "configuration_hash") || strings.Contains(body, `"data"`) {
			t.Errorf("proxy %s: %d %s", p, resp.StatusCode, body)
		}
	}
	catchAll := fmt.Sprintf("_format_version: \"3.0\"\nservices:\n- name: a\n  url: %s\n  routes: [{paths: [/]}]\n", up.URL)
	if code, body := adminCall(t, gw, http.MethodPost, "/config", catchAll); code != 201 {
		t.Fatalf("POST /config: %d %v", code, body)
	}
	for _, p := range []string{"/status", "/config"} {
		resp, body := gw.Get(p)
		if resp.StatusCode != 200 || resp.Header.Get("X-Upstream") != "a" || gwtest.DecodeSeen(t, body).Path != p {
			t.Errorf("proxy %s with a catch-all route: %d %s", p, resp.StatusCode, body)
		}
	}
	// And the admin side answers Kong's GET / for decK.
	code, root := adminCall(t, gw, http.MethodGet, "/", "")
	if code != 200 || root["configuration"].(map[string]any)["database"] != "off" || root["version"] == "" {
		t.Errorf("GET /: %d %v", code, root)
	}
}
