package admin

import (
	"net/http"
	"net/url"
	"testing"
)

func TestAdminExplain(t *testing.T) {
	f := newFixture(t, `
_format_version: "3.0"
services:
- name: users
  url: http://users.internal:8080/api
  routes:
  - name: v1-users
    paths: [/v1/users]
  - name: catch-all
    paths: [/]
routes:
- name: tenant
  paths: [/v1/users]
  headers: {X-Tenant-Id: [t1]}
  url: http://tenant.internal
`, nil)
	body := f.get("/explain?method=GET&url=" + url.QueryEscape("http://api.example.com/v1/users/7?x=1") + "&header=X-Tenant-Id:t1")
	if routeOf(body) != "tenant" {
		t.Fatalf("matched %v", body["matched"])
	}
	up, _ := body["upstream"].(map[string]any)
	if up["url"] != "http://tenant.internal/7?x=1" {
		t.Errorf("upstream %v", up)
	}
	if cands, _ := body["candidates"].([]any); len(cands) != 2 {
		t.Errorf("candidates %v", body["candidates"])
	}
	body = f.get("/explain?url=" + url.QueryEscape("http://api.example.com/v1/users/7"))
	if routeOf(body) != "v1-users" {
		t.Errorf("without the header: %v", body["matched"])
	}
	if code, _, _ := f.do(http.MethodGet, "/explain", ""); code != http.StatusBadRequest {
		t.Errorf("no url: %d", code)
	}
	if code, _, _ := f.do(http.MethodGet, "/explain?url=/x&header=nocolon", ""); code != http.StatusBadRequest {
		t.Errorf("bad header: %d", code)
	}
}

func routeOf(report map[string]any) any {
	m, _ := report["matched"].(map[string]any)
	r, _ := m["route"].(map[string]any)
	return r["name"]
}
