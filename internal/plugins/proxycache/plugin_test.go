package proxycache

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// newTest builds an instance of proxy-cache (memory) with set applied
// to Kong's defaults.
func newTest(t testing.TB, set func(c *Config)) *Cache {
	t.Helper()
	c := &Config{}
	c.SetDefaults()
	c.Strategy = strategyMemory
	if set != nil {
		set(c)
	}
	in, err := newCache(Name, c, nil, plugin.Env{PluginID: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	return in
}

// upstream is a response the test's upstream gives.
type upstream struct {
	status int
	header http.Header
	body   string
	// failAfter cuts the body with an error after that many bytes.
	failAfter int
}

func newCtx(method, target string, h http.Header) *plugin.Ctx {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range h {
		r.Header[k] = v
	}
	return &plugin.Ctx{Req: r, Method: method, ClientPath: r.URL.Path, Scheme: "http",
		Route: &plugin.RouteInfo{ID: "route-1"}, Resp: plugin.Response{Header: http.Header{}}}
}

// do runs one request through the instance's phases, with up as the
// upstream's answer when the cache does not answer. It returns the
// status, the response header, the body and whether the upstream was
// reached.
func do(t testing.TB, in *Cache, c *plugin.Ctx, up upstream) (int, http.Header, string, bool) {
	t.Helper()
	if err := in.Access(c); err != nil {
		e, ok := err.(*plugin.Exit)
		if !ok {
			t.Fatal(err)
		}
		for k, v := range e.Header {
			c.Resp.Header[k] = v
		}
		c.Resp.Status = e.Status
		in.HeaderFilter(c)
		in.Log(c)
		return e.Status, c.Resp.Header, string(e.Body), false
	}
	for k, v := range up.header {
		c.Resp.Header[k] = v
	}
	c.Resp.Status, c.Resp.FromUpstream = up.status, true
	if e := in.Fallback(c); e != nil {
		clear(c.Resp.Header)
		for k, v := range e.Header {
			c.Resp.Header[k] = v
		}
		c.Resp.Status = e.Status
		in.HeaderFilter(c)
		in.Log(c)
		return e.Status, c.Resp.Header, string(e.Body), true
	}
	in.HeaderFilter(c)
	var body io.Reader = strings.NewReader(up.body)
	if up.failAfter > 0 {
		body = io.MultiReader(strings.NewReader(up.body[:up.failAfter]), errReader{})
	}
	b, _ := io.ReadAll(in.BodyFilter(c, body))
	c.Resp.Size = int64(len(b))
	in.Log(c)
	return c.Resp.Status, c.Resp.Header, string(b), true
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func jsonOK(body string) upstream {
	return upstream{status: 200, header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}, body: body}
}

func TestMissThenHit(t *testing.T) {
	in := newTest(t, nil)
	_, h, body, reached := do(t, in, newCtx("GET", "/a?x=1", nil), jsonOK(`{"n":1}`))
	if !reached || h.Get("X-Cache-Status") != "Miss" || body != `{"n":1}` {
		t.Fatalf("first: reached %v, %v %q", reached, h, body)
	}
	key := h.Get("X-Cache-Key")
	status, h, body, reached := do(t, in, newCtx("GET", "/a?x=1", nil), jsonOK(`{"n":2}`))
	if reached || status != 200 || h.Get("X-Cache-Status") != "Hit" || body != `{"n":1}` {
		t.Fatalf("second: reached %v, %d %v %q", reached, status, h, body)
	}
	if h.Get("X-Cache-Key") != key || h.Get("Age") != "0" || h.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("hit headers %v", h)
	}
	// HEAD is answered from the GET's entry.
	_, h, _, reached = do(t, in, newCtx("HEAD", "/a?x=1", nil), jsonOK(""))
	if reached || h.Get("X-Cache-Status") != "Hit" {
		t.Fatalf("HEAD: reached %v, %v", reached, h)
	}
	// Another query is another entry.
	if _, h, _, _ := do(t, in, newCtx("GET", "/a?x=2", nil), jsonOK("{}")); h.Get("X-Cache-Status") != "Miss" {
		t.Fatalf("other query: %v", h)
	}
}

func TestNotStored(t *testing.T) {
	cases := []struct {
		name string
		set  func(*Config)
		req  http.Header
		up   upstream
	}{
		{"status", nil, nil, upstream{status: 500, header: http.Header{"Content-Type": {"text/plain"}}}},
		{"content type", nil, nil, upstream{status: 200, header: http.Header{"Content-Type": {"text/html"}}}},
		{"set-cookie", nil, nil, upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}, "Set-Cookie": {"s=1"}}}},
		{"private", nil, nil, upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}, "Cache-Control": {"private"}}}},
		{"no-store", nil, nil, upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}, "Cache-Control": {"no-store"}}}},
		{"no-cache with cache_control", func(c *Config) { c.CacheControl = true }, nil,
			upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}, "Cache-Control": {"no-cache"}}}},
		{"max-age=0 with cache_control", func(c *Config) { c.CacheControl = true }, nil,
			upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}, "Cache-Control": {"max-age=0"}}}},
		{"vary star", nil, nil, upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}, "Vary": {"*"}}}},
		{"206", func(c *Config) { c.ResponseCode = []int{200, 206} }, nil, upstream{status: 206, header: http.Header{"Content-Type": {"text/plain"}}}},
		{"too large", func(c *Config) { c.MaxBodySize = 4 }, nil, upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}}, body: "12345"}},
		{"too large by length", func(c *Config) { c.MaxBodySize = 4 }, nil, upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"5"}}, body: "12345"}},
		{"cut body", nil, nil, upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}}, body: "12345", failAfter: 2}},
		{"authorization without consumer", nil, http.Header{"Authorization": {"Bearer x"}}, upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}}}},
		{"range", nil, http.Header{"Range": {"bytes=0-1"}}, upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}}}},
		{"request no-store", func(c *Config) { c.CacheControl = true }, http.Header{"Cache-Control": {"no-store"}}, upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}}}},
		{"method", func(c *Config) { c.RequestMethod = []string{"HEAD"} }, nil, upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := newTest(t, tc.set)
			for i := range 2 {
				_, h, _, reached := do(t, in, newCtx("GET", "/p", tc.req), tc.up)
				if !reached {
					t.Fatalf("request %d answered from the cache", i)
				}
				if got := h.Get("X-Cache-Status"); i == 1 && got == "Hit" {
					t.Fatalf("request %d: %q", i, got)
				}
			}
		})
	}
}

func TestCutBodyStoresNothing(t *testing.T) {
	in := newTest(t, nil)
	up := upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}}, body: "12345", failAfter: 2}
	if _, h, _, _ := do(t, in, newCtx("GET", "/cut", nil), up); h.Get("X-Cache-Status") != "Miss" {
		t.Fatalf("first %v", h)
	}
	if _, h, _, reached := do(t, in, newCtx("GET", "/cut", nil), jsonOK("{}")); !reached || h.Get("X-Cache-Status") != "Miss" {
		t.Fatalf("after a cut body: %v", h)
	}
}

func TestConsumersDoNotShare(t *testing.T) {
	in := newTest(t, nil)
	ctx := func(id string) *plugin.Ctx {
		c := newCtx("GET", "/me", http.Header{"Authorization": {"Basic " + id}})
		c.Consumer, c.Credential = &plugin.Consumer{ID: id}, "cred-"+id
		return c
	}
	do(t, in, ctx("alice"), jsonOK(`"alice"`))
	if _, _, body, reached := do(t, in, ctx("bob"), jsonOK(`"bob"`)); !reached || body != `"bob"` {
		t.Fatalf("bob got %q (reached %v)", body, reached)
	}
	if _, _, body, reached := do(t, in, ctx("alice"), jsonOK(`"x"`)); reached || body != `"alice"` {
		t.Fatalf("alice got %q (reached %v)", body, reached)
	}
}

func TestTTLAndRequestDirectives(t *testing.T) {
	// storage_ttl keeps the entry past its freshness, for max-stale.
	in := newTest(t, func(c *Config) { c.CacheControl = true; c.StorageTTL = new(int64(30)) })
	up := upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}, "Cache-Control": {"max-age=1"}}, body: "v1"}
	do(t, in, newCtx("GET", "/t", nil), up)
	if _, h, _, _ := do(t, in, newCtx("GET", "/t", http.Header{"Cache-Control": {"no-cache"}}), up); h.Get("X-Cache-Status") != "Refresh" {
		t.Fatalf("no-cache: %v", h)
	}
	if _, h, _, _ := do(t, in, newCtx("GET", "/t", http.Header{"Cache-Control": {"min-fresh=5"}}), up); h.Get("X-Cache-Status") != "Refresh" {
		t.Fatalf("min-fresh: %v", h)
	}
	if _, h, _, _ := do(t, in, newCtx("GET", "/t", nil), up); h.Get("X-Cache-Status") != "Hit" {
		t.Fatalf("fresh: %v", h)
	}
	if status, _, _, reached := do(t, in, newCtx("GET", "/none", http.Header{"Cache-Control": {"only-if-cached"}}), up); reached || status != 504 {
		t.Fatalf("only-if-cached: %d reached %v", status, reached)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, h, _, _ := do(t, in, newCtx("GET", "/t", http.Header{"Cache-Control": {"max-stale"}}), up); h.Get("X-Cache-Status") != "Hit" {
		t.Fatalf("max-stale: %v", h)
	}
	if _, h, _, reached := do(t, in, newCtx("GET", "/t", nil), up); !reached || h.Get("X-Cache-Status") != "Refresh" {
		t.Fatalf("expired: %v", h)
	}
}

func TestVaryResponseHeader(t *testing.T) {
	in := newTest(t, nil)
	up := func(body string) upstream {
		return upstream{status: 200, header: http.Header{"Content-Type": {"text/plain"}, "Vary": {"Accept-Language"}}, body: body}
	}
	do(t, in, newCtx("GET", "/v", http.Header{"Accept-Language": {"fr"}}), up("fr"))
	if _, _, body, reached := do(t, in, newCtx("GET", "/v", http.Header{"Accept-Language": {"de"}}), up("de")); !reached || body != "de" {
		t.Fatalf("de got %q", body)
	}
	if _, _, body, reached := do(t, in, newCtx("GET", "/v", http.Header{"Accept-Language": {"de"}}), up("x")); reached || body != "de" {
		t.Fatalf("de again got %q (reached %v)", body, reached)
	}
}

func TestStaleOnError(t *testing.T) {
	in := newTest(t, func(c *Config) { c.CacheTTL = 1; c.UseStale = []string{"error", "http_500"} })
	do(t, in, newCtx("GET", "/s", nil), jsonOK("good"))
	time.Sleep(1100 * time.Millisecond)
	status, h, body, _ := do(t, in, newCtx("GET", "/s", nil), upstream{status: 500, header: http.Header{"Content-Type": {"text/plain"}}, body: "bad"})
	if status != 200 || body != "good" || h.Get("X-Cache-Status") != "Stale" {
		t.Fatalf("500: %d %q %v", status, body, h)
	}
	c := newCtx("GET", "/s", nil)
	c.Upstream.Failed = true
	if status, _, body, _ := do(t, in, c, upstream{status: 502}); status != 200 || body != "good" {
		t.Fatalf("failed: %d %q", status, body)
	}
	// 503 is not listed.
	if status, _, _, _ := do(t, in, newCtx("GET", "/s", nil), upstream{status: 503}); status != 503 {
		t.Fatalf("503: %d", status)
	}
}

func TestUpdatingWhileRefreshing(t *testing.T) {
	in := newTest(t, func(c *Config) { c.CacheTTL = 1; c.StaleWhileRevalidate = 30 })
	do(t, in, newCtx("GET", "/u", nil), jsonOK("old"))
	time.Sleep(1100 * time.Millisecond)
	leader := newCtx("GET", "/u", nil)
	if err := in.Access(leader); err != nil {
		t.Fatalf("leader answered: %v", err)
	}
	_, h, body, reached := do(t, in, newCtx("GET", "/u", nil), jsonOK("new"))
	if reached || body != "old" || h.Get("X-Cache-Status") != "Updating" {
		t.Fatalf("during the refresh: %v %q %v", reached, body, h)
	}
	in.Log(leader)
}

func TestLockCoalesces(t *testing.T) {
	in := newTest(t, func(c *Config) { c.Lock = true })
	leader := newCtx("GET", "/l", nil)
	if err := in.Access(leader); err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	go func() {
		_, h, body, _ := do(t, in, newCtx("GET", "/l", nil), jsonOK("second"))
		done <- h.Get("X-Cache-Status") + " " + body
	}()
	time.Sleep(50 * time.Millisecond)
	leader.Resp.Header["Content-Type"] = []string{"text/plain"}
	leader.Resp.Status, leader.Resp.FromUpstream = 200, true
	in.HeaderFilter(leader)
	io.ReadAll(in.BodyFilter(leader, strings.NewReader("first")))
	in.Log(leader)
	if got := <-done; got != "Hit first" {
		t.Fatalf("waiter: %q", got)
	}
}

// TestKongKey checks the key against Kong's algorithm worked by hand:
// sha256 hex of "prefix|method|uri|params|headers", where uri is NGINX's
// request line cut at '?'.
func TestKongKey(t *testing.T) {
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	in := newTest(t, func(c *Config) { c.VaryHeaders = []string{"X-Lang", "x_absent"} })
	c := newCtx("GET", "/Foo?b=2&a=1&b=1&flag&e=", http.Header{"X-Lang": {"fr", "en"}})
	c.Consumer = &plugin.Consumer{ID: "cons"}
	got := in.s.kongKey(c, nil)
	if want := sum("cons:route-1|GET|GET /Foo|a=1:b=1,2:e=:flag|X-Lang=en,fr"); got != want {
		t.Fatalf("key %s, want %s", got, want)
	}
	c = newCtx("GET", "/Foo", nil)
	c.Route = nil
	if got, want := in.s.kongKey(c, nil), sum("default|GET|GET /Foo HTTP/1.1||"); got != want {
		t.Fatalf("no query: %s, want %s", got, want)
	}
	in = newTest(t, func(c *Config) { c.VaryQueryParams = []string{"b", "z", "flag"}; c.IgnoreURICase = true })
	c = newCtx("GET", "/Foo?b=2&a=1&b=1&flag", nil)
	if got, want := in.s.kongKey(c, nil), sum("route-1|GET|get /foo|b=1,2:flag|"); got != want {
		t.Fatalf("vary_query_params: %s, want %s", got, want)
	}
	// NGINX decodes the escapes it can and keeps a bad one as written.
	in = newTest(t, nil)
	c = newCtx("GET", "/Foo?a=a%20b%zz+c", nil)
	if got, want := in.s.kongKey(c, nil), sum("route-1|GET|GET /Foo|a=a b%zz c|"); got != want {
		t.Fatalf("bad escape: %s, want %s", got, want)
	}
}

func TestTemplateKey(t *testing.T) {
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	tpl, problem := compileTemplate("$scheme$request_method$host$request_uri|${arg_id}|$http_x_user|$cookie_s|$uri|$args")
	if problem != "" {
		t.Fatal(problem)
	}
	c := newCtx("GET", "/p/q?id=7&z", http.Header{"X-User": {"u1"}, "Cookie": {"a=1; s=tok"}})
	c.Req.Host = "Example.COM:8000"
	if got, want := tpl.key(c, nil), sum("http\x00.GET\x00.example.com\x00./p/q?id=7&z\x00.|7\x00.|u1\x00.|tok\x00.|/p/q\x00.|id=7&z\x00."); got != want {
		t.Fatalf("template key %s, want %s", got, want)
	}
	for _, bad := range []string{"$nope", "${unterminated", "$http_", "$"} {
		if _, problem := compileTemplate(bad); problem == "" {
			t.Errorf("%q compiled", bad)
		}
	}
}
