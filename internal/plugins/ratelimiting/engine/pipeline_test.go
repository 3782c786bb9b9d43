package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/store"
)

// infoField is a numeric field of srv's INFO section.
func infoField(t testing.TB, c *redis.Client, section, field string) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("INFO %s: %q", field, line)
			}
			return n
		}
	}
	return 0
}

// scriptLoads is how many SCRIPT LOAD srv has run.
func scriptLoads(t testing.TB, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "cmdstat_script|load:calls="); ok {
			n, err := strconv.ParseInt(v[:strings.IndexByte(v, ',')], 10, 64)
			if err != nil {
				t.Fatalf("commandstats: %q", line)
			}
			return n
		}
	}
	return 0
}

// busy waits until r has the given number of round trips in flight and
// n calls queued behind them.
func busy(t *testing.T, r *Redis, sending, n int) {
	t.Helper()
	p := r.c.pipe
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		gotSending, got := p.sending, len(p.queue)
		p.mu.Unlock()
		if gotSending == sending && got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d round trips in flight and %d calls queued, want %d and %d", gotSending, got, sending, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRedisPipelinedDecisionsAreExact(t *testing.T) {
	// 1,000 concurrent requests on two nodes share round trips, and each
	// caller gets its own reply: the 100 admitted see the counts 99 down
	// to 0 once each.
	srv := gwtest.StartRedis(t)
	c := adminClient(t, srv.Addr)
	nodes := []*Redis{
		newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}}),
		newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}}}),
	}
	for _, p := range []*Policy{
		fixed(Limit{Minute, 100}, Limit{Day, 1000}),
		sliding(Limit{Minute, 100}),
		{Algorithm: TokenBucket, Rate: 1.0 / 3600, Burst: 99, NoDelay: true},
	} {
		t.Run(p.Algorithm.String(), func(t *testing.T) {
			inOneWindow(t, c, Minute, func(key string) {
				reads := infoField(t, c, "stats", "total_reads_processed")
				var mu sync.Mutex
				var remaining []int64
				var rejected, failed atomic.Int64
				var wg sync.WaitGroup
				for i := range 1000 {
					wg.Go(func() {
						d, err := nodes[i%2].Take(context.Background(), key, p, 1)
						switch {
						case err != nil:
							failed.Add(1)
						case d.Allowed:
							mu.Lock()
							remaining = append(remaining, d.Windows[0].Remaining)
							mu.Unlock()
						case d.Windows[0].Remaining != 0 || d.RetryAfter <= 0:
							t.Errorf("rejected with %+v", d)
						default:
							rejected.Add(1)
						}
					})
				}
				wg.Wait()
				slices.Sort(remaining)
				for i, r := range remaining {
					if r != int64(i) {
						t.Fatalf("admitted %d with remaining counts %v, want 0 to 99 once each", len(remaining), remaining)
					}
				}
				if len(remaining) != 100 || rejected.Load() != 900 || failed.Load() != 0 {
					t.Errorf("admitted %d, rejected %d, %d errors", len(remaining), rejected.Load(), failed.Load())
				}
				// Redis read far fewer times than it was asked.
				if n := infoField(t, c, "stats", "total_reads_processed") - reads; n > 500 {
					t.Errorf("1,000 decisions took %d reads by Redis: not pipelined", n)
				}
			})
		})
	}
}

func TestRedisCallerGivesUpWhileItsPipelineIsInFlight(t *testing.T) {
	srv := gwtest.StartRedis(t)
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}, Timeout: 2 * time.Second, PoolSize: 1, BreakerFailures: 1}})
	p := fixed(Limit{Day, 1000})
	take(t, r, "k", p)
	srv.Pause()
	type answer struct {
		err     error
		elapsed time.Duration
	}
	call := func(ctx context.Context, to chan<- answer) {
		start := time.Now()
		_, err := r.Take(ctx, "k", p, 1)
		to <- answer{err, time.Since(start)}
	}
	// A takes the only round trip and gives up after 200ms; B and C wait
	// behind it, and leave together in one pipeline when A's ends.
	a, b, c := make(chan answer, 1), make(chan answer, 1), make(chan answer, 1)
	ctxA, cancelA := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelA()
	go call(ctxA, a)
	busy(t, r, 1, 0)
	go call(context.Background(), b)
	ctxC, cancelC := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancelC()
	go call(ctxC, c)
	busy(t, r, 1, 2)
	for name, ch := range map[string]chan answer{"A": a, "C": c} {
		got := <-ch
		want := 200 * time.Millisecond
		if name == "C" {
			want = 600 * time.Millisecond
		}
		if !errors.Is(got.err, ErrUnavailable) || !errors.Is(got.err, context.DeadlineExceeded) ||
			got.elapsed < want-10*time.Millisecond || got.elapsed > want+3*time.Second {
			t.Errorf("%s: %v after %v, want ErrUnavailable at its deadline (%v)", name, got.err, got.elapsed, want)
		}
	}
	select {
	case got := <-b:
		t.Fatalf("B answered while Redis is paused: %v", got.err)
	default:
	}
	srv.Resume()
	if got := <-b; got.err != nil {
		t.Fatalf("B, in C's pipeline: %v", got.err)
	}
	// Callers that gave up are no fault of Redis: the breaker saw no
	// failure. Their scripts may still have run.
	if n := r.c.conn.Breaker().Counts().TotalFailures; n != 0 {
		t.Errorf("the breaker saw %d failures", n)
	}
	if d := take(t, r, "k", p); !d.Allowed || d.Windows[0].Remaining < 995 || d.Windows[0].Remaining > 996 {
		t.Errorf("afterwards: %+v", d)
	}
}

func TestRedisTimeoutCountsFromEachCall(t *testing.T) {
	// One pipeline at a time, on a hung server: a call queued behind the
	// first pipeline gets its whole timeout, no more, and each pipeline
	// is one failure for the breaker.
	srv := gwtest.StartRedis(t)
	c := adminClient(t, srv.Addr)
	const timeout = 300 * time.Millisecond
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}, Timeout: timeout, PoolSize: 1, BreakerFailures: 10}})
	p := fixed(Limit{Day, 1000})
	inOneWindow(t, c, Day, func(key string) {
		take(t, r, key, p)
		srv.Pause()
		first := make(chan error, 1)
		go func() {
			_, err := r.Take(context.Background(), key, p, 1)
			first <- err
		}()
		time.Sleep(timeout / 2)
		start := time.Now()
		_, err := r.Take(context.Background(), key, p, 1)
		if elapsed := time.Since(start); !errors.Is(err, ErrUnavailable) || elapsed < timeout-20*time.Millisecond || elapsed > timeout+2*time.Second {
			t.Errorf("queued call: %v after %v, want ErrUnavailable after about %v", err, elapsed, timeout)
		}
		if err := <-first; !errors.Is(err, ErrUnavailable) {
			t.Errorf("first call: %v", err)
		}
		deadline := time.Now().Add(time.Second)
		for r.c.conn.Breaker().Counts().TotalFailures != 2 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := r.c.conn.Breaker().Counts().TotalFailures; n != 2 {
			t.Errorf("the breaker saw %d failures, want 2 (one per pipeline)", n)
		}
		srv.Resume()
	})
}

func TestRedisFailedPipelineIsOneBreakerFailure(t *testing.T) {
	srv := gwtest.StartRedis(t)
	const timeout = time.Second // time to queue 99 calls behind the first
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}, Timeout: timeout, PoolSize: 1, BreakerFailures: 3}})
	p := fixed(Limit{Day, 1000})
	take(t, r, "k", p)
	srv.Pause()
	// One call is in flight; 99 wait for it and then share one pipeline.
	errs := make(chan error, 100)
	go func() {
		_, err := r.Take(context.Background(), "k", p, 1)
		errs <- err
	}()
	busy(t, r, 1, 0)
	for range 99 {
		go func() {
			_, err := r.Take(context.Background(), "k", p, 1)
			errs <- err
		}()
	}
	busy(t, r, 1, 99)
	for range 100 {
		if err := <-errs; !errors.Is(err, ErrUnavailable) {
			t.Fatalf("call on a hung server: %v", err)
		}
	}
	if n := r.c.conn.Breaker().Counts().ConsecutiveFailures; n > 2 {
		t.Errorf("100 failed calls in 2 pipelines counted %d failures", n)
	}
	srv.Resume()
	if _, err := r.Take(context.Background(), "k", p, 1); err != nil {
		t.Errorf("the breaker opened: %v", err)
	}
}

func TestRedisNoScriptInsidePipeline(t *testing.T) {
	// After SCRIPT FLUSH, a pipeline of window and bucket calls gets
	// NOSCRIPT for each: every script is loaded once and its calls sent
	// again, and each is counted once.
	srv := gwtest.StartRedis(t)
	c := adminClient(t, srv.Addr)
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}, PoolSize: 1}})
	ctx := context.Background()
	windows := fixed(Limit{Day, 100})
	bucket := &Policy{Algorithm: TokenBucket, Rate: 1.0 / 3600, Burst: 99, NoDelay: true}
	inOneWindow(t, c, Day, func(key string) {
		take(t, r, key, windows)
		take(t, r, key, bucket)
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		loads := scriptLoads(t, c)
		srv.Pause()
		// A first call takes the only pipeline; the other 40 queue up and
		// leave together.
		var wg sync.WaitGroup
		var remaining [2][]int64
		var mu sync.Mutex
		do := func(i int, p *Policy) {
			d, err := r.Take(ctx, key, p, 1)
			if err != nil || !d.Allowed {
				t.Errorf("call %d: %+v, %v", i, d, err)
				return
			}
			mu.Lock()
			remaining[i%2] = append(remaining[i%2], d.Windows[0].Remaining)
			mu.Unlock()
		}
		wg.Go(func() { do(0, windows) })
		busy(t, r, 1, 0)
		for i := range 40 {
			p := windows
			if i%2 == 1 {
				p = bucket
			}
			wg.Go(func() { do(i, p) })
		}
		busy(t, r, 1, 40)
		srv.Resume()
		wg.Wait()
		// The first pipeline loaded the windows script, the second the
		// bucket's: two loads for 41 calls.
		if n := scriptLoads(t, c) - loads; n != 2 {
			t.Errorf("%d SCRIPT LOAD, want 2", n)
		}
		for i, want := range [][2]int64{{78, 98}, {79, 98}} {
			slices.Sort(remaining[i])
			if len(remaining[i]) != 20+1-i || remaining[i][0] != want[0] || remaining[i][len(remaining[i])-1] != want[1] {
				t.Errorf("script %d: remaining %v, want %d..%d", i, remaining[i], want[0], want[1])
			}
		}
	})
}

func TestRedisCloseWithPendingCalls(t *testing.T) {
	// Closing a store fails its pending calls at once, those in flight to
	// a hung server included, and ends its workers (goleak checks).
	srv := gwtest.StartRedis(t)
	const timeout = 5 * time.Second
	r, err := NewRedis(RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{srv.Addr}, Timeout: timeout, PoolSize: 2}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := fixed(Limit{Day, 1000})
	take(t, r, "k", p)
	srv.Pause()
	defer srv.Resume()
	errs := make(chan error, 20)
	call := func() {
		_, err := r.Take(context.Background(), "k", p, 1)
		errs <- err
	}
	// Two pipelines in flight, 18 calls queued.
	go call()
	busy(t, r, 1, 0)
	go call()
	busy(t, r, 2, 0)
	for range 18 {
		go call()
	}
	busy(t, r, 2, 18)
	start := time.Now()
	r.Close()
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Close took %v", elapsed)
	}
	for range 20 {
		if err := <-errs; !errors.Is(err, ErrUnavailable) {
			t.Errorf("pending call: %v, want ErrUnavailable", err)
		}
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("pending calls answered after %v", elapsed)
	}
	if _, err := r.Take(context.Background(), "k", p, 1); !errors.Is(err, errClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// startCluster starts a Redis Cluster of n masters splitting the slots
// evenly, and returns them once every node sees the cluster as ok.
func startCluster(t *testing.T, n int) []*gwtest.Redis {
	t.Helper()
	ctx := context.Background()
	nodes := make([]*gwtest.Redis, n)
	bus := make([]int, n)
	for i := range nodes {
		// The cluster bus port, by default the port + 10000, may not
		// exist for a port above 55535: give it a free port.
		bus[i] = freePort(t)
		nodes[i] = gwtest.StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus[i]))
		c := adminClient(t, nodes[i].Addr)
		if err := c.ClusterAddSlotsRange(ctx, i*16384/n, (i+1)*16384/n-1).Err(); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := c.Do(ctx, "cluster", "meet", "127.0.0.1", nodes[0].Port, bus[0]).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, node := range nodes {
		c := adminClient(t, node.Addr)
		for {
			info := c.ClusterInfo(ctx).Val()
			if strings.Contains(info, "cluster_state:ok") && strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d\r\n", n)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the cluster did not come up: %s", info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestRedisClusterPipelinesSplitByNode(t *testing.T) {
	// Concurrent calls for keys on three masters share pipelines, which
	// go-redis splits by node; every key is counted exactly, on its own
	// node.
	nodes := startCluster(t, 3)
	r := newRedisStore(t, RedisOptions{RedisOptions: store.RedisOptions{Addrs: []string{nodes[0].Addr}, Cluster: true, PoolSize: 1}})
	admins := make([]*redis.Client, len(nodes))
	for i, n := range nodes {
		admins[i] = adminClient(t, n.Addr)
	}
	p := fixed(Limit{Day, 10})
	inOneWindow(t, admins[0], Day, func(prefix string) {
		const keys = 30
		var admitted [keys]atomic.Int64
		var failed atomic.Int64
		var wg sync.WaitGroup
		for i := range keys * 15 {
			wg.Go(func() {
				d, err := r.Take(context.Background(), fmt.Sprintf("%s-%d", prefix, i%keys), p, 1)
				switch {
				case err != nil:
					failed.Add(1)
				case d.Allowed:
					admitted[i%keys].Add(1)
				}
			})
		}
		wg.Wait()
		if failed.Load() != 0 {
			t.Fatalf("%d calls failed", failed.Load())
		}
		perNode := make([]int, len(nodes))
		for k := range keys {
			if n := admitted[k].Load(); n != 10 {
				t.Errorf("key %d: admitted %d, want 10", k, n)
			}
			rkey := fmt.Sprintf("turnpike:ratelimit:{%s-%d}:fixed", prefix, k)
			for i, c := range admins {
				if v, err := c.HGet(context.Background(), rkey, "c3").Int64(); err == nil {
					perNode[i]++
					if v != 10 {
						t.Errorf("key %d counted %d on node %d", k, v, i)
					}
				}
			}
		}
		for i, n := range perNode {
			if n == 0 {
				t.Errorf("no key on node %d of %v", i, perNode)
			}
		}
	})
}
