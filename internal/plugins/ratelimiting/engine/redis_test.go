package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/store"
)

// newRedisStore is a store on srv, closed with the test.
func newRedisStore(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	r, err := NewRedis(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// adminClient is a plain client for looking at srv's keys.
func adminClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// serverTime is srv's clock.
func serverTime(t testing.TB, c *redis.Client) time.Time {
	t.Helper()
	now, err := c.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return now.UTC()
}

// inOneWindow runs f until it ran entirely inside one window of p on the
// server's clock (at most three tries), so that counts are not split by
// a boundary crossed mid-test.
func inOneWindow(t *testing.T, c *redis.Client, p Period, f func(key string)) {
	t.Helper()
	for try := range 3 {
		before, _ := p.Bounds(serverTime(t, c))
		key := fmt.Sprintf("%s-%d-%d", t.Name(), try, rand.Int64())
		f(key)
		if after, _ := p.Bounds(serverTime(t, c)); after.Equal(before) {
			return
		}
	}
	t.Fatal("three tries crossed a window boundary")
}

func TestRedisScriptCalendar(t *testing.T) {
	// The windows script's own calendar (Redis Lua has no date functions)
	// agrees with Period.Bounds.
	srv := gwtest.StartRedis(t)
	c := adminClient(t, srv.Addr)
	src, _, ok := strings.Cut(windowsLua, "local time = redis.call('TIME')")
	if !ok {
		t.Fatal("marker not found in windows.lua")
	}
	src += `
local out = {}
for i = 1, #ARGV do
  for p = 0, 5 do
    local s, e = bounds(p, tonumber(ARGV[i]))
    out[#out + 1] = s
    out[#out + 1] = e
  end
end
return out`
	r := rand.New(rand.NewPCG(3, 4))
	var secs []any
	var times []time.Time
	for _, at := range []time.Time{
		date(2024, 2, 29, 23, 59, 59, 0), date(2024, 3, 1, 0, 0, 0, 0), date(2023, 2, 28, 12, 0, 0, 0),
		date(2000, 2, 29, 0, 0, 0, 0), date(2100, 3, 1, 0, 0, 0, 0), date(2023, 12, 31, 23, 59, 59, 0),
		date(2024, 1, 1, 0, 0, 0, 0), date(1970, 1, 1, 0, 0, 0, 0), date(2038, 1, 19, 3, 14, 8, 0),
	} {
		times = append(times, at)
	}
	for range 2000 {
		times = append(times, time.Unix(r.Int64N(200*365*86400), 0).UTC())
	}
	for _, at := range times {
		secs = append(secs, at.Unix())
	}
	out, err := c.Eval(context.Background(), src, []string{"x"}, secs...).Int64Slice()
	if err != nil {
		t.Fatal(err)
	}
	for i, at := range times {
		for p := Second; p <= Year; p++ {
			start, end := p.Bounds(at)
			got := out[12*i+2*int(p):]
			if got[0] != start.Unix() || got[1] != end.Unix() {
				t.Errorf("%v of %v: script %v..%v, want %v..%v", p, at,
					time.Unix(got[0], 0).UTC(), time.Unix(got[1], 0).UTC(), start, end)
			}
		}
	}
}

func TestRedisAlgorithms(t *testing.T) {
	srv := gwtest.StartRedis(t)
	c := adminClient(t, srv.Addr)
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}})

	t.Run("fixed", func(t *testing.T) {
		p := fixed(Limit{Hour, 5}, Limit{Day, 7})
		inOneWindow(t, c, Hour, func(key string) {
			if got := takeN(t, r, key, p, 8); got != 5 {
				t.Errorf("admitted %d, want 5", got)
			}
			d := take(t, r, key, p)
			now := serverTime(t, c)
			_, hourEnd := Hour.Bounds(now)
			_, dayEnd := Day.Bounds(now)
			if d.Allowed || d.Windows[0].Remaining != 0 || d.Windows[1].Remaining != 2 {
				t.Errorf("got %+v", d)
			}
			if diff := hourEnd.Sub(now) - d.RetryAfter; diff < -time.Second || diff > time.Second {
				t.Errorf("RetryAfter %v, want about %v", d.RetryAfter, hourEnd.Sub(now))
			}
			if diff := dayEnd.Sub(now) - d.Windows[1].Reset; diff < -time.Second || diff > time.Second {
				t.Errorf("day Reset %v, want about %v", d.Windows[1].Reset, dayEnd.Sub(now))
			}
		})
	})
	t.Run("sliding", func(t *testing.T) {
		p := sliding(Limit{Hour, 5})
		inOneWindow(t, c, Hour, func(key string) {
			if got := takeN(t, r, key, p, 8); got != 5 {
				t.Errorf("admitted %d, want 5", got)
			}
			if d := usage(t, r, key, p); d.Allowed || d.Windows[0].Remaining != 0 || d.RetryAfter <= 0 {
				t.Errorf("usage: %+v", d)
			}
		})
	})
	t.Run("sliding weighs the previous window", func(t *testing.T) {
		// The previous minute counted 60 of 60; e seconds into this one it
		// weighs 60 - e, so e requests fit.
		p := sliding(Limit{Minute, 60})
		inOneWindow(t, c, Minute, func(key string) {
			now := serverTime(t, c)
			start, _ := Minute.Bounds(now)
			c.HSet(context.Background(), "turnpike:ratelimit:{"+key+"}:sliding", "s1", start.Unix()-60, "c1", 60)
			got := takeN(t, r, key, p, 70)
			if e := int(serverTime(t, c).Sub(start) / time.Second); got < int(now.Sub(start)/time.Second) || got > e+1 {
				t.Errorf("admitted %d, want about %d", got, e)
			}
		})
	})
	t.Run("fixed ignores the previous window", func(t *testing.T) {
		p := fixed(Limit{Minute, 10})
		inOneWindow(t, c, Minute, func(key string) {
			start, _ := Minute.Bounds(serverTime(t, c))
			c.HSet(context.Background(), "turnpike:ratelimit:{"+key+"}:fixed", "s1", start.Unix()-60, "c1", 10)
			if got := takeN(t, r, key, p, 12); got != 10 {
				t.Errorf("admitted %d, want 10", got)
			}
		})
	})
	t.Run("token bucket", func(t *testing.T) {
		p := &Policy{Algorithm: TokenBucket, Rate: 1.0 / 3600, Burst: 4, NoDelay: true}
		key := t.Name()
		if got := takeN(t, r, key, p, 8); got != 5 {
			t.Errorf("admitted %d, want 5", got)
		}
		d := take(t, r, key, p)
		if d.Allowed || d.RetryAfter < time.Hour-time.Minute || d.RetryAfter > time.Hour || d.Windows[0].Limit != 5 {
			t.Errorf("got %+v", d)
		}
	})
	t.Run("token bucket delay", func(t *testing.T) {
		p := &Policy{Algorithm: TokenBucket, Rate: 10, Burst: 3}
		key := t.Name()
		for i := range 4 {
			d := take(t, r, key, p)
			want := time.Duration(i) * 100 * time.Millisecond
			if !d.Allowed || d.Delay > want || d.Delay < want-50*time.Millisecond {
				t.Errorf("request %d: %+v, want a delay of about %v", i+1, d, want)
			}
		}
		if d := take(t, r, key, p); d.Allowed {
			t.Errorf("fifth request admitted: %+v", d)
		}
	})
	t.Run("cost", func(t *testing.T) {
		p := fixed(Limit{Day, 10})
		inOneWindow(t, c, Day, func(key string) {
			ctx := context.Background()
			if d, err := r.Take(ctx, key, p, 8); err != nil || !d.Allowed || d.Windows[0].Remaining != 2 {
				t.Errorf("cost 8: %+v, %v", d, err)
			}
			if d, err := r.Take(ctx, key, p, 3); err != nil || d.Allowed {
				t.Errorf("cost 3 with 2 left: %+v, %v", d, err)
			}
			if _, err := r.Take(ctx, key, p, 0); err == nil {
				t.Error("cost 0 accepted")
			}
		})
	})
}

func TestRedisKeys(t *testing.T) {
	srv := gwtest.StartRedis(t)
	c := adminClient(t, srv.Addr)
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}, KeyPrefix: "rl:"})
	ctx := context.Background()
	tests := []struct {
		p       *Policy
		key     string
		maxTTL  time.Duration
		nothing bool
	}{
		{fixed(Limit{Second, 5}, Limit{Minute, 5}), "rl:{a:b}:fixed", time.Minute, false},
		{sliding(Limit{Second, 5}), "rl:{a:b}:sliding", 2 * time.Second, false},
		{&Policy{Algorithm: TokenBucket, Rate: 2, Burst: 5}, "rl:{a:b}:bucket", 501 * time.Millisecond, false},
	}
	for _, tt := range tests {
		if _, err := r.Usage(ctx, "a:b", tt.p); err != nil {
			t.Fatal(err)
		}
		if n := c.Exists(ctx, tt.key).Val(); n != 0 {
			t.Errorf("Usage wrote %s", tt.key)
		}
		for n := range 2 {
			// A second request in the same windows keeps the expiry; a
			// bucket's grows with its backlog.
			take(t, r, "a:b", tt.p)
			ttl, limit := c.PTTL(ctx, tt.key).Val(), tt.maxTTL
			if tt.p.Algorithm == TokenBucket {
				limit *= time.Duration(n + 1)
			}
			if ttl <= 0 || ttl > limit {
				t.Errorf("%s expires in %v after %d requests, want within %v", tt.key, ttl, n+1, limit)
			}
		}
	}
}

func TestRedisExactnessAcrossNodes(t *testing.T) {
	// Two stores are two gateway nodes on one Redis: 1,000 concurrent
	// requests against a limit of 100 admit exactly 100.
	srv := gwtest.StartRedis(t)
	c := adminClient(t, srv.Addr)
	nodes := []*Redis{
		newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}}),
		newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}}),
	}
	for _, p := range []*Policy{
		fixed(Limit{Minute, 100}),
		sliding(Limit{Minute, 100}),
		{Algorithm: TokenBucket, Rate: 1.0 / 3600, Burst: 99, NoDelay: true},
		// With batches of 10 a node may be left holding up to 9 permits:
		// between 82 and 100 are admitted, never more.
		{Algorithm: Fixed, Limits: []Limit{{Minute, 100}}, Batch: 10},
		{Algorithm: Sliding, Limits: []Limit{{Minute, 100}}, Batch: 10},
	} {
		name := p.Algorithm.String()
		least := int64(100)
		if p.Batch > 0 {
			name += "-batch"
			least = 100 - 2*(p.Batch-1)
		}
		t.Run(name, func(t *testing.T) {
			inOneWindow(t, c, Minute, func(key string) {
				var allowed, failed atomic.Int64
				var wg sync.WaitGroup
				for i := range 1000 {
					wg.Go(func() {
						d, err := nodes[i%2].Take(context.Background(), key, p, 1)
						if err != nil {
							failed.Add(1)
							return
						}
						if d.Allowed {
							allowed.Add(1)
						}
					})
				}
				wg.Wait()
				if allowed.Load() < least || allowed.Load() > 100 || failed.Load() != 0 {
					t.Errorf("admitted %d (%d errors), want %d to 100", allowed.Load(), failed.Load(), least)
				}
			})
		})
	}
}

func TestRedisScriptFlush(t *testing.T) {
	srv := gwtest.StartRedis(t)
	c := adminClient(t, srv.Addr)
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}})
	p := fixed(Limit{Day, 10})
	inOneWindow(t, c, Day, func(key string) {
		take(t, r, key, p)
		if err := c.ScriptFlush(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		d := take(t, r, key, p)
		if !d.Allowed || d.Windows[0].Remaining != 8 {
			t.Errorf("after SCRIPT FLUSH: %+v", d)
		}
		loaded, err := c.ScriptExists(context.Background(), r.c.windows.Hash()).Result()
		if err != nil || !loaded[0] {
			t.Errorf("script not loaded again: %v, %v", loaded, err)
		}
	})
}

func TestRedisBreakerWhenKilled(t *testing.T) {
	srv := gwtest.StartRedis(t)
	const timeout = time.Second
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}, Timeout: timeout, BreakerFailures: 3, BreakerCooldown: 300 * time.Millisecond}})
	p := fixed(Limit{Day, 1000})
	ctx := context.Background()
	take(t, r, "k", p)

	srv.Stop()
	for i := range 3 {
		if _, err := r.Take(ctx, "k", p, 1); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("call %d on a dead server: %v, want ErrUnavailable", i+1, err)
		}
	}
	start := time.Now()
	_, err := r.Take(ctx, "k", p, 1)
	if elapsed := time.Since(start); !errors.Is(err, ErrUnavailable) || !errors.Is(err, errOpen) || elapsed > timeout/20 {
		t.Fatalf("with the breaker open: %v after %v, want ErrUnavailable at once", err, elapsed)
	}
	if _, err := r.Usage(ctx, "k", p); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Usage with the breaker open: %v", err)
	}

	srv.Restart() // empty: the count starts again
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := r.Take(ctx, "k", p, 1)
		if err == nil {
			if !d.Allowed || d.Windows[0].Remaining != 999 {
				t.Errorf("after the restart: %+v", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counting did not resume within 5s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRedisTimeoutAndBreakerWhenHung(t *testing.T) {
	srv := gwtest.StartRedis(t)
	const timeout = 300 * time.Millisecond
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}, Timeout: timeout, BreakerFailures: 2, BreakerCooldown: 500 * time.Millisecond}})
	p := sliding(Limit{Day, 1000})
	ctx := context.Background()
	take(t, r, "k", p)

	srv.Pause()
	for i := range 2 {
		start := time.Now()
		_, err := r.Take(ctx, "k", p, 1)
		elapsed := time.Since(start)
		if !errors.Is(err, ErrUnavailable) || elapsed < timeout-10*time.Millisecond || elapsed > timeout+200*time.Millisecond {
			t.Fatalf("call %d on a hung server: %v after %v, want ErrUnavailable after the %v timeout", i+1, err, elapsed, timeout)
		}
	}
	start := time.Now()
	if _, err := r.Take(ctx, "k", p, 1); !errors.Is(err, errOpen) || time.Since(start) > timeout/10 {
		t.Fatalf("with the breaker open: %v after %v, want the breaker's error at once", err, time.Since(start))
	}
	srv.Resume()
	time.Sleep(600 * time.Millisecond)
	d, err := r.Take(ctx, "k", p, 1)
	// A call that timed out after its script was written is still run
	// when the server wakes: it may have been counted (at most the two
	// that timed out).
	if err != nil || !d.Allowed || d.Windows[0].Remaining < 996 || d.Windows[0].Remaining > 998 {
		t.Fatalf("after the server came back: %+v, %v", d, err)
	}
}

func TestRedisCallerCancelDoesNotTrip(t *testing.T) {
	srv := gwtest.StartRedis(t)
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}, BreakerFailures: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Take(ctx, "k", fixed(Limit{Day, 5}), 1); err == nil {
		t.Fatal("a canceled call succeeded")
	}
	if d := take(t, r, "k", fixed(Limit{Day, 5})); !d.Allowed {
		t.Errorf("after a canceled call: %+v", d)
	}
}

func TestRedisScriptErrorIsNotUnavailable(t *testing.T) {
	// A key of the wrong type is Redis answering: an error, but not a
	// reason to open the breaker.
	srv := gwtest.StartRedis(t)
	c := adminClient(t, srv.Addr)
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}, BreakerFailures: 1}})
	c.Set(context.Background(), "turnpike:ratelimit:{bad}:fixed", "x", 0)
	for range 3 {
		_, err := r.Take(context.Background(), "bad", fixed(Limit{Day, 5}), 1)
		if err == nil || errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want a script error that is not ErrUnavailable", err)
		}
	}
	if d := take(t, r, "good", fixed(Limit{Day, 5})); !d.Allowed {
		t.Errorf("another key: %+v", d)
	}
}

func TestRedisClosed(t *testing.T) {
	srv := gwtest.StartRedis(t)
	r, err := NewRedis(RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	take(t, r, "k", fixed(Limit{Day, 5}))
	r.Close()
	r.Close()
	if _, err := r.Take(context.Background(), "k", fixed(Limit{Day, 5}), 1); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Take after Close: %v", err)
	}
	if _, err := r.Usage(context.Background(), "k", fixed(Limit{Day, 5})); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Usage after Close: %v", err)
	}
}

func TestNewRedisClientTypes(t *testing.T) {
	tests := []struct {
		name     string
		opts     RedisOptions
		cluster  bool
		failover bool
	}{
		{"one address", RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{"127.0.0.1:1"}, Database: 2}}, false, false},
		{"several addresses", RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}}}, true, false},
		{"cluster with one seed", RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{"127.0.0.1:1"}, Cluster: true}}, true, false},
		{"sentinel", RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, MasterName: "m", Database: 1}}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRedis(tt.opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			switch c := r.c.conn.Client().(type) {
			case *redis.ClusterClient:
				if !tt.cluster {
					t.Errorf("got a cluster client")
				}
			case *redis.Client:
				o := c.Options()
				if tt.cluster || tt.failover != (o.Addr == "FailoverClient") {
					t.Errorf("got a client for %q", o.Addr)
				}
				if o.DB != tt.opts.Database || o.ReadTimeout != 2*time.Second || !o.ContextTimeoutEnabled {
					t.Errorf("options: db %d, read timeout %v, context timeouts %v", o.DB, o.ReadTimeout, o.ContextTimeoutEnabled)
				}
			default:
				t.Errorf("unexpected client %T", c)
			}
		})
	}
	for _, opts := range []store.RedisOptions{
		{},
		{Addrs: []string{""}},
		{Addrs: []string{"a:1", "b:1"}, Database: 1},
		{Addrs: []string{"a:1"}, Cluster: true, Database: 1},
		{Addrs: []string{"a:1"}, Cluster: true, MasterName: "m"},
	} {
		if _, err := NewRedis(RedisOptions{RedisOptions: opts}, nil); err == nil {
			t.Errorf("NewRedis(%+v) accepted", opts)
		}
	}
}

func TestRedisSentinel(t *testing.T) {
	master := gwtest.StartRedis(t)
	sentinel := gwtest.StartRedisSentinel(t, master, "gw")
	c := adminClient(t, master.Addr)
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{sentinel.Addr}, MasterName: "gw"}})
	p := fixed(Limit{Day, 3})
	inOneWindow(t, c, Day, func(key string) {
		if got := takeN(t, r, key, p, 5); got != 3 {
			t.Errorf("admitted %d, want 3", got)
		}
		if n := c.Exists(context.Background(), "turnpike:ratelimit:{"+key+"}:fixed").Val(); n != 1 {
			t.Error("the count is not on the master")
		}
	})
}

func TestRedisCluster(t *testing.T) {
	// A one-node cluster serving every slot: the scripts' single key (with
	// its hash tag) is routed by slot and runs in cluster mode.
	srv := startCluster(t, 1)[0]
	c := adminClient(t, srv.Addr)
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}, Cluster: true}})
	if _, ok := r.c.conn.Client().(*redis.ClusterClient); !ok {
		t.Fatalf("got %T", r.c.conn.Client())
	}
	for _, p := range []*Policy{
		fixed(Limit{Day, 3}),
		sliding(Limit{Day, 3}),
		{Algorithm: TokenBucket, Rate: 1.0 / 3600, Burst: 2},
		{Algorithm: Fixed, Limits: []Limit{{Day, 3}}, Batch: 2},
	} {
		inOneWindow(t, c, Day, func(key string) {
			if got := takeN(t, r, key, p, 5); got != 3 {
				t.Errorf("%v: admitted %d, want 3", p.Algorithm, got)
			}
		})
	}
}

func TestRedisBatch(t *testing.T) {
	srv := gwtest.StartRedis(t)
	c := adminClient(t, srv.Addr)
	a := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}})
	b := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}})
	ctx := context.Background()
	for _, alg := range []Algorithm{Fixed, Sliding} {
		t.Run(alg.String(), func(t *testing.T) {
			p := &Policy{Algorithm: alg, Limits: []Limit{{Day, 25}}, Batch: 10}
			inOneWindow(t, c, Day, func(key string) {
				rkey := "turnpike:ratelimit:{" + key + "}:" + alg.String()
				counted := func() int64 { n, _ := c.HGet(ctx, rkey, "c3").Int64(); return n }
				// Node a takes a batch of 10 with its first request and
				// serves the next nine without Redis.
				d := take(t, a, key, p)
				if !d.Allowed || d.Windows[0].Remaining != 24 || counted() != 10 {
					t.Fatalf("first request: %+v, %d counted in Redis", d, counted())
				}
				if got := takeN(t, a, key, p, 9); got != 9 || counted() != 10 {
					t.Fatalf("admitted %d from the batch, %d counted in Redis", got, counted())
				}
				// Node b takes the next batch; a's eleventh request the
				// last 5.
				if got := takeN(t, b, key, p, 1); got != 1 || counted() != 20 {
					t.Fatalf("node b: admitted %d, %d counted", got, counted())
				}
				if got := takeN(t, a, key, p, 6); got != 5 || counted() != 25 {
					t.Errorf("node a again: admitted %d, want 5; %d counted", got, counted())
				}
				// b still holds 9: no node admits more than Redis granted,
				// and what is held but unused is the bounded under-admission.
				if got := takeN(t, b, key, p, 12); got != 9 {
					t.Errorf("node b's rest: admitted %d, want 9", got)
				}
			})
		})
	}
}

func TestRedisBatchLeaseFollowsThePolicy(t *testing.T) {
	srv := gwtest.StartRedis(t)
	c := adminClient(t, srv.Addr)
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}, MaxLeases: 1})
	p1 := &Policy{Algorithm: Fixed, Limits: []Limit{{Day, 100}}, Batch: 10}
	p2 := &Policy{Algorithm: Fixed, Limits: []Limit{{Day, 100}}, Batch: 10}
	inOneWindow(t, c, Day, func(key string) {
		take(t, r, key, p1)
		// A new policy (a reload) does not use the old one's lease.
		if d := take(t, r, key, p2); d.Windows[0].Remaining != 89 {
			t.Errorf("new policy: %+v", d)
		}
		// With the lease table full another key goes to Redis each time.
		other := key + "-other"
		take(t, r, other, p1)
		if d := take(t, r, other, p1); d.Windows[0].Remaining != 98 {
			t.Errorf("key without a lease: %+v", d)
		}
	})
}

func TestRedisBatchLeaseEndsWithItsWindow(t *testing.T) {
	// The lease's end is measured on the node's clock (here a fake one
	// set far from the server's): moving it past the window's length sends
	// the next request to Redis even though the lease holds permits.
	srv := gwtest.StartRedis(t)
	c := adminClient(t, srv.Addr)
	clock := newFakeClock(date(2001, 1, 1, 0, 0, 0, 0))
	r, err := NewRedis(RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := &Policy{Algorithm: Fixed, Limits: []Limit{{Day, 100}}, Batch: 10}
	inOneWindow(t, c, Day, func(key string) {
		counted := func() int64 {
			n, _ := c.HGet(context.Background(), "turnpike:ratelimit:{"+key+"}:fixed", "c3").Int64()
			return n
		}
		takeN(t, r, key, p, 2)
		clock.Advance(time.Second)
		if takeN(t, r, key, p, 1); counted() != 10 {
			t.Fatalf("%d counted within the lease, want 10", counted())
		}
		clock.Advance(24 * time.Hour)
		if takeN(t, r, key, p, 1); counted() != 20 {
			t.Errorf("%d counted after the lease's window, want 20", counted())
		}
	})
}

func TestSharedRedis(t *testing.T) {
	srv := gwtest.StartRedis(t)
	s := store.NewRedis()
	a, err := SharedRedis(s, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}, TLS: nil}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := SharedRedis(s, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}})
	if err != nil {
		t.Fatal(err)
	}
	if a.c != b.c || s.Clients() != 1 {
		t.Fatalf("equal options got %d clients", s.Clients())
	}
	other, err := SharedRedis(s, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}, Database: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if other.c == a.c || s.Clients() != 2 {
		t.Fatalf("different options share a client")
	}
	prefixed, err := SharedRedis(s, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}, KeyPrefix: "other:"})
	if err != nil {
		t.Fatal(err)
	}
	if prefixed.c == a.c || prefixed.c.conn != a.c.conn || s.Clients() != 2 {
		t.Fatalf("another key prefix: its own scripts and leases on the same client expected")
	}
	prefixed.Close()
	other.Close()
	p := fixed(Limit{Day, 5})
	take(t, a, "k", p)
	a.Close()
	a.Close()
	if _, err := a.Take(context.Background(), "k", p, 1); !errors.Is(err, ErrUnavailable) {
		t.Errorf("released store answered: %v", err)
	}
	if d := take(t, b, "k", p); !d.Allowed || s.Clients() != 1 {
		t.Errorf("the other store after a release: %+v, %d clients", d, s.Clients())
	}
	b.Close()
	b.Close()
	if s.Clients() != 0 {
		t.Errorf("%d clients after the last release", s.Clients())
	}
	if _, err := SharedRedis(s, RedisOptions{}); err == nil || err.Error() != "ratelimit: redis needs at least one address" {
		t.Errorf("invalid options: %v", err)
	}
}

func TestRedisKeyHashTag(t *testing.T) {
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{"127.0.0.1:1"}}})
	for alg, want := range map[Algorithm]string{
		Fixed:       "turnpike:ratelimit:{p1:10.0.0.1}:fixed",
		Sliding:     "turnpike:ratelimit:{p1:10.0.0.1}:sliding",
		TokenBucket: "turnpike:ratelimit:{p1:10.0.0.1}:bucket",
	} {
		if got := r.c.key("p1:10.0.0.1", alg); got != want {
			t.Errorf("%v: %q, want %q", alg, got, want)
		}
	}
}

// Each Redis round trip of a decision is noted in the request's record,
// with the node it went to; a lease served locally makes none.
func TestRedisCallsRecorded(t *testing.T) {
	srv := gwtest.StartRedis(t)
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}})
	rec := &record.Record{Time: time.Now()}
	ctx := WithRecord(context.Background(), rec)
	if _, err := r.Take(ctx, "calls", fixed(Limit{Minute, 10}), 1); err != nil {
		t.Fatal(err)
	}
	calls := rec.Calls()
	if len(calls) != 1 || calls[0].Kind != "redis" || calls[0].Name != "EVALSHA" || calls[0].Target != srv.Addr ||
		calls[0].Err || calls[0].Duration <= 0 || calls[0].Start < 0 {
		t.Fatalf("calls %+v", calls)
	}
	batched := &Policy{Algorithm: Fixed, Limits: []Limit{{Minute, 100}}, Batch: 10}
	r.Take(ctx, "leased", batched, 1)
	r.Take(ctx, "leased", batched, 1)
	if n := len(rec.Calls()); n != 2 {
		t.Fatalf("%d calls after a batch and a leased permit, want 2", n)
	}
	if _, err := r.Take(context.Background(), "calls", fixed(Limit{Minute, 10}), 1); err != nil || len(rec.Calls()) != 2 {
		t.Fatalf("a call without the record was recorded: %v", err)
	}
}
