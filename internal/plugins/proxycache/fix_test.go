package proxycache

import (
	"net/http"
	"strings"
	"testing"

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
