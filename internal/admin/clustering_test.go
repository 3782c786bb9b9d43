package admin

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/configstore"
	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/store"
)

func TestClusteringStatusWithoutStore(t *testing.T) {
	f := newFixture(t, "_format_version: \"3.0\"\n", nil)
	body := f.get("/clustering/status")
	if len(body) != 1 {
		t.Fatalf("want this node only: %v", body)
	}
	self, _ := body["node-1"].(map[string]any)
	if self == nil || self["this_node"] != true || self["health"] != "ok" || self["config_hash"] != f.holder.Load().Hash ||
		self["version"] != "1.2.3" {
		t.Fatalf("this node: %v", body)
	}
	if last, _ := self["last_seen"].(float64); time.Since(time.Unix(int64(last), 0)) > time.Minute {
		t.Fatalf("last_seen %v", self["last_seen"])
	}
	if code, _, _ := f.do(http.MethodPost, "/clustering/status", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", code)
	}
	if _, ok := f.get("/status")["clustering"]; ok {
		t.Fatal("/status has a clustering part without a cluster")
	}
}

// storeCluster is a Cluster over a real Redis store, with a fixed self.
type storeCluster struct {
	st   *configstore.Redis
	self configstore.Node
}

func (c storeCluster) Self() configstore.Node { return c.self }
func (c storeCluster) Nodes(ctx context.Context) ([]configstore.Node, error) {
	return c.st.Nodes(ctx)
}
func (c storeCluster) Stored(ctx context.Context) (configstore.Meta, error) { return c.st.Meta(ctx) }

func TestClusteringStatusFromStore(t *testing.T) {
	srv := gwtest.StartRedis(t)
	st, err := configstore.NewRedis(configstore.RedisOptions{Conn: store.RedisOptions{Addrs: []string{srv.Addr}}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	other := configstore.Node{ID: "node-2", Hostname: "h2", ConfigVersion: 4, ConfigHash: "abc", FailedVersion: 5,
		FailedError: "certificates[0].cert: no such file", Health: configstore.HealthFailed, LastSeen: now}
	self := configstore.Node{ID: "node-1", Hostname: "h1", ConfigVersion: 5, ConfigHash: "def", Health: configstore.HealthOK, LastSeen: now}
	if _, err := st.Put(context.Background(), []byte("_format_version: \"3.0\"\n"), 0, "alice"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []configstore.Node{other, self} {
		if _, err := st.Heartbeat(context.Background(), n, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	self.ConfigVersion = 6 // newer than its record: the entry is the node's own view
	f := newFixture(t, "_format_version: \"3.0\"\n", func(s *Source) { s.Cluster = storeCluster{st, self} })
	body := f.get("/clustering/status")
	n2, _ := body["node-2"].(map[string]any)
	n1, _ := body["node-1"].(map[string]any)
	if len(body) != 2 || n2 == nil || n1 == nil {
		t.Fatalf("%v", body)
	}
	if n2["health"] != "config_failed" || n2["failed_version"] != 5.0 || n2["config_version"] != 4.0 || n2["hostname"] != "h2" ||
		n2["failed_error"] != other.FailedError || n2["this_node"] != nil {
		t.Fatalf("node-2: %v", n2)
	}
	if n1["config_version"] != 6.0 || n1["this_node"] != true || n1["store_error"] != nil {
		t.Fatalf("node-1: %v", n1)
	}
	// Who stored the cluster's version, and when.
	stored, _ := n1["stored"].(map[string]any)
	at, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(stored["changed_at"]))
	if stored["version"] != 1.0 || stored["changed_by"] != "alice" || len(fmt.Sprint(stored["configuration_hash"])) != 32 || time.Since(at) > time.Minute {
		t.Fatalf("node-1's stored: %v", n1["stored"])
	}
	if c, _ := f.get("/status")["clustering"].(map[string]any); c == nil || c["config_version"] != 6.0 {
		t.Fatalf("/status: %v", f.get("/status"))
	}

	srv.Stop()
	body = f.get("/clustering/status")
	n1, _ = body["node-1"].(map[string]any)
	if len(body) != 1 || n1 == nil || n1["store_error"] == nil {
		t.Fatalf("with Redis down: %v", body)
	}
}
