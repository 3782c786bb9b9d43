package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// staleConfig has two routes to one origin with one-second entries:
// /stale serves a stale entry on every upstream failure NGINX's
// proxy_cache_use_stale names, /plain has no use_stale.
const staleConfig = `
_format_version: "3.0"
services:
- name: origin
  url: %s
  retries: 0
  read_timeout: 300
  routes:
  - name: stale
    paths: [/stale]
    plugins:
    - name: proxy-cache
      config:
        strategy: memory
        cache_ttl: 1
        use_stale: [error, timeout, http_500, http_502, http_503, http_504]
  - name: plain
    paths: [/plain]
    plugins:
    - name: proxy-cache
      config: {strategy: memory, cache_ttl: 1}
`

// TestCacheStaleOnUpstreamFailure: once an entry has expired, an upstream
// that is down, answers 500/502/503 or times out gets the stale entry
// served (X-Cache-Status: Stale) on a route with use_stale, and the
// error on a route without it.
func TestCacheStaleOnUpstreamFailure(t *testing.T) {
	cases := []struct {
		name      string
		fail      func(o *cacheOrigin)
		wantPlain int
		reaches   bool // the failing request reaches the origin
	}{
		{"down", func(o *cacheOrigin) { o.Close() }, 502, false},
		{"500", func(o *cacheOrigin) { o.setMode(origin500) }, 500, true},
		{"502", func(o *cacheOrigin) { o.setMode(origin502) }, 502, true},
		{"503", func(o *cacheOrigin) { o.setMode(origin503) }, 503, true},
		{"timeout", func(o *cacheOrigin) { o.setMode(originSlow) }, 504, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := startCacheOrigin(t)
			gw := gwtest.Start(t, fmt.Sprintf(staleConfig, o.URL), gwtest.Options{})
			first := map[string]string{}
			for _, route := range []string{"/stale", "/plain"} {
				r := cacheGet(t, gw.URL+route+"/x")
				wantCache(t, route+" first", r, 200, "Miss", "")
				first[route] = r.body
				stored(t, gw, r.key)
				wantCache(t, route+" second", cacheGet(t, gw.URL+route+"/x"), 200, "Hit", r.body)
			}
			time.Sleep(2100 * time.Millisecond) // past cache_ttl
			tc.fail(o)
			before := o.hits.Load()
			r := cacheGet(t, gw.URL+"/stale/x")
			wantCache(t, "/stale after the upstream failed", r, 200, "Stale", first["/stale"])
			if got := o.hits.Load() - before; tc.reaches && got != 1 {
				t.Errorf("the stale request reached the origin %d times, want 1 (a stale entry is served only after the upstream was tried)", got)
			}
			p := cacheGet(t, gw.URL+"/plain/x")
			if p.status != tc.wantPlain || p.body == first["/plain"] {
				t.Fatalf("/plain without use_stale: got %d %q (X-Cache-Status %q), want the upstream's error %d", p.status, p.body, p.cache, tc.wantPlain)
			}
		})
	}
}
