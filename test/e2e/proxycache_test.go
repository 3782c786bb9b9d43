package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// cacheUpstream is a real upstream that counts the requests reaching it
// and answers each with the count, so a test tells a hit (the old count)
// from a pass (a new one). The path picks the response's extra headers.
func cacheUpstream(t *testing.T) (string, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/cookie"):
			h.Set("Set-Cookie", "session=s"+fmt.Sprint(i))
		case strings.HasSuffix(r.URL.Path, "/private"):
			h.Set("Cache-Control", "private, max-age=60")
		case strings.HasSuffix(r.URL.Path, "/html"):
			h.Set("Content-Type", "text/html")
		}
		fmt.Fprintf(w, `{"n":%d,"user":%q}`, i, r.Header.Get("X-Consumer-Username"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

const proxyCacheConfig = `
_format_version: "3.0"
consumers:
- username: alice
  keyauth_credentials: [{key: alice-key}]
- username: bob
  keyauth_credentials: [{key: bob-key}]
services:
- name: api
  url: UPSTREAM
  routes: [{name: api, paths: [/api]}]
  plugins:
  - name: proxy-cache
    config: {strategy: memory, cache_ttl: 1, vary_query_params: [page], vary_headers: [X-Lang]}
- name: guide
  url: UPSTREAM
  routes: [{name: guide, paths: [/guide]}]
  plugins:
  - name: response-cache
    config: {cache_control: {enabled: true}, cache_ttl: 300}
- name: purge
  url: UPSTREAM
  routes: [{name: purge, paths: [/purge]}]
  plugins:
  - name: key-auth
  - name: proxy-cache-invalidate
- name: auth
  url: UPSTREAM
  routes: [{name: auth, paths: [/auth]}]
  plugins:
  - name: key-auth
  - name: rate-limiting
    config: {hour: 2, limit_by: consumer, policy: local}
  - name: proxy-cache
    config: {strategy: memory}
`

func startCacheGateway(t *testing.T) (*gwtest.Gateway, *atomic.Int64) {
	up, n := cacheUpstream(t)
	return gwtest.Start(t, strings.ReplaceAll(proxyCacheConfig, "UPSTREAM", up), gwtest.Options{}), n
}

func cacheStatus(t *testing.T, g *gwtest.Gateway, method, path string, header ...string) (status, body string) {
	t.Helper()
	resp, b := gwtest.Do(t, gwtest.NewRequest(t, method, g.URL+path, "", header...))
	return resp.Header.Get("X-Cache-Status"), b
}

func TestProxyCacheMissHitAndExpiry(t *testing.T) {
	g, n := startCacheGateway(t)
	if s, b := cacheStatus(t, g, "GET", "/api/items?page=1"); s != "Miss" || b != `{"n":1,"user":""}` {
		t.Fatalf("first: %s %s", s, b)
	}
	resp, b := g.Get("/api/items?page=1&ignored=x")
	if resp.Header.Get("X-Cache-Status") != "Hit" || b != `{"n":1,"user":""}` || resp.Header.Get("Age") == "" ||
		len(resp.Header.Get("X-Cache-Key")) != 64 {
		t.Fatalf("second: %v %s", resp.Header, b)
	}
	if s, b := cacheStatus(t, g, "HEAD", "/api/items?page=1"); s != "Hit" || b != "" {
		t.Fatalf("HEAD: %s %q", s, b)
	}
	if s, _ := cacheStatus(t, g, "GET", "/api/items?page=2"); s != "Miss" {
		t.Fatalf("vary_query_params: %s", s)
	}
	if s, _ := cacheStatus(t, g, "GET", "/api/items?page=1", "X-Lang", "fr"); s != "Miss" {
		t.Fatalf("vary_headers: %s", s)
	}
	if s, _ := cacheStatus(t, g, "GET", "/api/items?page=1", "X-Lang", "fr"); s != "Hit" {
		t.Fatalf("vary_headers again: %s", s)
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("upstream saw %d requests, want 3", got)
	}
	// Past cache_ttl the entry is gone (no storage_ttl keeps it, as in
	// Kong): a Miss.
	time.Sleep(1100 * time.Millisecond)
	if s, b := cacheStatus(t, g, "GET", "/api/items?page=1"); s != "Miss" || b != `{"n":4,"user":""}` {
		t.Fatalf("after cache_ttl: %s %s", s, b)
	}
}

func TestProxyCacheBypassAndIsolation(t *testing.T) {
	g, n := startCacheGateway(t)
	for _, path := range []string{"/api/html", "/api/cookie", "/api/private", "/guide/private"} {
		cacheStatus(t, g, "GET", path)
		if s, _ := cacheStatus(t, g, "GET", path); s != "Bypass" {
			t.Errorf("%s: %s, want Bypass", path, s)
		}
	}
	// Authorization with no consumer authenticated: never stored.
	_, first := cacheStatus(t, g, "GET", "/api/me", "Authorization", "Bearer alice")
	if s, b := cacheStatus(t, g, "GET", "/api/me", "Authorization", "Bearer bob"); s != "Bypass" || b == first {
		t.Fatalf("authorization: %s %s (first %s)", s, b, first)
	}
	// Authenticated consumers each get their own entry.
	before := n.Load()
	_, alice := cacheStatus(t, g, "GET", "/auth/me", "apikey", "alice-key")
	s, bob := cacheStatus(t, g, "GET", "/auth/me", "apikey", "bob-key")
	if s != "Miss" || bob == alice || !strings.Contains(bob, `"user":"bob"`) {
		t.Fatalf("bob: %s %s (alice %s)", s, bob, alice)
	}
	if s, again := cacheStatus(t, g, "GET", "/auth/me", "apikey", "alice-key"); s != "Hit" || again != alice {
		t.Fatalf("alice again: %s %s, want %s", s, again, alice)
	}
	// The route's other access plugins run before a hit: alice's third
	// request is over her limit of 2 an hour, and is refused, not served
	// from the cache.
	req, _ := http.NewRequest("GET", g.URL+"/auth/me", nil)
	req.Header.Set("apikey", "alice-key")
	if resp, body := gwtest.Do(t, req); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("X-Cache-Status") != "" {
		t.Fatalf("alice over her limit: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	req, _ = http.NewRequest("GET", g.URL+"/auth/me", nil)
	if resp, _ := gwtest.Do(t, req); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no key: %d", resp.StatusCode)
	}
	if got := n.Load() - before; got != 2 {
		t.Fatalf("upstream saw %d authenticated requests, want 2", got)
	}
}

func TestResponseCacheGuideShape(t *testing.T) {
	g, _ := startCacheGateway(t)
	cacheStatus(t, g, "GET", "/guide/list")
	if s, _ := cacheStatus(t, g, "GET", "/guide/list"); s != "Hit" {
		t.Fatalf("second: %s", s)
	}
	if s, _ := cacheStatus(t, g, "GET", "/guide/list", "Cache-Control", "no-cache"); s != "Refresh" {
		t.Fatalf("no-cache: %s", s)
	}
}

func adminDo(t *testing.T, g *gwtest.Gateway, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, g.AdminURL+path, bytes.NewBufferString(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, b := gwtest.Do(t, req)
	return resp.StatusCode, strings.TrimSpace(b)
}

func TestProxyCacheAdminAndInvalidate(t *testing.T) {
	g, _ := startCacheGateway(t)
	for _, p := range []string{"/guide/users/1", "/guide/users/2", "/guide/orders/1"} {
		cacheStatus(t, g, "GET", p)
	}
	resp, _ := g.Get("/guide/orders/1")
	key := resp.Header.Get("X-Cache-Key")
	if code, b := adminDo(t, g, "GET", "/proxy-cache/"+key, ""); code != 200 || !strings.Contains(b, `"status":200`) {
		t.Fatalf("GET entry: %d %s", code, b)
	}
	if code, b := adminDo(t, g, "GET", "/proxy-cache/nope", ""); code != 404 || !strings.Contains(b, `"Not found"`) {
		t.Fatalf("GET missing: %d %s", code, b)
	}
	if code, b := adminDo(t, g, "POST", "/cache/invalidate", `{"pattern": "/guide/users/*"}`); code != 200 || b != `{"invalidated":2}` {
		t.Fatalf("invalidate: %d %s", code, b)
	}
	if s, _ := cacheStatus(t, g, "GET", "/guide/users/1"); s != "Miss" {
		t.Fatalf("after invalidate: %s", s)
	}
	if s, _ := cacheStatus(t, g, "GET", "/guide/orders/1"); s != "Hit" {
		t.Fatalf("other path after invalidate: %s", s)
	}
	for _, bad := range []string{`{}`, `{"pattern": "/a", "tag": "x"}`, `{"all": false}`, `nope`, `{"pattern": ""}`} {
		if code, _ := adminDo(t, g, "POST", "/cache/invalidate", bad); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
	if code, _ := adminDo(t, g, "DELETE", "/proxy-cache/"+key, ""); code != 204 {
		t.Fatalf("DELETE entry: %d", code)
	}
	if s, _ := cacheStatus(t, g, "GET", "/guide/orders/1"); s != "Miss" {
		t.Fatalf("after DELETE: %s", s)
	}
	// The route's own invalidation, behind key-auth.
	post := func(header ...string) (int, string) {
		resp, b := gwtest.Do(t, gwtest.NewRequest(t, http.MethodPost, g.URL+"/purge", `{"route": "guide"}`, header...))
		return resp.StatusCode, strings.TrimSpace(b)
	}
	if code, _ := post(); code != 401 {
		t.Fatalf("purge without key: %d", code)
	}
	if code, b := post("apikey", "alice-key"); code != 200 || b != `{"invalidated":2}` {
		t.Fatalf("purge by route name: %d %s", code, b)
	}
	if code, _ := adminDo(t, g, "DELETE", "/proxy-cache", ""); code != 204 {
		t.Fatalf("DELETE all: %d", code)
	}
}

// TestProxyCacheAnonymousAuthorizationIsPrivate: key-auth with an
// anonymous consumer lets a request through whose Authorization the
// gateway did not check; its response is never stored nor served to
// other anonymous clients.
func TestProxyCacheAnonymousAuthorizationIsPrivate(t *testing.T) {
	up, n := cacheUpstream(t)
	cfg := `
_format_version: "3.0"
consumers:
- username: anon
services:
- name: open
  url: ` + up + `
  routes: [{name: open, paths: [/open]}]
  plugins:
  - name: key-auth
    config: {anonymous: anon}
  - name: proxy-cache
    config: {strategy: memory}
`
	g := gwtest.Start(t, cfg, gwtest.Options{})
	if s, b := cacheStatus(t, g, "GET", "/open/me", "Authorization", "Bearer alice-upstream-token"); s != "Bypass" || b != `{"n":1,"user":"anon"}` {
		t.Fatalf("with Authorization: %s %s", s, b)
	}
	if s, b := cacheStatus(t, g, "GET", "/open/me"); s != "Miss" || b != `{"n":2,"user":"anon"}` {
		t.Fatalf("another anonymous client: %s %s", s, b)
	}
	if s, b := cacheStatus(t, g, "GET", "/open/me", "Authorization", "Bearer bob"); s != "Bypass" || b != `{"n":3,"user":"anon"}` {
		t.Fatalf("a stored anonymous entry served to Authorization: %s %s", s, b)
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("upstream saw %d", got)
	}
}

// TestProxyCacheTooManyArgs: a query with more arguments than the key
// reads bypasses, so it cannot poison the entry of a shorter query.
func TestProxyCacheTooManyArgs(t *testing.T) {
	g, _ := startCacheGateway(t)
	long := "/api/list?" + strings.Repeat("x&", 100) + "page=999"
	if s, _ := cacheStatus(t, g, "GET", long); s != "Bypass" {
		t.Fatalf("long query: %s", s)
	}
	if s, b := cacheStatus(t, g, "GET", "/api/list?sort=asc"); s != "Miss" || b != `{"n":2,"user":""}` {
		t.Fatalf("short query after a long one: %s %s", s, b)
	}
}
