package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// clusterNet is one redis-server and the gateways sharing their config
// through it.
type clusterNet struct {
	t     *testing.T
	redis *gwtest.Redis
	up    *gwtest.Echo
	nodes []*gwtest.Gateway
	// args are more flags for every node.
	args []string
}

func newClusterNet(t *testing.T) *clusterNet {
	return &clusterNet{t: t, redis: gwtest.StartRedis(t), up: gwtest.StartEcho(t, "a")}
}

// start runs a node caching its config in cache; seed, when not empty, is
// its -c file. The version poll is the default (2 s): a change reaching
// every node within a second came by the change messages.
func (c *clusterNet) start(cache, seed string, env ...string) *gwtest.Gateway {
	c.t.Helper()
	args := append([]string{"--config-store", "redis://" + c.redis.Addr + "/0", "--config-cache", cache,
		"--access-log", "off", "--cluster-heartbeat", "300ms"}, c.args...)
	return gwtest.Start(c.t, seed, gwtest.Options{Args: args, NoConfig: seed == "", Env: env})
}

// startN runs n nodes, the first seeding the store with variant 0.
func (c *clusterNet) startN(n int) {
	c.t.Helper()
	for i := range n {
		seed := ""
		if i == 0 {
			seed = reloadConfig(c.up.URL, 0)
		}
		c.nodes = append(c.nodes, c.start(filepath.Join(c.t.TempDir(), "cache.yml"), seed))
	}
}

// servesClient bounds each probe: a hung proxy (what TestClusterRedisHangs
// looks for) fails the probe in 2 s instead of blocking until the
// package's 600 s timeout.
var servesClient = &http.Client{Timeout: 2 * time.Second}

func serves(gw *gwtest.Gateway, path string) bool {
	resp, err := servesClient.Get(gw.URL + path)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200
}

// allServe waits until every node serves path, and returns how long it took.
func (c *clusterNet) allServe(path string, within time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	for {
		all := true
		for _, n := range c.nodes {
			all = all && serves(n, path)
		}
		if all {
			return time.Since(start)
		}
		if time.Since(start) > within {
			c.t.Fatalf("not every node serves %s within %v", path, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// clusteringStatus is a node's GET /clustering/status, node id → entry.
func clusteringStatus(t *testing.T, gw *gwtest.Gateway) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, e := range adminJSON(t, gw, "/clustering/status") {
		node, ok := e.(map[string]any)
		if !ok {
			t.Fatalf("GET /clustering/status: node %s is %v", id, e)
		}
		out[id] = node
	}
	return out
}

// A POST /config on any node is served by all three within 1 s, and
// every node lists the three with the same version.
func TestClusterWriteServedByAll(t *testing.T) {
	c := newClusterNet(t)
	c.startN(3)
	c.allServe("/b0", 5*time.Second)
	for i := 1; i <= 3; i++ {
		node := c.nodes[i%3]
		if code, body := adminCall(t, node, http.MethodPost, "/config", reloadConfig(c.up.URL, i)); code != 201 {
			t.Fatalf("POST /config on node %d: %d %v", i%3, code, body)
		}
		took := c.allServe(fmt.Sprintf("/b%d", i), time.Second)
		t.Logf("change %d served by every node after %v", i, took)
		if serves(c.nodes[0], fmt.Sprintf("/b%d", i-1)) {
			t.Fatalf("change %d: the previous variant is still served", i)
		}
	}
	waitUntil(t, "three nodes at version 4 in /clustering/status", func() bool {
		st := clusteringStatus(t, c.nodes[2])
		n := 0
		for _, e := range st {
			if e["config_version"] == 4.0 && e["health"] == "ok" {
				n++
			}
		}
		return len(st) == 3 && n == 3
	})
	// An invalid document is refused before it is stored.
	if code, body := adminCall(t, c.nodes[0], http.MethodPost, "/config", "_format_version: \"3.0\"\nservices: [{name: x, url: http://x"); code != 400 {
		t.Fatalf("an invalid config: %d %v", code, body)
	}
	if !serves(c.nodes[1], "/b3") {
		t.Fatal("an invalid config reached another node")
	}
}

// Writers on the three nodes at once, all from the same version: each
// gets 201 or 409 (never a lost update), one at least wins, and the nodes
// end on the last winner's document.
func TestClusterConcurrentWriters(t *testing.T) {
	c := newClusterNet(t)
	c.startN(3)
	c.allServe("/b0", 5*time.Second)
	conflicts := 0
	for round := 1; round <= 10; round++ {
		codes := make([]int, 3)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, n := range c.nodes {
			wg.Go(func() {
				<-start
				codes[i], _ = adminCall(t, n, http.MethodPost, "/config", reloadConfig(c.up.URL, 100*round+i))
			})
		}
		close(start)
		wg.Wait()
		won := false
		for i, code := range codes {
			switch code {
			case 201:
				won = true
			case 409:
				conflicts++
			default:
				t.Fatalf("round %d: node %d answered %d", round, i, code)
			}
		}
		if !won {
			t.Fatalf("round %d: nobody won: %v", round, codes)
		}
		// Every node ends on a winner's document, the same one.
		waitUntil(t, "the nodes to agree", func() bool {
			hashes := map[any]bool{}
			for _, n := range c.nodes {
				hashes[adminStatus(t, n)["configuration_hash"]] = true
			}
			return len(hashes) == 1
		})
		served := 0
		for i := range c.nodes {
			if serves(c.nodes[0], fmt.Sprintf("/b%d", 100*round+i)) {
				served++
			}
		}
		if served != 1 {
			t.Fatalf("round %d: %d of the writers' routes are served", round, served)
		}
	}
	t.Logf("10 rounds of three concurrent writers: %d conflicts", conflicts)
	if conflicts == 0 {
		t.Fatal("no write ever lost the compare-and-set: the writers did not race")
	}
}

// Redis killed: the nodes keep serving, writes answer 503; Redis back
// (empty): the nodes put the version in force back and follow the next
// change.
func TestClusterRedisRestart(t *testing.T) {
	c := newClusterNet(t)
	c.args = []string{"--config-store-poll", "500ms"}
	c.startN(3)
	if code, body := adminCall(t, c.nodes[1], http.MethodPost, "/config", reloadConfig(c.up.URL, 1)); code != 201 {
		t.Fatalf("POST: %d %v", code, body)
	}
	c.allServe("/b1", time.Second)
	c.redis.Stop()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for i, n := range c.nodes {
			if !serves(n, "/a") || !serves(n, "/b1") {
				t.Fatalf("node %d stopped serving with Redis down", i)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := adminCall(t, c.nodes[0], http.MethodPost, "/config", reloadConfig(c.up.URL, 2)); code != 503 {
		t.Fatalf("POST with Redis down: %d %v", code, body)
	}
	if serves(c.nodes[0], "/b2") {
		t.Fatal("a change not stored was applied")
	}
	c.redis.Restart()
	// Some node restores version 2 (seed 1, the first POST 2) into the
	// empty Redis; then a change goes through as before.
	waitUntil(t, "a node to write its record again", func() bool {
		st := clusteringStatus(t, c.nodes[2])
		return len(st) == 3 && st[nodeID(t, c.nodes[2])]["store_error"] == nil
	})
	waitUntil(t, "a write to be stored", func() bool {
		code, _ := adminCall(t, c.nodes[2], http.MethodPost, "/config", reloadConfig(c.up.URL, 3))
		return code == 201
	})
	c.allServe("/b3", 2*time.Second)
	for _, e := range clusteringStatus(t, c.nodes[0]) {
		if v := e["config_version"]; v != 3.0 && v != 2.0 {
			t.Fatalf("after the restart the versions went back: %v", e)
		}
	}
}

// Redis hung (a partition): requests are served as fast as before, a
// write answers 503 within its timeout, and the nodes follow again once
// Redis answers.
func TestClusterRedisHangs(t *testing.T) {
	c := newClusterNet(t)
	c.args = []string{"--config-store-poll", "500ms"}
	c.startN(2)
	c.allServe("/b0", 5*time.Second)
	c.redis.Pause()
	resumed := false
	defer func() {
		if !resumed {
			c.redis.Resume()
		}
	}()
	time.Sleep(time.Second) // the heartbeats and polls are now stuck on Redis
	var slowest time.Duration
	for range 50 {
		for _, n := range c.nodes {
			start := time.Now()
			if !serves(n, "/a") {
				t.Fatal("a node stopped serving while Redis hangs")
			}
			slowest = max(slowest, time.Since(start))
		}
	}
	if slowest > 200*time.Millisecond {
		t.Fatalf("a request took %v while Redis hangs", slowest)
	}
	start := time.Now()
	if code, body := adminCall(t, c.nodes[0], http.MethodPost, "/config", reloadConfig(c.up.URL, 1)); code != 503 {
		t.Fatalf("POST while Redis hangs: %d %v", code, body)
	}
	if took := time.Since(start); took > 6*time.Second {
		t.Fatalf("the write took %v to fail", took)
	}
	c.redis.Resume()
	resumed = true
	waitUntil(t, "a write to be stored once Redis answers", func() bool {
		code, _ := adminCall(t, c.nodes[1], http.MethodPost, "/config", reloadConfig(c.up.URL, 2))
		return code == 201
	})
	c.allServe("/b2", 5*time.Second)
	t.Logf("slowest request while Redis hung: %v", slowest)
}

func nodeID(t *testing.T, gw *gwtest.Gateway) string {
	t.Helper()
	id, _ := adminStatus(t, gw)["node_id"].(string)
	if id == "" {
		t.Fatal("no node_id")
	}
	return id
}

// A node restarted while Redis is down serves its cached config; a node
// with no cache waits, not ready, and catches up when Redis returns.
func TestClusterNodeRestartWithRedisDown(t *testing.T) {
	c := newClusterNet(t)
	c.args = []string{"--config-store-poll", "500ms"}
	cache := filepath.Join(t.TempDir(), "cache.yml")
	c.nodes = append(c.nodes, c.start(cache, reloadConfig(c.up.URL, 0)))
	if code, body := adminCall(t, c.nodes[0], http.MethodPost, "/config", reloadConfig(c.up.URL, 1)); code != 201 {
		t.Fatalf("POST: %d %v", code, body)
	}
	c.nodes[0].Stop()
	c.redis.Stop()

	restarted := c.start(cache, "")
	if !serves(restarted, "/b1") || !serves(restarted, "/a") {
		t.Fatal("the restarted node does not serve its cached config")
	}
	st, _ := adminStatus(t, restarted)["clustering"].(map[string]any)
	if st["health"] != "cached" || st["config_version"] != 2.0 {
		t.Fatalf("clustering in /status: %v", st)
	}
	req, _ := http.NewRequest(http.MethodGet, restarted.AdminURL+"/status/ready", nil)
	if resp, body := gwtest.Do(t, req); resp.StatusCode != 200 {
		t.Fatalf("the node serving its cache is not ready: %d %s", resp.StatusCode, body)
	}
	fresh := c.start(filepath.Join(t.TempDir(), "cache.yml"), "")
	req, _ = http.NewRequest(http.MethodGet, fresh.AdminURL+"/status/ready", nil)
	if resp, body := gwtest.Do(t, req); resp.StatusCode != 503 || !strings.Contains(body, "config store") {
		t.Fatalf("a node with neither Redis nor a cache is ready: %d %s", resp.StatusCode, body)
	}
	if serves(fresh, "/a") {
		t.Fatal("a node with no config serves /a")
	}

	c.redis.Restart()
	c.nodes = []*gwtest.Gateway{restarted, fresh}
	c.allServe("/b1", 10*time.Second)
	waitUntil(t, "the fresh node to turn ready", func() bool {
		resp, _ := gwtest.Do(t, req.Clone(req.Context()))
		return resp.StatusCode == 200
	})
	if code, body := adminCall(t, fresh, http.MethodPost, "/config", reloadConfig(c.up.URL, 2)); code != 201 {
		t.Fatalf("POST after Redis returned: %d %v", code, body)
	}
	c.allServe("/b2", time.Second)
}

// A version one node cannot apply (its environment lacks a secret the
// config references) is reported by that node, which keeps serving the
// version before; the others run it.
func TestClusterVersionANodeCannotApply(t *testing.T) {
	c := newClusterNet(t)
	secret := "CLUSTER_TEST_SECRET=s3cret"
	c.nodes = append(c.nodes, c.start(filepath.Join(t.TempDir(), "c.yml"), reloadConfig(c.up.URL, 0), secret))
	c.nodes = append(c.nodes, c.start(filepath.Join(t.TempDir(), "c.yml"), ""))
	c.allServe("/b0", 5*time.Second)
	doc := reloadConfig(c.up.URL, 1) + `
consumers:
- username: u
  keyauth_credentials:
  - key: "{vault://env/cluster-test-secret}"
`
	if code, body := adminCall(t, c.nodes[0], http.MethodPost, "/config", doc); code != 201 {
		t.Fatalf("POST: %d %v", code, body)
	}
	if !serves(c.nodes[0], "/b1") {
		t.Fatal("the writing node does not serve its change")
	}
	lacking := c.nodes[1]
	waitUntil(t, "the failure in the node's /status", func() bool {
		st, _ := adminStatus(t, lacking)["clustering"].(map[string]any)
		return st["health"] == "config_failed" && st["failed_version"] == 2.0 && st["config_version"] == 1.0
	})
	if serves(lacking, "/b1") || !serves(lacking, "/b0") {
		t.Fatal("the node that cannot apply version 2 does not serve version 1 whole")
	}
	id := nodeID(t, lacking)
	waitUntil(t, "the failure in the nodes list", func() bool {
		e := clusteringStatus(t, c.nodes[0])[id]
		return e != nil && e["health"] == "config_failed" && strings.Contains(fmt.Sprint(e["failed_error"]), "CLUSTER_TEST_SECRET")
	})
	// The next version applies everywhere again; it is posted on the node
	// that failed version 2, which replaces it (a compare-and-set on the
	// version in force there, 1, refused it with 409 for good).
	if code, body := adminCall(t, lacking, http.MethodPost, "/config", reloadConfig(c.up.URL, 3)); code != 201 {
		t.Fatalf("POST: %d %v", code, body)
	}
	c.allServe("/b3", time.Second)
	st, _ := adminStatus(t, lacking)["clustering"].(map[string]any)
	if st["health"] != "ok" || st["config_version"] != 3.0 {
		t.Fatalf("after a version that applies: %v", st)
	}
}

// 50 cluster-wide changes, made on the three nodes in turn, under a load
// on every node: not one request fails.
func TestClusterChangesUnderLoad(t *testing.T) {
	const changes = 50
	c := newClusterNet(t)
	c.startN(3)
	c.allServe("/b0", 5*time.Second)
	load := startLoad(t, 6, c.nodes[0].URL+"/a", c.nodes[1].URL+"/a", c.nodes[2].URL+"/a")
	var slowest time.Duration
	for i := 1; i <= changes; i++ {
		if code, body := adminCall(t, c.nodes[i%3], http.MethodPost, "/config", reloadConfig(c.up.URL, i)); code != 201 {
			t.Fatalf("change %d: %d %v", i, code, body)
		}
		slowest = max(slowest, c.allServe(fmt.Sprintf("/b%d", i), 2*time.Second))
	}
	ok := load.stopAndCheck(t, fmt.Sprintf("%d changes", changes), 300)
	t.Logf("%d requests, 0 failed, across %d changes; slowest to reach every node: %v", ok, changes, slowest)
	var buf bytes.Buffer
	for i, n := range c.nodes {
		fmt.Fprintf(&buf, "node %d: %v\n", i, adminStatus(t, n)["clustering"])
	}
	t.Log(buf.String())
}

// Entity writes on the three nodes at once, each made from the
// configuration in force on its node: each gets 201, or 409 (or 429
// behind a load), and every write acknowledged is in the document the
// nodes end on. A node that applied another node's version between
// reading its own and storing its change must not store its change on
// top of that version: its document lacks the other node's entity.
func TestClusterConcurrentEntityWrites(t *testing.T) {
	c := newClusterNet(t)
	c.startN(3)
	c.allServe("/b0", 5*time.Second)
	acked, refused := 0, 0
	for round, end := 1, time.Now().Add(30*time.Second); round <= 20 && time.Now().Before(end); round++ {
		codes := make([]int, 3)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, n := range c.nodes {
			wg.Go(func() {
				<-start
				body := fmt.Sprintf(`{"name": "w%dn%d", "url": %q}`, round, i, c.up.URL)
				codes[i], _ = adminCall(t, n, http.MethodPost, "/services", body, "Content-Type", "application/json")
			})
		}
		close(start)
		wg.Wait()
		waitUntil(t, "the nodes to agree", func() bool {
			hashes := map[any]bool{}
			for _, n := range c.nodes {
				hashes[adminStatus(t, n)["configuration_hash"]] = true
			}
			return len(hashes) == 1
		})
		for i, code := range codes {
			switch code {
			case 201:
				acked++
				if got, _ := adminCall(t, c.nodes[(i+1)%3], http.MethodGet, fmt.Sprintf("/services/w%dn%d", round, i), ""); got != 200 {
					t.Fatalf("round %d: node %d acknowledged service w%dn%d (201), which the cluster does not have (GET: %d); codes %v",
						round, i, round, i, got, codes)
				}
			case 409, 429:
				refused++
			default:
				t.Fatalf("round %d: node %d answered %d", round, i, code)
			}
		}
	}
	t.Logf("concurrent entity writes: %d acknowledged, %d refused", acked, refused)
}
