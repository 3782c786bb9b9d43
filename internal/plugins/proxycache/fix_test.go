package proxycache

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// TestTooManyArgsBypass: a request with more query arguments than the
// key reads is neither stored nor served from the cache, so it cannot
// poison the entry of a request whose key reads the same arguments.
func TestTooManyArgsBypass(t *testing.T) {
	in := newTest(t, func(c *Config) { c.VaryQueryParams = []string{"page"} })
	long := "/list?" + strings.Repeat("x&", 100) + "page=999"
	_, h, _, reached := do(t, in, newCtx("GET", long, nil), jsonOK("page 999"))
	if !reached || h.Get("X-Cache-Status") != "Bypass" {
		t.Fatalf("long query: reached %v, %v", reached, h)
	}
	if _, _, body, reached := do(t, in, newCtx("GET", "/list?sort=asc", nil), jsonOK("page 1")); !reached || body != "page 1" {
		t.Fatalf("poisoned: %q (reached %v)", body, reached)
	}
	// Served from the cache neither.
	if _, h, body, reached := do(t, in, newCtx("GET", long, nil), jsonOK("again")); !reached || body != "again" || h.Get("X-Cache-Status") != "Bypass" {
		t.Fatalf("long query after a store: %q %v", body, h)
	}
	// 100 arguments are still cached.
	ok := "/list?" + strings.Repeat("x&", 99) + "page=2"
	do(t, in, newCtx("GET", ok, nil), jsonOK("p2"))
	if _, h, _, _ := do(t, in, newCtx("GET", ok, nil), jsonOK("p2")); h.Get("X-Cache-Status") != "Hit" {
		t.Fatalf("100 arguments: %v", h)
	}
	tpl := newTest(t, func(c *Config) { c.CacheKey = "$uri$arg_page" })
	if _, h, _, _ := do(t, tpl, newCtx("GET", long, nil), jsonOK("t")); h.Get("X-Cache-Status") != "Bypass" {
		t.Fatalf("template, long query: %v", h)
	}
}

// TestKeysInjective: requests that differ in their decoded arguments,
// path or vary headers never share a key, whatever separators their
// values hold.
func TestKeysInjective(t *testing.T) {
	kong := newTest(t, func(c *Config) { c.VaryHeaders = []string{"X-A"} })
	kongVary := newTest(t, func(c *Config) { c.VaryQueryParams = []string{"a", "b"} })
	tpl := newTest(t, func(c *Config) { c.CacheKey = "$arg_a$arg_b$http_x_a$cookie_s" })
	pairs := []struct {
		name string
		in   *Cache
		a, b string
		ha   http.Header
		hb   http.Header
	}{
		{"colon in value", kong, "/p?a=1%3Ab%3D2", "/p?a=1&b=2", nil, nil},
		{"comma in value", kong, "/p?id=1%2C2", "/p?id=1&id=2", nil, nil},
		{"equals in name", kong, "/p?a%3Db=c", "/p?a=b%3Dc", nil, nil},
		{"flag and value", kong, "/p?a&a=1", "/p?a=1", nil, nil},
		{"bar in path", kong, "/a|x?b=1", "/a?x%7Cb=1", nil, nil},
		{"header comma", kong, "/h", "/h", http.Header{"X-A": {"1,2"}}, http.Header{"X-A": {"1", "2"}}},
		{"vary params colon", kongVary, "/p?a=1%3Ab%3D2", "/p?a=1&b=2", nil, nil},
		{"template args run together", tpl, "/t?a=1&b=23", "/t?a=12&b=3", nil, nil},
		{"template header and cookie", tpl, "/t", "/t", http.Header{"X-A": {"1"}, "Cookie": {"s=2"}}, http.Header{"X-A": {"12"}}},
	}
	for _, p := range pairs {
		ka, kb := p.in.key(newCtx("GET", p.a, p.ha), nil), p.in.key(newCtx("GET", p.b, p.hb), nil)
		if ka == kb {
			t.Errorf("%s: %q and %q share key %s", p.name, p.a, p.b, ka)
		}
	}
	// Kong's bytes hold for values without separators.
	c := newCtx("GET", "/p?a=b=c&x=%25", nil)
	if got, want := kong.s.kongKey(c, nil), hashHex([]byte("route-1|GET|GET /p|a=b=c:x=%|")); got != want {
		t.Fatalf("plain values: %s, want %s", got, want)
	}
}

// TestAnonymousWithAuthorizationIsPrivate: a request whose Authorization
// the gateway did not accept runs as the anonymous consumer with no
// credential; its response is the upstream's answer to that header and
// is never stored or served under the anonymous consumer's key.
func TestAnonymousWithAuthorizationIsPrivate(t *testing.T) {
	in := newTest(t, nil)
	anon := func(h http.Header) *plugin.Ctx {
		c := newCtx("GET", "/profile", h)
		c.Consumer = &plugin.Consumer{ID: "anonymous"}
		return c
	}
	_, h, _, _ := do(t, in, anon(http.Header{"Authorization": {"Bearer alice-upstream-token"}}), jsonOK(`"alice"`))
	if h.Get("X-Cache-Status") != "Bypass" {
		t.Fatalf("anonymous with Authorization: %v", h)
	}
	if _, _, body, reached := do(t, in, anon(nil), jsonOK(`"public"`)); !reached || body != `"public"` {
		t.Fatalf("anonymous got %q (reached %v)", body, reached)
	}
	// An authenticated consumer (a credential) is still cached, by consumer.
	authed := func() *plugin.Ctx {
		c := newCtx("GET", "/profile", http.Header{"Authorization": {"Basic Ym9iOng="}})
		c.Consumer, c.Credential = &plugin.Consumer{ID: "bob"}, "cred-bob"
		return c
	}
	do(t, in, authed(), jsonOK(`"bob"`))
	if _, h, _, _ := do(t, in, authed(), jsonOK(`"bob"`)); h.Get("X-Cache-Status") != "Hit" {
		t.Fatalf("authenticated: %v", h)
	}
}

// upstreamAnswer runs a request that went upstream through the response
// phases, up to the body's end, without Log.
func upstreamAnswer(in *Cache, c *plugin.Ctx, ct, cacheControl, body string) {
	c.Resp.Header["Content-Type"] = []string{ct}
	if cacheControl != "" {
		c.Resp.Header["Cache-Control"] = []string{cacheControl}
	}
	c.Resp.Status, c.Resp.FromUpstream = 200, true
	in.HeaderFilter(c)
	io.ReadAll(in.BodyFilter(c, strings.NewReader(body)))
}

// TestOnlyIfCachedNeverUpstream: only-if-cached is answered 504 unless
// the stored entry is a Hit for the request, even with an entry stored.
func TestOnlyIfCachedNeverUpstream(t *testing.T) {
	in := newTest(t, func(c *Config) { c.CacheControl = true; c.StorageTTL = new(int64(30)) })
	up := upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}, "Cache-Control": {"max-age=1"}}, body: "v1"}
	do(t, in, newCtx("GET", "/o", nil), up)
	status, _, _, reached := do(t, in, newCtx("GET", "/o", http.Header{"Cache-Control": {"only-if-cached, min-fresh=5"}}), up)
	if reached || status != 504 {
		t.Fatalf("min-fresh: %d reached %v", status, reached)
	}
	time.Sleep(1100 * time.Millisecond)
	if status, _, _, reached := do(t, in, newCtx("GET", "/o", http.Header{"Cache-Control": {"only-if-cached"}}), up); reached || status != 504 {
		t.Fatalf("expired: %d reached %v", status, reached)
	}
	if status, _, body, reached := do(t, in, newCtx("GET", "/o", http.Header{"Cache-Control": {"only-if-cached, max-stale"}}), up); reached || status != 200 || body != "v1" {
		t.Fatalf("max-stale: %d %q reached %v", status, body, reached)
	}
}

// TestLockWaiterNeedsFresh: a lock waiter is served what the leader
// stored only when it is fresh enough for the waiter's own request;
// otherwise it goes upstream, uncached.
func TestLockWaiterNeedsFresh(t *testing.T) {
	in := newTest(t, func(c *Config) { c.Lock = true; c.CacheControl = true })
	leader := newCtx("GET", "/w", nil)
	if err := in.Access(leader); err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	go func() {
		_, h, body, reached := do(t, in, newCtx("GET", "/w", http.Header{"Cache-Control": {"min-fresh=10"}}), jsonOK("waiter's own"))
		done <- fmt.Sprint(h.Get("X-Cache-Status"), " ", body, " ", reached)
	}()
	time.Sleep(50 * time.Millisecond)
	upstreamAnswer(in, leader, "text/plain", "max-age=5", "leader's")
	in.Log(leader)
	if got := <-done; got != "Bypass waiter's own true" {
		t.Fatalf("waiter: %q", got)
	}
	// The leader's entry is there, for requests it is fresh enough for.
	if _, h, body, _ := do(t, in, newCtx("GET", "/w", nil), jsonOK("x")); body != "leader's" || h.Get("X-Cache-Status") != "Hit" {
		t.Fatalf("after: %q %v", body, h)
	}
}

// TestHeadTakesNoFlight: a HEAD (which stores nothing) neither leads a
// cold key's flight nor becomes an expired entry's refresher.
func TestHeadTakesNoFlight(t *testing.T) {
	in := newTest(t, func(c *Config) { c.Lock = true; c.LockTimeout = 2 })
	head := newCtx("HEAD", "/h", nil)
	if err := in.Access(head); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, h, _, reached := do(t, in, newCtx("GET", "/h", nil), jsonOK("get"))
	if !reached || h.Get("X-Cache-Status") != "Miss" || time.Since(start) > time.Second {
		t.Fatalf("GET after a HEAD: %v reached %v in %v", h, reached, time.Since(start))
	}
	in.Log(head)
	if _, h, _, _ := do(t, in, newCtx("GET", "/h", nil), jsonOK("x")); h.Get("X-Cache-Status") != "Hit" {
		t.Fatalf("the GET did not store: %v", h)
	}

	in = newTest(t, func(c *Config) { c.CacheTTL = 1; c.StaleWhileRevalidate = 30 })
	do(t, in, newCtx("GET", "/u", nil), jsonOK("old"))
	time.Sleep(1100 * time.Millisecond)
	head = newCtx("HEAD", "/u", nil)
	if err := in.Access(head); err != nil {
		t.Fatalf("HEAD without a refresh under way was answered: %v", err)
	}
	get := newCtx("GET", "/u", nil)
	if err := in.Access(get); err != nil {
		t.Fatalf("the GET was not made the refresher: %v", err)
	}
	// Now a refresh is under way: a HEAD is served the stale entry.
	if _, h, _, reached := do(t, in, newCtx("HEAD", "/u", nil), jsonOK("")); reached || h.Get("X-Cache-Status") != "Updating" {
		t.Fatalf("HEAD during the refresh: %v reached %v", h, reached)
	}
	in.Log(head)
	in.Log(get)
}

// TestFullFlightTableStillCaches: with every flight slot held, a request
// still goes upstream and stores; expired flights are swept to make room.
func TestFullFlightTableStillCaches(t *testing.T) {
	in := newTest(t, func(c *Config) { c.Lock = true })
	for i := range maxFlights {
		in.flights.acquire(fmt.Sprint("held-", i), time.Hour)
	}
	if _, h, _, reached := do(t, in, newCtx("GET", "/f", nil), jsonOK("f")); !reached || h.Get("X-Cache-Status") != "Miss" {
		t.Fatalf("full table: %v", h)
	}
	if _, h, _, reached := do(t, in, newCtx("GET", "/f", nil), jsonOK("x")); reached || h.Get("X-Cache-Status") != "Hit" {
		t.Fatalf("full table, second: %v", h)
	}
	fs := newFlights()
	for i := range maxFlights {
		fs.acquire(fmt.Sprint("k", i), time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond)
	if f, leader := fs.acquire("new", time.Second); f == nil || !leader || len(fs.m) != 1 {
		t.Fatalf("expired flights not swept: %v %v %d", f, leader, len(fs.m))
	}
}

// TestStoredAtBodyEnd: the entry is stored and the waiters let go when
// the upstream's body ends, before the leader's Log (which a slow client
// delays).
func TestStoredAtBodyEnd(t *testing.T) {
	in := newTest(t, func(c *Config) { c.Lock = true })
	leader := newCtx("GET", "/b", nil)
	if err := in.Access(leader); err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	go func() {
		_, h, body, _ := do(t, in, newCtx("GET", "/b", nil), jsonOK("second"))
		done <- h.Get("X-Cache-Status") + " " + body
	}()
	time.Sleep(50 * time.Millisecond)
	upstreamAnswer(in, leader, "text/plain", "", "first")
	select {
	case got := <-done:
		if got != "Hit first" {
			t.Fatalf("waiter: %q", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the waiter was held until the leader's Log")
	}
	in.Log(leader)
}

// TestUpstreamAgeCounts: with cache_control, the response's Age counts
// against its lifetime (RFC 9111 4.2.3) and in the Age served.
func TestUpstreamAgeCounts(t *testing.T) {
	in := newTest(t, func(c *Config) { c.CacheControl = true })
	aged := func(cc, age string) upstream {
		return upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}, "Cache-Control": {cc}, "Age": {age}}, body: "b"}
	}
	do(t, in, newCtx("GET", "/a", nil), aged("max-age=100", "40"))
	if _, h, _, reached := do(t, in, newCtx("GET", "/a", nil), aged("max-age=100", "0")); reached || h.Get("Age") != "40" {
		t.Fatalf("served Age: %v (reached %v)", h, reached)
	}
	if _, h, _, _ := do(t, in, newCtx("GET", "/spent", nil), aged("max-age=5", "5")); h.Get("X-Cache-Status") != "Bypass" {
		t.Fatalf("no lifetime left: %v", h)
	}
	do(t, in, newCtx("GET", "/short", nil), aged("max-age=2", "1"))
	time.Sleep(1100 * time.Millisecond)
	// Past max-age minus Age (its storage time too): fetched again.
	if _, h, _, reached := do(t, in, newCtx("GET", "/short", nil), aged("max-age=2", "1")); !reached {
		t.Fatalf("lifetime minus Age: %v", h)
	}
}

// TestTemplateIgnoreURICase: ignore_uri_case lower-cases the path in a
// template's $uri and $request_uri (not the query's values).
func TestTemplateIgnoreURICase(t *testing.T) {
	for _, tpl := range []string{"$request_uri", "$uri$args"} {
		in := newTest(t, func(c *Config) { c.CacheKey = tpl; c.IgnoreURICase = true })
		if a, b := in.key(newCtx("GET", "/Users/A?q=X", nil), nil), in.key(newCtx("GET", "/users/a?q=X", nil), nil); a != b {
			t.Errorf("%s: the path's case counts", tpl)
		}
		if a, b := in.key(newCtx("GET", "/u?q=X", nil), nil), in.key(newCtx("GET", "/u?q=x", nil), nil); a == b {
			t.Errorf("%s: the query's case is ignored", tpl)
		}
	}
}
