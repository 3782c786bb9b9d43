package tokens

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/store"
)

// node is a Redis store on a client of its own, as a gateway process
// has.
func node(t *testing.T, addr string) *Redis {
	t.Helper()
	c, err := store.NewRedisClient(store.RedisOptions{Addrs: []string{addr}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := NewRedis(c)
	t.Cleanup(func() { s.Close(); c.Close() })
	return s
}

// waitSubscribed waits until n clients listen for revocations.
func waitSubscribed(t *testing.T, s *Redis, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err := s.c.Client().PubSubNumSub(context.Background(), revokeChannel).Result()
		if err == nil && m[revokeChannel] >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d (%v)", m[revokeChannel], n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRedisStore(t *testing.T) {
	srv := gwtest.StartRedis(t)
	testStore(t, node(t, srv.Addr))
}

// TestRedisTwoNodes: a token issued on one node is found on the other; a
// revocation on either reaches the other's cache at once (pub/sub), not
// after the cache's 30 s.
func TestRedisTwoNodes(t *testing.T) {
	srv := gwtest.StartRedis(t)
	a, b := node(t, srv.Addr), node(t, srv.Addr)
	waitSubscribed(t, a, 2)
	ctx := context.Background()
	if err := a.Put(ctx, token("t1", 3600), "acc-1", "ref-1"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Redis{a, b, a, b} { // the second round is cached
		if got, err := s.ByAccess(ctx, "acc-1"); err != nil || got == nil || got.ID != "t1" {
			t.Fatalf("ByAccess: %+v %v", got, err)
		}
	}
	if a.cached.Load() != 1 || b.cached.Load() != 1 {
		t.Fatalf("cached %d %d", a.cached.Load(), b.cached.Load())
	}
	if ok, err := b.Delete(ctx, "t1"); !ok || err != nil {
		t.Fatalf("Delete on b: %v %v", ok, err)
	}
	if got, _ := b.ByAccess(ctx, "acc-1"); got != nil {
		t.Fatal("b still accepts the token it revoked")
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		got, err := a.ByAccess(ctx, "acc-1")
		if err != nil {
			t.Fatal(err)
		}
		if got == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a still accepts the token b revoked")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, _ := a.ByRefresh(ctx, "ref-1"); got != nil {
		t.Fatal("refresh token survived the revocation")
	}
}

// TestRedisTTL: keys expire with the tokens they find (Redis drops
// them), and a cached token is not trusted past its expiry.
func TestRedisTTL(t *testing.T) {
	srv := gwtest.StartRedis(t)
	s := node(t, srv.Addr)
	ctx := context.Background()
	tok := token("short", 1)
	tok.RefreshTTL = 3 * time.Second
	if err := s.Put(ctx, tok, "acc-short", "ref-short"); err != nil {
		t.Fatal(err)
	}
	cl := s.c.Client()
	pttl := func(k string) time.Duration { return cl.PTTL(ctx, k).Val() }
	a, r, id := pttl(redisPrefix+"a:"+hexSum("acc-short")), pttl(redisPrefix+"r:"+hexSum("ref-short")), pttl(idKey("short"))
	// The record lives as long as its refresh token: read one after the
	// other, the two TTLs differ by the time between the reads.
	if a <= 0 || a > time.Second || r <= 2*time.Second || r > 3*time.Second || id > r || r-id > 50*time.Millisecond {
		t.Fatalf("TTLs access %v refresh %v record %v", a, r, id)
	}
	if got, _ := s.ByAccess(ctx, "acc-short"); got == nil {
		t.Fatal("not found")
	}
	time.Sleep(time.Until(tok.CreatedAt.Add(1100 * time.Millisecond)))
	if got, _ := s.ByAccess(ctx, "acc-short"); got != nil {
		t.Fatal("expired token accepted (from the cache)")
	}
	if got, _ := s.ByRefresh(ctx, "ref-short"); got == nil {
		t.Fatal("refresh token expired with the access token")
	}
	if err := s.Put(ctx, token("forever", 0), "acc-forever", ""); err != nil {
		t.Fatal(err)
	}
	if d := pttl(redisPrefix + "a:" + hexSum("acc-forever")); d != -1 {
		t.Fatalf("a token without expiry got TTL %v", d)
	}
}

// TestRedisDown: a store that cannot reach Redis answers an error, never
// an unknown token.
func TestRedisDown(t *testing.T) {
	srv := gwtest.StartRedis(t)
	s := node(t, srv.Addr)
	srv.Stop()
	if got, err := s.ByAccess(context.Background(), "x"); err == nil || got != nil {
		t.Fatalf("Redis down: %+v %v", got, err)
	}
}

// TestOpenRedis: instances naming one server share one store.
func TestOpenRedis(t *testing.T) {
	srv := gwtest.StartRedis(t)
	host, port := "127.0.0.1", srv.Port
	cfg := &plugin.RedisConfig{Host: &host, Port: &port}
	env := plugin.Env{Store: store.NewProvider()}
	a, releaseA, err := Open(env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, releaseB, _ := Open(env, cfg)
	if a != b {
		t.Fatal("two stores for one server")
	}
	if _, ok := a.(*Redis); !ok {
		t.Fatalf("%T", a)
	}
	releaseA()
	releaseB()
	if env.Store.Redis.Clients() != 0 {
		t.Fatal("client not released")
	}
}

func hexSum(s string) string {
	k := sum(s)
	return key("", k)[len(redisPrefix):]
}

// BenchmarkRedisByAccessCached is the request path of a Redis store once
// a node has seen the token: the node-local cache, no round trip.
func BenchmarkRedisByAccessCached(b *testing.B) {
	srv := gwtest.StartRedis(b)
	c, err := store.NewRedisClient(store.RedisOptions{Addrs: []string{srv.Addr}})
	if err != nil {
		b.Fatal(err)
	}
	s := NewRedis(c)
	defer c.Close()
	defer s.Close()
	ctx := context.Background()
	if err := s.Put(ctx, token("bench", 3600), "bench-access-token-abcdefghijklmnopqrstuv", ""); err != nil {
		b.Fatal(err)
	}
	if got, _ := s.ByAccess(ctx, "bench-access-token-abcdefghijklmnopqrstuv"); got == nil {
		b.Fatal("not found")
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if got, _ := s.ByAccess(ctx, "bench-access-token-abcdefghijklmnopqrstuv"); got == nil {
				b.Fatal("not found")
			}
		}
	})
}

// TestRedisMalformed: what Redis answers is checked, never trusted to
// fit: a malformed record is an error, not a panic or a token.
func TestRedisMalformed(t *testing.T) {
	srv := gwtest.StartRedis(t)
	s := node(t, srv.Addr)
	ctx := context.Background()
	cl := s.c.Client()
	long := `{"t":{"ID":"bad"},"a":"` + strings.Repeat("ab", 100) + `"}`
	cl.Set(ctx, idKey("bad"), long, 0)
	cl.Set(ctx, idKey("junk"), "not json", 0)
	cl.Set(ctx, redisPrefix+"a:"+hexSum("junk-access"), "{}", 0)
	if ok, err := s.Delete(ctx, "bad"); ok || err == nil {
		t.Fatalf("Delete of a malformed record: %v %v", ok, err)
	}
	if got, err := s.Get(ctx, "junk"); got != nil || err == nil {
		t.Fatalf("Get of junk: %+v %v", got, err)
	}
	if got, err := s.ByAccess(ctx, "junk-access"); got != nil || err == nil {
		t.Fatalf("ByAccess of a record without token: %+v %v", got, err)
	}
}
