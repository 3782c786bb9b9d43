package cachestore

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/store"
)

// TestRedisCluster runs the store on a one-node Redis Cluster serving
// every slot: the script's and UNLINK's keys must share a slot (the
// namespace's hash tag), and All scans the master of that slot.
func TestRedisCluster(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	busPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := gwtest.StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-port", strconv.Itoa(busPort))
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 2})
	defer admin.Close()
	if err := admin.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(admin.ClusterInfo(ctx).Val(), "cluster_state:ok"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the cluster did not come up")
		}
	}
	c, err := store.NewRedisClient(store.RedisOptions{Addrs: []string{srv.Addr}, Cluster: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.Client().(*redis.ClusterClient); !ok {
		t.Fatal("not a cluster client")
	}
	storeContract(t, NewRedis(c, "plugin-1"))
}
