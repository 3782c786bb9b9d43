package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// Plugins at every scope, with Kong's precedence: route beats service
// beats global, for the same plugin name.
func TestPluginScopesAndPrecedence(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: svc
  url: %s
  routes:
  - name: plain
    paths: [/plain]
  - name: routed
    paths: [/routed]
    plugins:
    - name: request-transformer
      config:
        add: {headers: ["X-Scope:route"]}
  plugins:
  - name: request-transformer
    config:
      add: {headers: ["X-Scope:service"]}
- name: other
  url: %s
  routes:
  - name: other
    paths: [/other]
plugins:
- name: request-transformer
  config:
    add: {headers: ["X-Scope:global"]}
- name: request-termination
  route: other
  config:
    status_code: 418
    message: "I'm a teapot"
`, up.URL, up.URL), gwtest.Options{})
	for path, want := range map[string]string{"/plain": "service", "/routed": "route"} {
		_, body := gw.Get(path)
		if got := strings.Join(gwtest.DecodeSeen(t, body).Header["X-Scope"], ","); got != want {
			t.Errorf("%s: X-Scope %q, want %q", path, got, want)
		}
	}
	resp, body := gw.Get("/other")
	if resp.StatusCode != 418 || body != `{"message":"I'm a teapot"}` {
		t.Errorf("request-termination: %d %q", resp.StatusCode, body)
	}
	if up.Count.Load() != 2 {
		t.Errorf("upstream requests %d, want 2", up.Count.Load())
	}
}

func TestRequestTerminationDefaults(t *testing.T) {
	gw := gwtest.Start(t, `
_format_version: "3.0"
routes:
- name: down
  paths: [/down]
  url: http://127.0.0.1:9
  plugins:
  - name: request-termination
`, gwtest.Options{})
	resp, body := gw.Get("/down")
	if resp.StatusCode != 503 || body != `{"message":"Service unavailable"}` {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
	l := gw.AccessLog(1)
	if len(l) != 1 || l[0]["status"] != float64(503) || l[0]["source"] != "gateway" {
		t.Errorf("access log: %v", l)
	}
}

func TestCORS(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  routes: [{name: api, paths: [/api]}]
  plugins:
  - name: cors
    config:
      origins: ["https://app.example.com"]
      methods: [GET, POST]
      headers: [Authorization, Content-Type]
      exposed_headers: [X-Request-Id]
      credentials: true
      max_age: 600
`, up.URL), gwtest.Options{})
	req, _ := http.NewRequest(http.MethodOptions, gw.URL+"/api/x", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, _ := gwtest.Do(t, req)
	want := map[string]string{
		"Access-Control-Allow-Origin":      "https://app.example.com",
		"Access-Control-Allow-Methods":     "GET,POST",
		"Access-Control-Allow-Headers":     "Authorization,Content-Type",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Max-Age":           "600",
	}
	if resp.StatusCode != 200 {
		t.Errorf("preflight status %d", resp.StatusCode)
	}
	for h, v := range want {
		if got := resp.Header.Get(h); got != v {
			t.Errorf("preflight %s = %q, want %q", h, got, v)
		}
	}
	if up.Count.Load() != 0 {
		t.Errorf("preflight reached the upstream")
	}
	resp, _ = gw.Get("/api/x", "Origin", "https://app.example.com")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		resp.Header.Get("Access-Control-Expose-Headers") != "X-Request-Id" || !strings.Contains(resp.Header.Get("Vary"), "Origin") {
		t.Errorf("actual request CORS headers: %v", resp.Header)
	}
	resp, _ = gw.Get("/api/x", "Origin", "https://evil.example.com")
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got == "https://evil.example.com" {
		t.Errorf("foreign origin allowed")
	}
}

func TestRequestTransformer(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  routes: [{name: r, paths: ["~/items/(?P<id>\\d+)"], strip_path: false}]
  plugins:
  - name: request-transformer
    config:
      http_method: POST
      remove: {headers: [X-Drop], querystring: [drop]}
      rename: {headers: ["X-Old:X-New"]}
      replace: {querystring: ["mode:replaced"]}
      add: {headers: ["X-Item:$(uri_captures.id)"], querystring: ["added:yes"]}
      append: {headers: ["X-Multi:two"]}
`, up.URL), gwtest.Options{})
	_, body := gw.Get("/items/42?drop=1&mode=orig&keep=1", "X-Drop", "x", "X-Old", "v", "X-Multi", "one")
	seen := gwtest.DecodeSeen(t, body)
	if seen.Method != "POST" {
		t.Errorf("method %s", seen.Method)
	}
	if _, ok := seen.Header["X-Drop"]; ok {
		t.Errorf("X-Drop not removed")
	}
	if strings.Join(seen.Header["X-New"], "") != "v" || len(seen.Header["X-Old"]) != 0 {
		t.Errorf("rename: %v", seen.Header)
	}
	if strings.Join(seen.Header["X-Item"], "") != "42" {
		t.Errorf("template from capture: %v", seen.Header["X-Item"])
	}
	if strings.Join(seen.Header["X-Multi"], ",") != "one,two" {
		t.Errorf("append: %v", seen.Header["X-Multi"])
	}
	for _, p := range []string{"mode=replaced", "keep=1", "added=yes"} {
		if !strings.Contains(seen.Query, p) {
			t.Errorf("query %q lacks %s", seen.Query, p)
		}
	}
	if strings.Contains(seen.Query, "drop=") {
		t.Errorf("query %q still has drop", seen.Query)
	}
}
