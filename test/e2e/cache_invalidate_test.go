package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

const (
	invRouteID  = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c01"
	invRoute2ID = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c02"
	invPluginID = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c11"
)

// invalidateConfig: two cached routes in the default memory dictionary,
// and /purge exposing the invalidation behind key-auth. REDIS is replaced
// by the redis settings of the purge bus (or nothing).
const invalidateConfig = `
_format_version: "3.0"
consumers:
- username: ops
  keyauth_credentials: [{key: ops-key}]
services:
- name: origin
  url: %[1]s
  routes:
  - name: inv
    id: ` + invRouteID + `
    paths: [/inv]
    plugins:
    - name: proxy-cache
      id: ` + invPluginID + `
      config: {strategy: memory%[2]s}
  - name: inv2
    id: ` + invRoute2ID + `
    paths: [/inv2]
    plugins:
    - name: proxy-cache
      config: {strategy: memory%[2]s}
  - name: purge
    paths: [/purge]
    plugins:
    - name: key-auth
    - name: proxy-cache-invalidate
      config: {%[3]s}
`

func startInvalidateGateway(t *testing.T, o *cacheOrigin, redisPort int) *gwtest.Gateway {
	t.Helper()
	redis, inv := "", ""
	if redisPort != 0 {
		redis = fmt.Sprintf(", redis: {host: 127.0.0.1, port: %d}", redisPort)
		inv = fmt.Sprintf("redis: {host: 127.0.0.1, port: %d}", redisPort)
	}
	return gwtest.Start(t, fmt.Sprintf(invalidateConfig, o.URL, redis, inv), gwtest.Options{})
}

// warm GETs each path twice (Miss, then Hit) and returns their cache keys.
func warm(t *testing.T, gw *gwtest.Gateway, paths ...string) map[string]string {
	t.Helper()
	keys := map[string]string{}
	for _, p := range paths {
		r := cacheGet(t, gw.URL+p)
		if r.status != 200 || (r.cache != "Miss" && r.cache != "Refresh") || r.key == "" {
			t.Fatalf("warming %s: %d X-Cache-Status %q X-Cache-Key %q, want 200 Miss with a key", p, r.status, r.cache, r.key)
		}
		stored(t, gw, r.key)
		wantCache(t, "warming "+p+" again", cacheGet(t, gw.URL+p), 200, "Hit", r.body)
		keys[p] = r.key
	}
	return keys
}

// wantStates checks each path's X-Cache-Status (Hit: still cached, Miss:
// invalidated).
func wantStates(t *testing.T, gw *gwtest.Gateway, what string, states map[string]string) {
	t.Helper()
	for p, want := range states {
		r := cacheGet(t, gw.URL+p)
		if r.cache != want {
			t.Errorf("%s: %s is %q, want %q", what, p, r.cache, want)
		}
		if r.cache == "Miss" {
			stored(t, gw, r.key)
		}
	}
}

func wantInvalidated(t *testing.T, gw *gwtest.Gateway, body string, want int) {
	t.Helper()
	st, n, text := invalidate(t, gw.AdminURL+"/cache/invalidate", body)
	if st != 200 || n != want {
		t.Fatalf("POST /cache/invalidate %s: %d %s, want 200 {\"invalidated\": %d}", body, st, text, want)
	}
}

var invPaths = []string{"/inv/users/1", "/inv/users/2", "/inv/products/1", "/inv2/users/1"}

// TestCacheInvalidateAdmin: POST /cache/invalidate by pattern, key, route
// (name and id), tag (Surrogate-Key) and all removes exactly the entries
// it names and says how many.
func TestCacheInvalidateAdmin(t *testing.T) {
	o := startCacheOrigin(t)
	o.setTag("/users/1", "user-1 users")
	o.setTag("/users/2", "user-2 users")
	o.setTag("/products/1", "products")
	gw := startInvalidateGateway(t, o, 0)

	warm(t, gw, invPaths...)
	wantInvalidated(t, gw, `{"pattern": "/inv/users/*"}`, 2)
	// Each Miss below stores its path again: all four are cached after it.
	wantStates(t, gw, "after pattern /inv/users/*", map[string]string{
		"/inv/products/1": "Hit", "/inv2/users/1": "Hit", "/inv/users/1": "Miss", "/inv/users/2": "Miss"})

	b, _ := json.Marshal(map[string]string{"key": cacheGet(t, gw.URL+"/inv/products/1").key})
	wantInvalidated(t, gw, string(b), 1)
	wantStates(t, gw, "after key", map[string]string{"/inv/products/1": "Miss", "/inv2/users/1": "Hit", "/inv/users/1": "Hit"})

	wantInvalidated(t, gw, `{"route": "inv2"}`, 1)
	wantStates(t, gw, "after route inv2", map[string]string{"/inv2/users/1": "Miss", "/inv/users/1": "Hit"})
	wantInvalidated(t, gw, `{"route": "`+invRouteID+`"}`, 3)
	wantStates(t, gw, "after route by id", map[string]string{
		"/inv/users/1": "Miss", "/inv/users/2": "Miss", "/inv/products/1": "Miss", "/inv2/users/1": "Hit"})

	wantInvalidated(t, gw, `{"tag": "user-2"}`, 1)
	wantStates(t, gw, "after tag user-2", map[string]string{"/inv/users/2": "Miss", "/inv/users/1": "Hit"})
	// "users" tags /inv/users/1, /inv/users/2 and /inv2/users/1.
	wantInvalidated(t, gw, `{"tag": "users"}`, 3)
	wantStates(t, gw, "after tag users", map[string]string{"/inv/products/1": "Hit", "/inv2/users/1": "Miss"})

	wantInvalidated(t, gw, `{"all": true}`, 2)
	wantStates(t, gw, "after all", map[string]string{"/inv/products/1": "Miss", "/inv2/users/1": "Miss"})
}

// TestCacheInvalidateKongAdmin: Kong's GET/DELETE /proxy-cache/{key},
// DELETE /proxy-cache and /proxy-cache/{plugin_id}/caches/{key}.
func TestCacheInvalidateKongAdmin(t *testing.T) {
	o := startCacheOrigin(t)
	gw := startInvalidateGateway(t, o, 0)
	keys := warm(t, gw, "/inv/a", "/inv/b", "/inv2/c")
	ka := url.PathEscape(keys["/inv/a"])

	if st, body := adminDo(t, gw, "GET", "/proxy-cache/"+ka, ""); st != 200 || !json.Valid([]byte(body)) {
		t.Fatalf("GET /proxy-cache/{key}: %d %q, want 200 with the entry as JSON", st, body)
	}
	if st, body := adminDo(t, gw, "GET", "/proxy-cache/"+invPluginID+"/caches/"+ka, ""); st != 200 || !json.Valid([]byte(body)) {
		t.Fatalf("GET /proxy-cache/{plugin}/caches/{key}: %d %q, want 200 with the entry as JSON", st, body)
	}
	if st, body := adminDo(t, gw, "DELETE", "/proxy-cache/"+ka, ""); st != 204 {
		t.Fatalf("DELETE /proxy-cache/{key}: %d %q, want 204", st, body)
	}
	for _, p := range []string{"/proxy-cache/" + ka, "/proxy-cache/" + invPluginID + "/caches/" + ka} {
		if st, body := adminDo(t, gw, "GET", p, ""); st != 404 || !notFound(body) {
			t.Fatalf("GET %s after the delete: %d %q, want 404 {\"message\":\"Not found\"}", p, st, body)
		}
	}
	wantStates(t, gw, "after DELETE /proxy-cache/{key}", map[string]string{"/inv/a": "Miss", "/inv/b": "Hit"})

	kb := url.PathEscape(keys["/inv/b"])
	if st, body := adminDo(t, gw, "DELETE", "/proxy-cache/"+invPluginID+"/caches/"+kb, ""); st != 204 {
		t.Fatalf("DELETE /proxy-cache/{plugin}/caches/{key}: %d %q, want 204", st, body)
	}
	if st, _ := adminDo(t, gw, "DELETE", "/proxy-cache/"+invPluginID+"/caches/"+kb, ""); st != 404 {
		t.Fatalf("DELETE of a deleted key: %d, want 404", st)
	}
	wantStates(t, gw, "after DELETE /proxy-cache/{plugin}/caches/{key}", map[string]string{"/inv/b": "Miss", "/inv2/c": "Hit"})

	if st, body := adminDo(t, gw, "DELETE", "/proxy-cache", ""); st != 204 {
		t.Fatalf("DELETE /proxy-cache: %d %q, want 204", st, body)
	}
	wantStates(t, gw, "after DELETE /proxy-cache", map[string]string{"/inv/a": "Miss", "/inv2/c": "Miss"})
}

// TestCacheInvalidateRouteBehindKeyAuth: proxy-cache-invalidate on a
// route answers the same POST as the admin API, behind the route's own
// key-auth.
func TestCacheInvalidateRouteBehindKeyAuth(t *testing.T) {
	o := startCacheOrigin(t)
	gw := startInvalidateGateway(t, o, 0)
	warm(t, gw, "/inv/users/1", "/inv/products/1")

	if st, _, text := invalidate(t, gw.URL+"/purge", `{"pattern": "/inv/*"}`); st != 401 {
		t.Fatalf("POST /purge without a key: %d %s, want 401", st, text)
	}
	if st, _, text := invalidate(t, gw.URL+"/purge", `{"pattern": "/inv/*"}`, "apikey", "wrong"); st != 401 {
		t.Fatalf("POST /purge with a wrong key: %d %s, want 401", st, text)
	}
	wantStates(t, gw, "after refused purges", map[string]string{"/inv/users/1": "Hit", "/inv/products/1": "Hit"})
	st, n, text := invalidate(t, gw.URL+"/purge", `{"pattern": "/inv/users/*"}`, "apikey", "ops-key")
	if st != 200 || n != 1 {
		t.Fatalf("POST /purge with the key: %d %s, want 200 {\"invalidated\": 1}", st, text)
	}
	if got := o.Hits("/purge"); got != 0 {
		t.Errorf("the purge reached the upstream %d times", got)
	}
	wantStates(t, gw, "after the purge", map[string]string{"/inv/users/1": "Miss", "/inv/products/1": "Hit"})
}

// TestCacheInvalidateReachesOtherNodes: two gateways with memory caches
// and redis settings; a purge on one reaches the other's memory through
// the purge bus.
func TestCacheInvalidateReachesOtherNodes(t *testing.T) {
	o := startCacheOrigin(t)
	rd := gwtest.StartRedis(t)
	g1 := startInvalidateGateway(t, o, rd.Port)
	g2 := startInvalidateGateway(t, o, rd.Port)
	warm(t, g1, "/inv/users/1", "/inv/products/1")
	keys := warm(t, g2, "/inv/users/1", "/inv/products/1")

	wantInvalidated(t, g1, `{"pattern": "/inv/users/*"}`, 1)
	k := url.PathEscape(keys["/inv/users/1"])
	gone := eventually(5*time.Second, func() bool {
		st, _ := adminDo(t, g2, "GET", "/proxy-cache/"+k, "")
		return st == 404
	})
	if !gone {
		t.Fatal("g2 still holds the entry purged on g1 after 5 s")
	}
	wantStates(t, g2, "g2 after the purge on g1", map[string]string{"/inv/users/1": "Miss", "/inv/products/1": "Hit"})

	// Kong's DELETE travels too.
	k = url.PathEscape(keys["/inv/products/1"])
	if st, _ := adminDo(t, g1, "DELETE", "/proxy-cache/"+k, ""); st != 204 {
		t.Fatalf("DELETE /proxy-cache/{key} on g1: %d, want 204", st)
	}
	if !eventually(5*time.Second, func() bool { st, _ := adminDo(t, g2, "GET", "/proxy-cache/"+k, ""); return st == 404 }) {
		t.Fatal("g2 still holds the entry deleted on g1 after 5 s")
	}
}

// notFound tells Kong's admin 404 body, {"message":"Not found"}.
func notFound(body string) bool {
	return kongMessage(body) == "Not found"
}

// invalidate POSTs body to url (an admin /cache/invalidate or a route
// with proxy-cache-invalidate) and returns the status, the invalidated
// count (-1 when absent) and the body.
func invalidate(t *testing.T, url, body string, header ...string) (int, int, string) {
	t.Helper()
	resp, text := gwtest.Do(t, gwtest.NewRequest(t, http.MethodPost, url, body, append([]string{"Content-Type", "application/json"}, header...)...))
	var out struct {
		Invalidated *int `json:"invalidated"`
	}
	n := -1
	if json.Unmarshal([]byte(text), &out) == nil && out.Invalidated != nil {
		n = *out.Invalidated
	}
	return resp.StatusCode, n, text
}
