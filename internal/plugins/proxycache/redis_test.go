package proxycache

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	goredis "github.com/redis/go-redis/v9"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
	"github.com/turnpikegw/turnpike/internal/store"
)

// TestRedisStrategySharesAndFailsOpen runs two instances (two nodes) on
// one real redis-server: what one stores the other hits; with Redis
// gone, requests go upstream (Bypass), counted, never an error.
func TestRedisStrategySharesAndFailsOpen(t *testing.T) {
	r := gwtest.StartRedis(t)
	reg := prometheus.NewRegistry()
	node := func() *Cache {
		c := &Config{}
		c.SetDefaults()
		c.Strategy, c.Redis.Host, c.Redis.Port, c.Redis.Timeout = strategyRedis, ptr("127.0.0.1"), ptr(r.Port), ptr(200)
		in, err := newCache(Name, c, nil, plugin.Env{Store: store.NewProvider(), Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(in.Close)
		return in
	}
	a, b := node(), node()
	if _, h, _, _ := do(t, a, newCtx("GET", "/r", nil), jsonOK("one")); h.Get("X-Cache-Status") != "Miss" {
		t.Fatalf("a: %v", h)
	}
	if _, h, body, reached := do(t, b, newCtx("GET", "/r", nil), jsonOK("two")); reached || body != "one" || h.Get("X-Cache-Status") != "Hit" {
		t.Fatalf("b: %v %q %v", reached, body, h)
	}
	r.Stop()
	for range 3 {
		start := time.Now()
		status, h, body, reached := do(t, b, newCtx("GET", "/r", nil), jsonOK("up"))
		if !reached || status != 200 || body != "up" || h.Get("X-Cache-Status") != "Bypass" {
			t.Fatalf("redis down: %d %v %q %v", status, reached, body, h)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("redis down took %v", d)
		}
	}
	if n := testutil.ToFloat64(b.metrics.errors.WithLabelValues("redis")); n < 3 {
		t.Fatalf("store errors %v", n)
	}
	if out, err := testutil.GatherAndCount(reg, "turnpike_cache_requests_total"); err != nil || out == 0 {
		t.Fatalf("requests series: %d %v", out, err)
	}
}

// TestRequestsCountedOnce checks each request is counted once, by the
// status it ended with (a Miss whose response proved uncacheable is a
// Bypass, not both).
func TestRequestsCountedOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := &Config{}
	c.SetDefaults()
	c.Strategy = strategyMemory
	in, err := newCache(Name, c, nil, plugin.Env{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	do(t, in, newCtx("GET", "/m", nil), jsonOK("1"))
	do(t, in, newCtx("GET", "/m", nil), jsonOK("1"))
	do(t, in, newCtx("GET", "/html", nil), upstream{status: 200, header: map[string][]string{"Content-Type": {"text/html"}}})
	want := map[cacheStatus]float64{statusMiss: 1, statusHit: 1, statusBypass: 1, statusRefresh: 0}
	for s, w := range want {
		if got := testutil.ToFloat64(in.metrics.requests[s]); got != w {
			t.Errorf("%s: %v, want %v", statusValues[s][0], got, w)
		}
	}
}

// TestInvalidatePublishesThroughEveryBus: instances sharing a memory
// dictionary where the first has no Redis settings: an admin
// invalidation is still published on the purge bus of the one that has.
func TestInvalidatePublishesThroughEveryBus(t *testing.T) {
	r := gwtest.StartRedis(t)
	sub := goredis.NewClient(&goredis.Options{Addr: r.Addr})
	t.Cleanup(func() { sub.Close() })
	ps := sub.Subscribe(context.Background(), "turnpike:cache:purge")
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	provider := store.NewProvider()
	build := func(withRedis bool) *Cache {
		c := &Config{}
		c.SetDefaults()
		c.Strategy, c.Memory.DictionaryName = strategyMemory, "shared"
		if withRedis {
			c.Redis.Host, c.Redis.Port = ptr("127.0.0.1"), ptr(r.Port)
		}
		in, err := newCache(Name, c, nil, plugin.Env{Store: provider})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(in.Close)
		return in
	}
	plain, withBus := build(false), build(true)
	a := &plugintest.Admin{PluginList: adminPlugins(plain, withBus)}
	do(t, plain, newCtx("GET", "/api/users/1", nil), jsonOK("u1"))
	if code, body := postInvalidate(t, a, `{"pattern": "/api/users/*"}`); code != 200 || body != `{"invalidated":1}` {
		t.Fatalf("invalidate: %d %s", code, body)
	}
	select {
	case m := <-ps.Channel():
		if !strings.Contains(m.Payload, `"dictionary":"shared"`) || !strings.Contains(m.Payload, `"pattern":"/api/users/*"`) {
			t.Fatalf("published %s", m.Payload)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("nothing published on the purge bus")
	}
}

// TestPurgeSubscribedOncePerDictionary: two instances on one memory
// dictionary and one Redis make one subscription, so another node's
// purge is applied once, not once per instance; it lasts while either
// instance does.
func TestPurgeSubscribedOncePerDictionary(t *testing.T) {
	r := gwtest.StartRedis(t)
	pub := goredis.NewClient(&goredis.Options{Addr: r.Addr})
	t.Cleanup(func() { pub.Close() })
	provider := store.NewProvider()
	build := func() *Cache {
		c := &Config{}
		c.SetDefaults()
		c.Strategy, c.Memory.DictionaryName = strategyMemory, "shared"
		c.Redis.Host, c.Redis.Port = ptr("127.0.0.1"), ptr(r.Port)
		in, err := newCache(Name, c, nil, plugin.Env{Store: provider})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	a, b := build(), build()
	t.Cleanup(b.Close)
	v, release := provider.Shared.Acquire(sharedPrefix+"shared", nil)
	t.Cleanup(release)
	d := v.(*dictionary)
	count := func() (subs, refs int) {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, s := range d.subs {
			refs += s.refs
		}
		return len(d.subs), refs
	}
	if subs, refs := count(); subs != 1 || refs != 2 {
		t.Fatalf("subscriptions %d held %d times", subs, refs)
	}
	a.Close()
	if subs, refs := count(); subs != 1 || refs != 1 {
		t.Fatalf("after one close: subscriptions %d held %d times", subs, refs)
	}
	do(t, b, newCtx("GET", "/p", nil), jsonOK("p"))
	if n := d.mem.Len(); n != 1 {
		t.Fatalf("%d entries stored", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for d.mem.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("another node's purge was not applied")
		}
		pub.Publish(context.Background(), "turnpike:cache:purge", `{"node":"other","dictionary":"shared","all":true}`)
		time.Sleep(20 * time.Millisecond)
	}
	b.Close()
	if subs, _ := count(); subs != 0 {
		t.Fatalf("subscriptions %d after every instance closed", subs)
	}
}
