package aggregate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cachestore"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
	"github.com/turnpikegw/turnpike/internal/plugins/proxycache"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/store"
)

// countingServer answers JSON after delay and counts its requests.
func countingServer(t testing.TB, delay time.Duration, status int, body string) (*atomic.Int64, string) {
	var n atomic.Int64
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
	return &n, srv.URL
}

// cachedRequest is a request on route r1, by consumer (none when "").
func cachedRequest(target, consumer string) *plugin.Ctx {
	c := request(target)
	c.Route = &plugin.RouteInfo{ID: "r1", Name: "dash"}
	if consumer != "" {
		c.Consumer = &plugin.Consumer{ID: consumer}
	}
	return c
}

// timed runs the aggregation and returns its answer and duration.
func timed(t *testing.T, in *instance, c *plugin.Ctx) (*plugin.Exit, time.Duration) {
	t.Helper()
	t0 := time.Now()
	e := aggregate(t, in, c)
	return e, time.Since(t0)
}

// A slow call with a cache_ttl is served from the cache on the next
// request while the other call is live; the hit is in the record and the
// answer's header, not among the upstream attempts.
func TestCacheServesSlowCallWhileOthersAreLive(t *testing.T) {
	const slowFor = 300 * time.Millisecond
	slowHits, slow := countingServer(t, slowFor, 200, `{"recs":[1,2]}`)
	liveHits, live := countingServer(t, 0, 200, `{"n":1}`)
	in := build(t, plugin.Env{},
		Call{Name: "recs", URL: slow + "/recs/{captures.id}", Group: ptr("recs"), CacheTTL: ptr(60)},
		Call{Name: "user", URL: live + "/u", Group: ptr("user")},
	)
	c := cachedRequest("/api/7", "")
	c.Captures = plugin.Captures{Positional: []string{"/api/7", "7"}, Names: []string{"", "id"}}
	first, took := timed(t, in, c)
	if took < slowFor || first.Header.Get(hitHeader) != "" {
		t.Fatalf("first request took %v with hits %q; want the slow call live", took, first.Header.Get(hitHeader))
	}
	c = cachedRequest("/api/7", "")
	c.Captures = plugin.Captures{Positional: []string{"/api/7", "7"}, Names: []string{"", "id"}}
	second, took := timed(t, in, c)
	if took >= slowFor/2 {
		t.Errorf("second request took %v; want the slow call from the cache", took)
	}
	if string(second.Body) != string(first.Body) || second.Header.Get(hitHeader) != "recs" ||
		second.Header.Get("X-Turnpike-Completed") != "true" {
		t.Errorf("second answer %s %v; want the first's with recs a hit", second.Body, second.Header)
	}
	if slowHits.Load() != 1 || liveHits.Load() != 2 {
		t.Errorf("backend requests: slow %d, live %d; want 1 and 2", slowHits.Load(), liveHits.Load())
	}
	if n := len(c.Record.Attempts); n != 1 || c.Record.Attempts[0].Call != "user" {
		t.Errorf("attempts %+v; want only the live call", c.Record.Attempts)
	}
	if calls := c.Record.Calls(); len(calls) != 1 || calls[0].Kind != "cache" || calls[0].Name != "hit recs" {
		t.Errorf("record calls %+v; want the hit", calls)
	}
}

// The key holds the consumer, the rendered URL and the forwarded headers:
// a consumer's answer is never another's, nor one of another path or
// token; only 200 answers are kept; an entry goes with its cache_ttl.
func TestCacheKeyAndExpiry(t *testing.T) {
	hits, url := countingServer(t, 0, 200, `{"a":1}`)
	in := build(t, plugin.Env{},
		Call{Name: "a", URL: url + "/x?id={query.id}", CacheTTL: ptr(1), ForwardHeaders: []string{"Authorization"}},
	)
	run := func(target, consumer, auth string) {
		c := cachedRequest(target, consumer)
		if auth != "" {
			c.Req.Header.Set("Authorization", auth)
		}
		aggregate(t, in, c)
	}
	steps := []struct {
		target, consumer, auth string
		want                   int64
	}{
		{"/?id=1", "alice", "", 1},
		{"/?id=1", "alice", "", 1},
		{"/?id=1", "bob", "", 2},
		{"/?id=1", "", "", 3},
		{"/?id=2", "alice", "", 4},
		{"/?id=1", "alice", "Bearer x", 5},
		{"/?id=1", "alice", "Bearer y", 6},
		{"/?id=1", "alice", "Bearer y", 6},
	}
	for i, s := range steps {
		run(s.target, s.consumer, s.auth)
		if got := hits.Load(); got != s.want {
			t.Fatalf("step %d %+v: %d backend requests, want %d", i, s, got, s.want)
		}
	}
	time.Sleep(1100 * time.Millisecond)
	run("/?id=1", "alice", "")
	if got := hits.Load(); got != 7 {
		t.Errorf("after the ttl: %d backend requests, want 7", got)
	}

	created, url := countingServer(t, 0, 201, `{"a":1}`)
	in = build(t, plugin.Env{}, Call{Name: "a", URL: url + "/", CacheTTL: ptr(60)})
	for range 2 {
		aggregate(t, in, cachedRequest("/", ""))
	}
	if created.Load() != 2 {
		t.Errorf("a 201 answer was served from the cache (%d requests)", created.Load())
	}
}

// With the redis strategy the entries are in a real redis-server, so
// another node (another instance on its own client) hits what the first
// stored, and an invalidation of the dictionary reaches both.
func TestCacheRedisStrategy(t *testing.T) {
	r := gwtest.StartRedis(t)
	hits, url := countingServer(t, 0, 200, `{"a":1}`)
	node := func() *instance {
		cfg := &Config{}
		cfg.SetDefaults()
		cfg.Calls = []Call{{Name: "a", URL: url + "/", CacheTTL: ptr(60)}}
		cfg.Cache.Strategy = strategyRedis
		cfg.Cache.Redis.Host, cfg.Cache.Redis.Port = ptr("127.0.0.1"), ptr(r.Port)
		return buildCfg(t, plugin.Env{Store: store.NewProvider()}, cfg)
	}
	a, b := node(), node()
	aggregate(t, a, cachedRequest("/", ""))
	e := aggregate(t, b, cachedRequest("/", ""))
	if hits.Load() != 1 || e.Header.Get(hitHeader) != "a" {
		t.Fatalf("%d backend requests, hits %q; want the second node served from Redis", hits.Load(), e.Header.Get(hitHeader))
	}
	if n, err := b.cache.Invalidate(t.Context(), cachestore.Selector{All: true}); err != nil || n != 1 {
		t.Fatalf("invalidate: %d %v", n, err)
	}
	aggregate(t, a, cachedRequest("/", ""))
	if hits.Load() != 2 {
		t.Errorf("%d backend requests after the flush, want 2", hits.Load())
	}
}

func BenchmarkCacheKey(b *testing.B) {
	in := build(b, plugin.Env{}, Call{Name: "a", URL: "http://h/x/{captures.id}", CacheTTL: ptr(60),
		ForwardHeaders: []string{"Authorization"}})
	c := cachedRequest("/1", "alice")
	c.Req.Header.Set("Authorization", "Bearer "+strconv.Itoa(12345))
	var buf []byte
	target := []byte("/x/1")
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = cacheKey(buf, c, &in.calls[0], target, c.Req.Header)
	}
}

// BenchmarkCachedAggregate is three calls all served from a memory
// cache: the cost of an aggregation whose backends are not asked.
func BenchmarkCachedAggregate(b *testing.B) {
	srv := jsonServer(b, `{"id":1,"name":"a","items":[1,2,3]}`)
	in := build(b, plugin.Env{},
		Call{Name: "a", URL: srv.URL + "/a", Group: ptr("a"), CacheTTL: ptr(600)},
		Call{Name: "b", URL: srv.URL + "/b", Group: ptr("b"), CacheTTL: ptr(600)},
		Call{Name: "c", URL: srv.URL + "/c", Group: ptr("c"), CacheTTL: ptr(600)},
	)
	c := cachedRequest("/", "")
	aggregate(b, in, c)
	b.ReportAllocs()
	for b.Loop() {
		*c.Record = record.Record{}
		if e := aggregate(b, in, c); e.Header.Get(hitHeader) != "a, b, c" {
			b.Fatalf("hits %q", e.Header.Get(hitHeader))
		}
	}
}

// serve runs the admin route method path of reg on a.
func serve(t *testing.T, reg plugin.Registration, a plugin.Admin, method, path string) int {
	t.Helper()
	for _, rt := range reg.Admin {
		if rt.Method == method && rt.Path == path {
			w := httptest.NewRecorder()
			rt.Serve(a, w, httptest.NewRequest(method, path, nil))
			return w.Code
		}
	}
	t.Fatalf("no admin route %s %s", method, path)
	return 0
}

// DELETE /aggregate/cache empties the aggregate caches; with Redis, a
// proxy-cache naming the same server and dictionary shares the namespace,
// so its DELETE /proxy-cache purges the calls' entries too.
func TestCachePurgedByAdminRoutes(t *testing.T) {
	hits, url := countingServer(t, 0, 200, `{"a":1}`)
	mem := build(t, plugin.Env{}, Call{Name: "a", URL: url + "/", CacheTTL: ptr(60)})
	aggregate(t, mem, cachedRequest("/", ""))
	aggregate(t, mem, cachedRequest("/", ""))
	a := &plugintest.Admin{PluginList: []plugin.AdminPlugin{{ID: "p1", Name: pluginName, Enabled: true, Instance: mem}}}
	if code := serve(t, Registration(), a, http.MethodDelete, "/aggregate/cache"); code != http.StatusNoContent {
		t.Fatalf("DELETE /aggregate/cache: %d", code)
	}
	aggregate(t, mem, cachedRequest("/", ""))
	if hits.Load() != 2 {
		t.Fatalf("%d backend requests, want 2 (one after the flush)", hits.Load())
	}

	r := gwtest.StartRedis(t)
	cfg := &Config{}
	cfg.SetDefaults()
	cfg.Calls = []Call{{Name: "a", URL: url + "/", CacheTTL: ptr(60)}}
	cfg.Cache.Strategy = strategyRedis
	cfg.Cache.Redis.Host, cfg.Cache.Redis.Port = ptr("127.0.0.1"), ptr(r.Port)
	agg := buildCfg(t, plugin.Env{}, cfg)
	pcReg := proxycache.Registration()
	pcCfg := pcReg.NewConfig().(*proxycache.Config)
	pcCfg.SetDefaults()
	pcCfg.Strategy = "redis"
	pcCfg.Redis.Host, pcCfg.Redis.Port = ptr("127.0.0.1"), ptr(r.Port)
	pc, err := pcReg.New(pcCfg, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pc.(plugin.Closer).Close)
	aggregate(t, agg, cachedRequest("/", ""))
	aggregate(t, agg, cachedRequest("/", ""))
	a = &plugintest.Admin{PluginList: []plugin.AdminPlugin{{ID: "p2", Name: "proxy-cache", Enabled: true, Instance: pc}}}
	if code := serve(t, pcReg, a, http.MethodDelete, "/proxy-cache"); code != http.StatusNoContent {
		t.Fatalf("DELETE /proxy-cache: %d", code)
	}
	aggregate(t, agg, cachedRequest("/", ""))
	if hits.Load() != 4 {
		t.Errorf("%d backend requests, want 4 (one after proxy-cache's purge)", hits.Load())
	}
}

// slowStore is a memory store whose writes take delay and note whether
// their context was still live when they ended.
type slowStore struct {
	cachestore.Store
	delay time.Duration
	done  chan error
}

func (s *slowStore) Set(ctx context.Context, key string, entry []byte, ttl time.Duration, meta cachestore.Meta) error {
	time.Sleep(s.delay)
	s.done <- ctx.Err()
	return s.Store.Set(ctx, key, entry, ttl, meta)
}

// A miss answers without waiting for its cache write, which the end of
// the request does not cancel.
func TestCacheWriteDoesNotDelayTheAnswer(t *testing.T) {
	_, url := countingServer(t, 0, 200, `{"a":1}`)
	in := build(t, plugin.Env{}, Call{Name: "a", URL: url + "/a", CacheTTL: ptr(60)})
	slow := &slowStore{Store: in.cache, delay: 300 * time.Millisecond, done: make(chan error, 1)}
	in.cache = slow
	t0 := time.Now()
	if err := in.Access(cachedRequest("/", "")); err.(*plugin.Exit).Status != 200 {
		t.Fatal(err)
	}
	if took := time.Since(t0); took >= slow.delay {
		t.Errorf("answered after %v: waited for the cache write", took)
	}
	if err := <-slow.done; err != nil {
		t.Errorf("the write's context ended with the request: %v", err)
	}
	settle(in)
	if e := aggregate(t, in, cachedRequest("/", "")); e.Header.Get(hitHeader) != "a" {
		t.Errorf("second answer not from the cache: %v", e.Header)
	}
}
