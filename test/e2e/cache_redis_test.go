package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// redisCacheConfig: the route has a fixed id so that both gateways compute
// the same default (route-scoped) cache key.
const redisCacheConfig = `
_format_version: "3.0"
services:
- name: origin
  url: %s
  routes:
  - name: shared
    id: 0f3c2b1a-5d6e-4f70-8a9b-0c1d2e3f4a01
    paths: [/r]
    plugins:
    - name: proxy-cache
      config:
        strategy: redis
        redis: {host: 127.0.0.1, port: %d, connect_timeout: 200, read_timeout: 200, send_timeout: 200}
`

// TestCacheRedisSharedAndDown: two gateways on one redis-server share
// entries (a Miss on one is a Hit on the other); with Redis killed,
// requests are still answered by the upstream (never a 5xx) and
// turnpike_cache_store_errors_total{strategy="redis"} grows; once Redis is
// back, caching resumes.
func TestCacheRedisSharedAndDown(t *testing.T) {
	o := startCacheOrigin(t)
	rd := gwtest.StartRedis(t)
	cfg := fmt.Sprintf(redisCacheConfig, o.URL, rd.Port)
	g1 := gwtest.Start(t, cfg, gwtest.Options{})
	g2 := gwtest.Start(t, cfg, gwtest.Options{})

	m := cacheGet(t, g1.URL+"/r/a")
	wantCache(t, "g1 first", m, 200, "Miss", "/a #1")
	stored(t, g1, m.key)
	wantCache(t, "g2 after g1 stored", cacheGet(t, g2.URL+"/r/a"), 200, "Hit", "/a #1")
	if got := o.Hits("/a"); got != 1 {
		t.Fatalf("the upstream saw /a %d times, want 1", got)
	}

	errsBefore := metricValue(t, g1, "turnpike_cache_store_errors_total", "strategy", "redis")
	rd.Stop()
	for i := range 5 {
		path := fmt.Sprintf("/down%d", i)
		r := cacheGet(t, g1.URL+"/r"+path)
		if r.status != 200 || r.body != path+" #"+fmt.Sprint(o.hits.Load()) {
			t.Fatalf("with Redis down, GET %s: %d %q (X-Cache-Status %q), want the upstream's 200", path, r.status, r.body, r.cache)
		}
		if r.cache == "Hit" {
			t.Fatalf("with Redis down, GET %s was a Hit", path)
		}
	}
	// The entry stored before Redis died is gone with it: g2 answers from
	// the upstream, not with an error.
	if r := cacheGet(t, g2.URL+"/r/a"); r.status != 200 || r.body == "/a #1" {
		t.Fatalf("g2 with Redis down: %d %q (X-Cache-Status %q), want the upstream's fresh 200", r.status, r.body, r.cache)
	}
	if after := metricValue(t, g1, "turnpike_cache_store_errors_total", "strategy", "redis"); after <= errsBefore {
		t.Errorf("turnpike_cache_store_errors_total{strategy=\"redis\"} went from %v to %v with Redis down, want it to grow", errsBefore, after)
	}

	rd.Restart()
	i := 0
	resumed := eventually(20*time.Second, func() bool {
		i++
		path := fmt.Sprintf("/r/back%d", i)
		r := cacheGet(t, g1.URL+path)
		if r.status != 200 {
			t.Fatalf("GET %s after Redis came back: %d", path, r.status)
		}
		if r.cache != "Miss" || !isStored(g1, r.key, time.Second) {
			return false
		}
		return cacheGet(t, g2.URL+path).cache == "Hit"
	})
	if !resumed {
		t.Fatal("caching did not resume within 20 s of Redis coming back (no Hit on g2 for g1's entries)")
	}
}
