package configstore

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/store"
)

// exercise runs the store's operations once: compare-and-set, Watch,
// node records.
func exercise(t *testing.T, opts store.RedisOptions) {
	t.Helper()
	ctx := context.Background()
	newStore := func() *Redis {
		s, err := NewRedis(RedisOptions{Conn: opts, Poll: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	w, s := newStore(), newStore()
	ch := collect(t, w)
	time.Sleep(200 * time.Millisecond) // subscribed before the first Put
	for i := 1; i <= 3; i++ {
		if v, err := s.Put(ctx, doc(i), uint64(i-1), "t"); err != nil || v != uint64(i) {
			t.Fatalf("put %d: %d, %v", i, v, err)
		}
	}
	if _, err := s.Put(ctx, doc(9), 1, "t"); err != ErrConflict {
		t.Fatalf("stale put: %v", err)
	}
	for last := uint64(0); last < 3; {
		d := next(t, ch, 5*time.Second)
		if d.Version <= last || string(d.Data) != string(doc(int(d.Version))) {
			t.Fatalf("delivered %+v after %d", d, last)
		}
		last = d.Version
	}
	if _, err := s.Heartbeat(ctx, Node{ID: "n1", Health: HealthOK, LastSeen: time.Now()}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if nodes, err := s.Nodes(ctx); err != nil || len(nodes) != 1 {
		t.Fatalf("nodes: %v, %v", nodes, err)
	}
}

// A Redis Cluster of two masters: every key is under one hash tag, so the
// scripts and the node records' transaction work on one slot.
func TestRedisStoreOnCluster(t *testing.T) {
	ctx := context.Background()
	nodes := make([]*gwtest.Redis, 2)
	bus := make([]int, 2)
	for i := range nodes {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		bus[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
		nodes[i] = gwtest.StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", strconv.Itoa(bus[i]))
		c := redis.NewClient(&redis.Options{Addr: nodes[i].Addr})
		defer c.Close()
		if err := c.ClusterAddSlotsRange(ctx, i*8192, (i+1)*8192-1).Err(); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := c.Do(ctx, "cluster", "meet", "127.0.0.1", nodes[0].Port, bus[0]).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range nodes {
		c := redis.NewClient(&redis.Options{Addr: n.Addr})
		defer c.Close()
		for {
			info := c.ClusterInfo(ctx).Val()
			if strings.Contains(info, "cluster_state:ok") && strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d\r\n", len(nodes))) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the cluster did not come up: %s", info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	exercise(t, store.RedisOptions{Addrs: []string{nodes[0].Addr}, Cluster: true})
}

func TestRedisStoreThroughSentinel(t *testing.T) {
	master := gwtest.StartRedis(t)
	sentinel := gwtest.StartRedisSentinel(t, master, "cfg")
	exercise(t, store.RedisOptions{Addrs: []string{sentinel.Addr}, MasterName: "cfg"})
	c := redis.NewClient(&redis.Options{Addr: master.Addr})
	defer c.Close()
	if v := c.Get(context.Background(), "{turnpike}:config:version").Val(); v != "3" {
		t.Fatalf("the version on the master: %q", v)
	}
}
