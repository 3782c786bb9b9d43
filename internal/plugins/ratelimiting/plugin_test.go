package ratelimiting

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
	"github.com/turnpikegw/turnpike/internal/plugins/ratelimiting/engine"
	"github.com/turnpikegw/turnpike/internal/store"
)

// fakeClock is a settable clock for the store.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// build makes an instance from a config document, closed when the test
// ends; a nil clock is the wall clock.
func build(t testing.TB, doc string, clock *fakeClock, env ...plugin.Env) *Instance {
	t.Helper()
	s, errs := compile(decode(t, doc))
	if errs != nil {
		t.Fatal(errs)
	}
	var e plugin.Env
	if len(env) > 0 {
		e = env[0]
	}
	var c engine.Clock
	if clock != nil {
		c = clock.Now
	}
	in, err := newInstance(s, e, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	return in
}

func newCtx(ip string) *plugin.Ctx {
	r := httptest.NewRequest(http.MethodGet, "/test", nil)
	return &plugin.Ctx{
		Req: r, Method: r.Method, ClientIP: ip, ClientPath: "/test", RequestID: "req-1",
		Route:   &plugin.RouteInfo{ID: "r-1", Paths: []string{"/test"}},
		Service: &plugin.ServiceInfo{ID: "s-1"},
		Resp:    plugin.Response{Header: http.Header{}},
	}
}

// result is what one request got: its status and the rate-limit headers
// the client would see.
type result struct {
	status int
	header http.Header
	exit   *plugin.Exit
}

// send runs the access phase and, as the proxy does, the header filter on
// the response (the upstream's 200 or the plugin's answer).
func send(t testing.TB, in *Instance, c *plugin.Ctx) result {
	t.Helper()
	err := in.Access(c)
	res := result{status: http.StatusOK}
	if err != nil {
		if !errors.As(err, &res.exit) {
			t.Fatalf("Access returned %v, want an *plugin.Exit", err)
		}
		res.status = res.exit.Status
		for k, v := range res.exit.Header {
			c.Resp.Header[k] = v
		}
	}
	in.HeaderFilter(c)
	res.header = c.Resp.Header
	return res
}

func num(t testing.TB, h http.Header, name string) int {
	t.Helper()
	v := h.Get(name)
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s = %q", name, v)
	}
	return n
}

// TestKongHeaders is the sequence of Kong's validate_headers: a limit of 6
// a minute, seven requests.
func TestKongHeaders(t *testing.T) {
	for _, doc := range []string{`{minute: 6}`, `{minute: 6, hour: 99999}`} {
		t.Run(doc, func(t *testing.T) {
			clock := &fakeClock{now: time.Date(2026, 3, 1, 10, 20, 30, 0, time.UTC)}
			in := build(t, doc, clock)
			var status, minuteLimit, minuteRemaining, limit, remaining []int
			for range 7 {
				res := send(t, in, newCtx("192.0.2.1"))
				status = append(status, res.status)
				minuteLimit = append(minuteLimit, num(t, res.header, "X-RateLimit-Limit-Minute"))
				minuteRemaining = append(minuteRemaining, num(t, res.header, "X-RateLimit-Remaining-Minute"))
				limit = append(limit, num(t, res.header, "RateLimit-Limit"))
				remaining = append(remaining, num(t, res.header, "RateLimit-Remaining"))
				if reset := num(t, res.header, "RateLimit-Reset"); reset != 30 {
					t.Fatalf("RateLimit-Reset = %d, want 30 (the minute's end)", reset)
				}
				if res.header.Get("X-RateLimit-Limit-Hour") != "" {
					if num(t, res.header, "X-RateLimit-Limit-Hour") != 99999 {
						t.Fatal("hour limit header")
					}
				}
			}
			want := [][]int{
				{200, 200, 200, 200, 200, 200, 429},
				{6, 6, 6, 6, 6, 6, 6},
				{5, 4, 3, 2, 1, 0, 0},
				{6, 6, 6, 6, 6, 6, 6},
				{5, 4, 3, 2, 1, 0, 0},
			}
			if diff := cmp.Diff(want, [][]int{status, minuteLimit, minuteRemaining, limit, remaining}); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			// The minute rolls over: counting starts again.
			clock.Add(30 * time.Second)
			if res := send(t, in, newCtx("192.0.2.1")); res.status != 200 || res.header.Get("X-RateLimit-Remaining-Minute") != "5" {
				t.Fatalf("after the minute: %d %v", res.status, res.header)
			}
		})
	}
}

// TestFractionalLimitHeaders: as Kong, a fractional limit is sent as it
// is and its remaining count is limit - usage (never below 0), while the
// requests admitted are the limit's ceiling; the most restrictive window
// is chosen on those numbers.
func TestFractionalLimitHeaders(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 10, 20, 30, 0, time.UTC)}
	in := build(t, `{minute: 2.5, hour: 3}`, clock)
	var got []string
	for range 4 {
		res := send(t, in, newCtx("192.0.2.1"))
		h := res.header
		got = append(got, strings.Join([]string{
			strconv.Itoa(res.status),
			h.Get("X-RateLimit-Limit-Minute"), h.Get("X-RateLimit-Remaining-Minute"),
			h.Get("X-RateLimit-Limit-Hour"), h.Get("X-RateLimit-Remaining-Hour"),
			h.Get("RateLimit-Limit"), h.Get("RateLimit-Remaining"),
		}, " "))
	}
	want := []string{
		"200 2.5 1.5 3 2 2.5 1.5",
		"200 2.5 0.5 3 1 2.5 0.5",
		"200 2.5 0 3 0 3 0",
		"429 2.5 0 3 0 3 0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("status, minute limit and remaining, hour limit and remaining, RateLimit-Limit and -Remaining (-want +got):\n%s", diff)
	}
	// Kong's tostring (%.14g) hides the binary noise of 2.2 - 1.
	in = build(t, `{second: 2.2}`, clock)
	if res := send(t, in, newCtx("192.0.2.1")); res.header.Get("X-RateLimit-Remaining-Second") != "1.2" ||
		res.header.Get("X-RateLimit-Limit-Second") != "2.2" {
		t.Fatalf("2.2: %v", res.header)
	}
}

func TestRefusal(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 10, 20, 15, 0, time.UTC)}
	in := build(t, `{minute: 1, error_code: 404, error_message: Fake Not Found}`, clock)
	send(t, in, newCtx("192.0.2.1"))
	res := send(t, in, newCtx("192.0.2.1"))
	if res.exit == nil || res.exit.Status != 404 || res.exit.Message != "Fake Not Found" || res.exit.Body != nil {
		t.Fatalf("exit = %+v", res.exit)
	}
	want := http.Header{
		"X-Ratelimit-Limit-Minute":     {"1"},
		"X-Ratelimit-Remaining-Minute": {"0"},
		"Ratelimit-Limit":              {"1"},
		"Ratelimit-Remaining":          {"0"},
		"Ratelimit-Reset":              {"45"},
		"Retry-After":                  {"45"},
	}
	if diff := cmp.Diff(want, res.header); diff != "" {
		t.Fatalf("headers (-want +got):\n%s", diff)
	}
	// Another client is counted apart.
	if res := send(t, in, newCtx("192.0.2.2")); res.status != 200 {
		t.Fatalf("other IP: %d", res.status)
	}
}

// TestMostRestrictive: RateLimit-* describe the window with the fewest
// requests left, the longer one on a tie, and Retry-After the time until
// every blocking window frees.
func TestMostRestrictive(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 10, 20, 50, 0, time.UTC)}
	in := build(t, `{second: 3, minute: 3, hour: 10}`, clock)
	res := send(t, in, newCtx("ip"))
	// second and minute both have 2 left: the minute wins the tie.
	if res.header.Get("RateLimit-Limit") != "3" || res.header.Get("RateLimit-Reset") != "10" {
		t.Fatalf("first: %v", res.header)
	}
	send(t, in, newCtx("ip"))
	send(t, in, newCtx("ip"))
	res = send(t, in, newCtx("ip"))
	if res.status != 429 || res.header.Get("Retry-After") != "10" || res.header.Get("RateLimit-Reset") != "10" {
		t.Fatalf("refused: %d %v", res.status, res.header)
	}
	if res.header.Get("X-RateLimit-Remaining-Hour") != "7" {
		t.Fatalf("a refused request was counted: %v", res.header)
	}
}

func TestHideClientHeaders(t *testing.T) {
	in := build(t, `{minute: 1, hide_client_headers: true}`, nil)
	for i, want := range []int{200, 429} {
		res := send(t, in, newCtx("ip"))
		if res.status != want || len(res.header) != 0 {
			t.Fatalf("request %d: %d %v", i, res.status, res.header)
		}
	}
}

// TestHeadersSurviveRetries: the proxy clears the response header map
// before a retried upstream attempt; the header filter sets them again.
func TestHeadersSurviveRetries(t *testing.T) {
	in := build(t, `{minute: 5}`, nil)
	c := newCtx("ip")
	if err := in.Access(c); err != nil {
		t.Fatal(err)
	}
	clear(c.Resp.Header)
	c.Resp.Header.Set("X-RateLimit-Limit-Minute", "from the upstream")
	in.HeaderFilter(c)
	if c.Resp.Header.Get("X-RateLimit-Limit-Minute") != "5" || c.Resp.Header.Get("X-RateLimit-Remaining-Minute") != "4" {
		t.Fatalf("headers %v", c.Resp.Header)
	}
}

// failStore is a store that cannot be reached.
type failStore struct{}

func (failStore) Take(context.Context, string, *engine.Policy, int64) (engine.Decision, error) {
	return engine.Decision{}, fmt.Errorf("dial: %w", engine.ErrUnavailable)
}

func (f failStore) TakeInto(ctx context.Context, key string, p *engine.Policy, n int64, d *engine.Decision) error {
	var err error
	*d, err = f.Take(ctx, key, p, n)
	return err
}

func (failStore) Usage(context.Context, string, *engine.Policy) (engine.Decision, error) {
	return engine.Decision{}, engine.ErrUnavailable
}

func (failStore) Close() {}

func TestFaultTolerance(t *testing.T) {
	for _, tt := range []struct {
		doc     string
		status  int
		outcome string
	}{
		{`{minute: 6}`, 200, "allowed"},
		{`{minute: 6, fault_tolerant: false}`, 500, "refused"},
	} {
		t.Run(tt.doc, func(t *testing.T) {
			m := prometheus.NewRegistry()
			in := build(t, tt.doc, nil, plugin.Env{Metrics: m})
			in.store.Close()
			in.store = failStore{}
			for range 3 {
				res := send(t, in, newCtx("ip"))
				if res.status != tt.status || len(res.header) != 0 {
					t.Fatalf("%d %v", res.status, res.header)
				}
				if res.exit != nil && res.exit.Message != "An unexpected error occurred" {
					t.Fatalf("message %q", res.exit.Message)
				}
			}
			if n := seriesValue(t, m, "turnpike_rate_limit_store_errors_total", "outcome", tt.outcome, "route", "/test"); n != 3 {
				t.Fatalf("store errors counted %v", n)
			}
		})
	}
}

// seriesValue is the value of the counter name with the label pairs
// (name, value, sorted by name) that reg serves, or 0 when it has none.
func seriesValue(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetName(), l.GetValue())
			}
			if slices.Equal(got, labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestTokenBucket: NGINX limit_req semantics. With nodelay the burst is
// admitted at once; without, each request past the first waits its turn,
// and the request beyond the burst is refused either way.
func TestTokenBucket(t *testing.T) {
	t.Run("nodelay", func(t *testing.T) {
		clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
		in := build(t, `{window_type: token-bucket, rate: 10, burst: 2, nodelay: true}`, clock)
		var got []int
		for range 4 {
			got = append(got, send(t, in, newCtx("ip")).status)
		}
		if diff := cmp.Diff([]int{200, 200, 200, 429}, got); diff != "" {
			t.Fatal(diff)
		}
		clock.Add(100 * time.Millisecond)
		res := send(t, in, newCtx("ip"))
		if res.status != 200 || res.header.Get("RateLimit-Limit") != "3" || res.header.Get("X-RateLimit-Limit-Second") != "" {
			t.Fatalf("after one token: %d %v", res.status, res.header)
		}
	})
	t.Run("delay", func(t *testing.T) {
		in := build(t, `{window_type: token-bucket, rate: 20, burst: 2}`, nil)
		start := time.Now()
		var got []int
		for range 3 {
			got = append(got, send(t, in, newCtx("ip")).status)
		}
		elapsed := time.Since(start)
		// The second waits 50 ms, the third 50 ms more.
		if diff := cmp.Diff([]int{200, 200, 200}, got); diff != "" || elapsed < 80*time.Millisecond || elapsed > 5*time.Second {
			t.Fatalf("statuses %v in %v", got, elapsed)
		}
	})
	t.Run("client gone while delayed", func(t *testing.T) {
		in := build(t, `{window_type: token-bucket, rate: 1, burst: 5}`, nil)
		send(t, in, newCtx("ip"))
		c := newCtx("ip")
		ctx, cancel := context.WithCancel(context.Background())
		c.Req = c.Req.WithContext(ctx)
		time.AfterFunc(20*time.Millisecond, cancel)
		start := time.Now()
		res := send(t, in, c)
		if res.status != 499 || time.Since(start) > 500*time.Millisecond {
			t.Fatalf("%d after %v", res.status, time.Since(start))
		}
	})
}

// TestConsumerScope: limit_by consumer counts each consumer apart and
// requests without one by IP.
func TestConsumerScope(t *testing.T) {
	in := build(t, `{minute: 1}`, nil)
	for _, who := range []string{"c-1", "c-2"} {
		c := newCtx("ip")
		c.Consumer = &plugin.Consumer{ID: who}
		if res := send(t, in, c); res.status != 200 {
			t.Fatalf("%s: %d", who, res.status)
		}
	}
	send(t, in, newCtx("ip"))
	if res := send(t, in, newCtx("ip")); res.status != 429 {
		t.Fatalf("anonymous second request: %d", res.status)
	}
}

func TestRateLimitUsage(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 10, 20, 45, 0, time.UTC)}
	in := build(t, `{minute: 5, hour: 100}`, clock)
	c := newCtx("ip")
	c.Consumer = &plugin.Consumer{ID: "c-alice", Username: "alice"}
	send(t, in, c)
	send(t, in, c)
	dir := &plugintest.Directory{Consumers: []*plugin.Consumer{c.Consumer}}
	for _, key := range []string{"c-alice", "alice"} {
		u, err := in.RateLimitUsage(context.Background(), key, dir)
		if err != nil {
			t.Fatal(err)
		}
		want := Usage{Key: "c-alice", LimitBy: "consumer", WindowType: "fixed", Windows: []WindowUsage{
			{Period: "minute", Limit: 5, Remaining: 3, Reset: 15},
			{Period: "hour", Limit: 100, Remaining: 98, Reset: 2355},
		}}
		if diff := cmp.Diff(want, u); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", key, diff)
		}
	}
	// Reading does not count.
	if res := send(t, in, c); res.header.Get("X-RateLimit-Remaining-Minute") != "2" {
		t.Fatalf("after usage reads: %v", res.header)
	}

	in.store.Close()
	in.store = failStore{}
	if _, err := in.RateLimitUsage(context.Background(), "x", nil); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
}

func TestDeprecationWarnings(t *testing.T) {
	var logs bytes.Buffer
	build(t, `{minute: 5, policy: redis, redis_host: 127.0.0.1, redis_port: 1}`, nil,
		plugin.Env{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, want := range []string{
		"rate-limiting: config.redis_host is deprecated, please use config.redis.host instead",
		"rate-limiting: config.redis_port is deprecated, please use config.redis.port instead",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// TestSharedRedisClient: instances with the same connection settings share
// one client through env.Store (keys carry each plugin's namespace), and
// give it back when closed.
func TestSharedRedisClient(t *testing.T) {
	stores := store.NewProvider()
	shared := stores.Redis
	env := plugin.Env{Store: stores}
	var ins []*Instance
	for i, doc := range []string{
		`{minute: 5, policy: redis, redis: {host: 127.0.0.1, port: 1}}`,
		`{minute: 9, limit_by: ip, policy: redis, redis: {host: 127.0.0.1, port: 1}}`,
	} {
		env.PluginID = fmt.Sprintf("plugin-%d", i)
		in, err := New(decode(t, doc), env)
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, in.(*Instance))
	}
	if n := shared.Clients(); n != 1 {
		t.Fatalf("%d clients for one Redis", n)
	}
	// Counters are the plugin's, in its id's namespace, as Kong's are.
	if a, b := ins[0].key("x"), ins[1].key("x"); a != "plugin-0:x" || b != "plugin-1:x" {
		t.Fatalf("keys %q and %q", a, b)
	}
	for _, in := range ins {
		in.Close()
	}
	if n := shared.Clients(); n != 0 {
		t.Fatalf("%d clients left after Close", n)
	}
}
