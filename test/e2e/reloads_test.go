package e2e

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// reloadHistory is a node's GET /reloads, newest first.
func reloadHistory(t *testing.T, gw *gwtest.Gateway) []map[string]any {
	t.Helper()
	data, _ := adminJSON(t, gw, "/reloads")["data"].([]any)
	out := make([]map[string]any, len(data))
	for i, e := range data {
		var ok bool
		if out[i], ok = e.(map[string]any); !ok {
			t.Fatalf("GET /reloads: entry %d is %v", i, e)
		}
	}
	return out
}

// In a cluster, each node's history names the store version every load
// applied and who stored it: the seed at start, then a POST /config made
// on the other node.
func TestReloadsNameStoreVersions(t *testing.T) {
	c := newClusterNet(t)
	c.startN(2)
	c.allServe("/b0", 5*time.Second)
	if code, body := adminCall(t, c.nodes[1], http.MethodPost, "/config", reloadConfig(c.up.URL, 1)); code != 201 {
		t.Fatalf("POST /config: %d %v", code, body)
	}
	c.allServe("/b1", 5*time.Second)
	for i, want := range [][]string{{"cluster", "startup"}, {"admin", "startup"}} {
		h := reloadHistory(t, c.nodes[i])
		if len(h) != 2 {
			t.Fatalf("node %d history: %v", i, h)
		}
		for j, e := range h {
			version, author := 2.0, "admin"
			if j == 1 {
				version, author = 1, "seed"
			}
			if e["trigger"] != want[j] || e["ok"] != true || e["store_version"] != version || e["store_author"] != author {
				t.Errorf("node %d entry %d: %v, want trigger %s, version %v by %s", i, j, e, want[j], version, author)
			}
		}
	}
	// A node started from the disk cache while Redis is down names the
	// cached version, with no writer (the cache does not keep one).
	cache := filepath.Join(t.TempDir(), "cache.yml")
	n := c.start(cache, "")
	waitUntil(t, "the third node serves /b1", func() bool { return serves(n, "/b1") })
	n.Stop()
	c.redis.Stop()
	n = c.start(cache, "")
	waitUntil(t, "the restarted node serves /b1 from its cache", func() bool { return serves(n, "/b1") })
	h := reloadHistory(t, n)
	if len(h) != 1 || h[0]["trigger"] != "startup" || h[0]["store_version"] != 2.0 || h[0]["store_author"] != nil {
		t.Errorf("history of a node started from its cache: %v", h)
	}
}
