package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/gwtest/gokong"
)

// TestSchemasDecKRoundTrip replays what decK does with the schemas on a
// running gateway: it fills the file's entities and plugin configs from
// GET /schemas/... (go-kong's code, ported) and compares them with what
// the admin API shows, as `deck gateway diff` does; the diff must be
// empty. Then it writes them back filled, as `deck gateway sync` does
// (PUT by id); the gateway accepts them, serves as before, and shows
// the same entities.
func TestSchemasDecKRoundTrip(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	cfg := fmt.Sprintf(`_format_version: "3.0"
services:
- name: echo
  url: %s
  routes:
  - name: r
    paths: [/r]
    plugins:
    - name: rate-limiting
      config: {minute: 5}
upstreams:
- name: pool
  targets: [{target: "127.0.0.1:9"}]
plugins:
- name: cors
- name: proxy-cache
  config: {strategy: memory}
`, up.URL)
	gw := gwtest.Start(t, cfg, gwtest.Options{Args: []string{"--config-store", "file"}})
	get := func(path string) map[string]any {
		t.Helper()
		code, body := getJSON(t, gw.AdminURL+path)
		if code != 200 {
			t.Fatalf("GET %s: %d %v", path, code, body)
		}
		return body
	}
	// The file's entities as decK reads them: the url split up.
	port := json.Number(up.Port())
	file := []struct {
		kind, path string
		entity     map[string]any
	}{
		{"services", "/services/echo", map[string]any{"name": "echo", "protocol": "http", "host": "127.0.0.1", "port": port}},
		{"routes", "/routes/r", map[string]any{"name": "r", "paths": []any{"/r"}}},
		{"upstreams", "/upstreams/pool", map[string]any{"name": "pool"}},
		{"targets", "/upstreams/pool/targets/127.0.0.1:9", map[string]any{"target": "127.0.0.1:9"}},
	}
	for _, e := range file {
		filled := gokong.FillEntity(get("/schemas/"+e.kind), gokong.DeepCopy(e.entity))
		current := get(e.path)
		for k, v := range filled {
			if !sameJSON(v, current[k]) {
				t.Errorf("diff %s.%s: file (filled) %s, gateway %s", e.kind, k, gokong.JSON(v), gokong.JSON(current[k]))
			}
		}
		// The write decK's sync makes for an update: PUT by id, the
		// filled entity with its foreign keys.
		for _, fk := range []string{"service", "upstream"} {
			if current[fk] != nil {
				filled[fk] = current[fk]
			}
		}
		path := "/" + e.kind + "/" + current["id"].(string)
		if e.kind == "targets" {
			path = "/upstreams/pool/targets/" + current["id"].(string)
		}
		if code, body := adminCall(t, gw, http.MethodPut, path, gokong.JSON(filled), "Content-Type", "application/json"); code != 200 {
			t.Errorf("PUT %s %s: %d %v", path, gokong.JSON(filled), code, body)
		}
		if after := get(e.path); !sameJSON(dropStamps(after), dropStamps(current)) {
			t.Errorf("%s changed by the sync:\nbefore %s\nafter  %s", e.kind, gokong.JSON(current), gokong.JSON(after))
		}
	}
	files := map[string]map[string]any{"rate-limiting": {"minute": 5}, "cors": {}, "proxy-cache": {"strategy": "memory"}}
	for _, p := range get("/plugins")["data"].([]any) {
		current := p.(map[string]any)
		name := current["name"].(string)
		filled := gokong.FillPlugin(get("/schemas/plugins/"+name), gokong.DeepCopy(files[name]))
		// GDR compares the configs with reflect.DeepEqual, which on
		// decoded JSON is sameJSON.
		if !sameJSON(filled, current["config"]) {
			t.Errorf("diff %s: file (filled) %s\ngateway %s", name, gokong.JSON(filled), gokong.JSON(current["config"]))
		}
		body := map[string]any{"name": name, "config": filled, "enabled": true, "protocols": current["protocols"]}
		for _, fk := range []string{"service", "route", "consumer"} {
			if current[fk] != nil {
				body[fk] = current[fk]
			}
		}
		if code, out := adminCall(t, gw, http.MethodPut, "/plugins/"+current["id"].(string), gokong.JSON(body), "Content-Type", "application/json"); code != 200 {
			t.Errorf("PUT /plugins/%s (%s): %d %v", current["id"], name, code, out)
		}
	}
	for _, p := range get("/plugins")["data"].([]any) {
		pm := p.(map[string]any)
		if name := pm["name"].(string); !sameJSON(pm["config"], gokong.FillPlugin(get("/schemas/plugins/"+name), gokong.DeepCopy(files[name]))) {
			t.Errorf("%s's config changed by the sync: %s", name, gokong.JSON(pm["config"]))
		}
	}
	// Still limited at 5 a minute: the filled config means the same.
	resp, _ := gw.Get("/r/x")
	if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Limit-Minute") != "5" {
		t.Errorf("GET /r/x after the sync: %d, X-RateLimit-Limit-Minute %q", resp.StatusCode, resp.Header.Get("X-RateLimit-Limit-Minute"))
	}
}

// dropStamps is an entity without updated_at, which a write changes.
func dropStamps(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != "updated_at" {
			out[k] = v
		}
	}
	return out
}
