package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/turnpikegw/turnpike/internal/gwtest"
)

const aggregateCacheConfig = `
_format_version: "3.0"
routes:
- name: dash
  id: 6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
  paths: ["~/dash/(?<id>[0-9]+)$"]
  plugins:
  - name: aggregate
    config:
      cache:
        strategy: redis
        redis: {host: 127.0.0.1, port: %d}
      calls:
      - name: recs
        url: %s/recs/{captures.id}
        group: recs
        cache_ttl: 60
      - name: user
        url: %s/users/{captures.id}
        group: user
`

// TestAggregateCacheAcrossNodes: two gateways on one redis-server; a slow
// call with a cache_ttl answered by one node is served from Redis by the
// other while the live call still goes out; the hit is no try and no
// retry; DELETE /aggregate/cache purges it.
func TestAggregateCacheAcrossNodes(t *testing.T) {
	const slowFor = 400 * time.Millisecond
	var slowHits, liveHits atomic.Int64
	backend := func(n *atomic.Int64, delay time.Duration, body string) string {
		return "http://" + startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			time.Sleep(delay)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, body)
		}))
	}
	slow := backend(&slowHits, slowFor, `{"items":[1,2]}`)
	live := backend(&liveHits, 0, `{"name":"ann"}`)
	rd := gwtest.StartRedis(t)
	cfg := fmt.Sprintf(aggregateCacheConfig, rd.Port, slow, live)
	g1 := gwtest.Start(t, cfg, gwtest.Options{})
	g2 := gwtest.Start(t, cfg, gwtest.Options{})

	get := func(g *gwtest.Gateway) (*http.Response, string, time.Duration) {
		t0 := time.Now()
		resp, body := g.Get("/dash/7")
		return resp, body, time.Since(t0)
	}
	resp, first, took := get(g1)
	if resp.StatusCode != 200 || took < slowFor || resp.Header.Get("X-Turnpike-Cache-Hits") != "" {
		t.Fatalf("g1: %d %s in %v, hits %q; want both calls live", resp.StatusCode, first, took, resp.Header.Get("X-Turnpike-Cache-Hits"))
	}
	// g1 stores the answer after it has answered (off the call's path):
	// wait for it to be in Redis before asking the other node.
	rc := redis.NewClient(&redis.Options{Addr: rd.Addr})
	t.Cleanup(func() { rc.Close() })
	waitUntil(t, "g1's cached call in Redis", func() bool {
		n, err := rc.DBSize(context.Background()).Result()
		return err == nil && n > 0
	})
	resp, second, took := get(g2)
	if resp.StatusCode != 200 || second != first || took >= slowFor/2 || resp.Header.Get("X-Turnpike-Cache-Hits") != "recs" {
		t.Fatalf("g2: %d %s in %v, hits %q; want recs from Redis", resp.StatusCode, second, took, resp.Header.Get("X-Turnpike-Cache-Hits"))
	}
	if slowHits.Load() != 1 || liveHits.Load() != 2 {
		t.Fatalf("backend requests: slow %d, live %d; want 1 and 2", slowHits.Load(), liveHits.Load())
	}
	line := g2.AccessLog(1)[0]
	tries, _ := line["tries"].([]any)
	if len(tries) != 1 || tries[0].(map[string]any)["call"] != "user" || line["upstream_status"] != float64(200) {
		t.Errorf("g2's access log: tries %v, upstream_status %v; want only the user call", line["tries"], line["upstream_status"])
	}
	_, metrics := gwtest.Do(t, gwtest.NewRequest(t, "GET", g1.AdminURL+"/metrics", ""))
	if regexp.MustCompile(`(?m)^turnpike_upstream_retries_total\{[^}]*\} [1-9]`).MatchString(metrics) {
		t.Errorf("an aggregation's calls were counted as retries")
	}

	resp, _ = gwtest.Do(t, gwtest.NewRequest(t, "DELETE", g1.AdminURL+"/aggregate/cache", ""))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /aggregate/cache: %d", resp.StatusCode)
	}
	if resp, _, took = get(g2); resp.Header.Get("X-Turnpike-Cache-Hits") != "" || took < slowFor || slowHits.Load() != 2 {
		t.Errorf("after the purge: %v, hits %q, slow backend %d; want recs live again", took, resp.Header.Get("X-Turnpike-Cache-Hits"), slowHits.Load())
	}
}
