package botdetection

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Kong's spec values: a plain agent, and one the built-in list names.
const (
	helloWorld = "HelloWorld"
	facebook   = "facebookexternalhit/1.1"
	chrome     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/50.0.2661.102 Safari/537.36"
)

func build(t testing.TB, c Config) *instance {
	t.Helper()
	in, err := New(&c, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return in.(*instance)
}

func access(in *instance, agents ...string) error {
	r := httptest.NewRequest(http.MethodGet, "/request", nil)
	for _, a := range agents {
		r.Header.Add("User-Agent", a)
	}
	return in.Access(&plugin.Ctx{Req: r})
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "bot-detection" || reg.Priority != 2500 || !reg.NoConsumer {
		t.Fatalf("got %q %d %v", reg.Name, reg.Priority, reg.NoConsumer)
	}
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	if diff := cmp.Diff(&Config{Allow: []string{}, Deny: []string{}}, cfg); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

// Kong's 03-api_spec: a bad regex is refused with the field's path; and
// PCRE syntax RE2 lacks is refused rather than matched differently.
func TestSchema(t *testing.T) {
	_, err := New(&Config{Allow: []string{"[", "ok"}, Deny: []string{"ok", `(?=x)y`}}, plugin.Env{})
	var errs plugin.Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Fatalf("got %v", err)
	}
	if errs[0].Path != "allow[0]" || !strings.HasPrefix(errs[0].Message, "not a valid regex: [ (") {
		t.Errorf("allow: %+v", errs[0])
	}
	if errs[1].Path != "deny[1]" || !strings.HasPrefix(errs[1].Message, "not a valid regex: (?=x)y (") {
		t.Errorf("deny: %+v", errs[1])
	}
}

// The cases of Kong's spec/03-plugins/21-bot-detection/01-access_spec.lua,
// and agents of the built-in list's kinds.
func TestAccess(t *testing.T) {
	plain := build(t, Config{})
	deny := build(t, Config{Deny: []string{helloWorld}})
	allow := build(t, Config{Allow: []string{facebook}})
	for _, tc := range []struct {
		name   string
		in     *instance
		agents []string
		status int // 0: passes
	}{
		{"no agent", plain, nil, 0},
		{"plain agent", plain, []string{helloWorld}, 0},
		{"browser", plain, []string{chrome}, 0},
		{"curl", plain, []string{"curl/8.5.0"}, 0},
		{"known bot", plain, []string{facebook}, 403},
		{"googlebot", plain, []string{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}, 403},
		{"bingbot", plain, []string{"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"}, 403},
		{"go client", plain, []string{"Go-http-client/1.1"}, 403},
		{"python", plain, []string{"Python-urllib/3.11"}, 403},
		{"aws sdk", plain, []string{"aws-sdk-go/1.44.0 (go1.20; linux; amd64)"}, 403},
		{"scrapy", plain, []string{"Scrapy/2.11.0 (+https://scrapy.org)"}, 403},
		{"spider", plain, []string{"SomeSpider 1.0"}, 403},
		{"cubot phone is no bot", plain, []string{"Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36"}, 0},
		{"denied", deny, []string{helloWorld}, 403},
		{"denied by part", deny, []string{"xxHelloWorldxx"}, 403},
		{"allowed bot", allow, []string{facebook}, 0},
		{"allow is case-sensitive", allow, []string{strings.ToUpper(facebook)}, 0},
		{"surrounding blanks stripped", build(t, Config{Deny: []string{"^Hello$"}}), []string{"  Hello\t"}, 403},
		{"two agents", plain, []string{helloWorld, chrome}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the cached verdict agrees
				err := access(tc.in, tc.agents...)
				var e *plugin.Exit
				switch {
				case tc.status == 0 && err != nil:
					t.Fatalf("refused: %v", err)
				case tc.status == 0:
				case !errors.As(err, &e) || e.Status != tc.status:
					t.Fatalf("got %v, want %d", err, tc.status)
				}
			}
		})
	}
	e := access(plain, facebook).(*plugin.Exit)
	if e.Message != "Forbidden" {
		t.Errorf("403 message %q", e.Message)
	}
	e = access(plain, "a", "b").(*plugin.Exit)
	if e.Message != "Only one User-Agent header allowed" {
		t.Errorf("400 message %q", e.Message)
	}
}

func cached(c *verdictCache) int {
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].m)
	}
	return n
}

// Random agents never grow the cache past its size, long agents are not
// kept, and the least recently used verdict goes first.
func TestCacheBounded(t *testing.T) {
	in := build(t, Config{})
	for i := range 3 * cacheCapacity {
		access(in, "agent-"+strconv.Itoa(i))
	}
	if n := cached(in.cache); n > cacheCapacity || n < cacheCapacity*9/10 {
		t.Fatalf("%d verdicts cached, capacity %d", n, cacheCapacity)
	}
	long := strings.Repeat("x", maxCachedAgent+1)
	access(in, long)
	if _, ok := in.cache.get(long); ok {
		t.Fatal("a long agent was cached")
	}

	c := newVerdictCache(2 * cacheShards) // two per shard
	s := c.shard("a")
	var same []string // agents of a's shard
	for i := 0; len(same) < 3; i++ {
		if a := "a" + strconv.Itoa(i); c.shard(a) == s {
			same = append(same, a)
		}
	}
	c.put(same[0], verdictBot)
	c.put(same[1], verdictNone)
	c.get(same[0]) // now the most recent
	c.put(same[2], verdictDeny)
	if _, ok := c.get(same[1]); ok {
		t.Error("the least recent verdict was kept")
	}
	if v, ok := c.get(same[0]); !ok || v != verdictBot {
		t.Error("the most recent verdict was evicted")
	}
}

// A cached verdict costs no allocation.
func TestCachedAccessAllocatesNothing(t *testing.T) {
	in := build(t, Config{})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("User-Agent", chrome)
	c := &plugin.Ctx{Req: r}
	in.Access(c)
	if n := testing.AllocsPerRun(100, func() { in.Access(c) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// BenchmarkAccess: a browser agent seen before (the cache), one never
// seen (the rules run), and 4 KiB agents (never cached), one made to
// cost the most.
func BenchmarkAccess(b *testing.B) {
	in := build(b, Config{Deny: []string{"evil"}})
	for _, tc := range []struct{ name, agent string }{
		{"cached", chrome},
		{"uncached", ""},
		{"long-4KiB", chrome + strings.Repeat(" x", 2000)},
		// Every literal a pattern needs, and "bot" everywhere: each
		// pattern and matcher scans the whole agent.
		{"hostile-4KiB", "Boto JetS3t aws- s3fs Isara Y!J-BR MSIE favicon Yeti IP2 Microsoft WASALive WeSEE: Xerka Yandex " +
			"Google" + strings.Repeat(" xbot", 800)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			c := &plugin.Ctx{Req: r}
			r.Header.Set("User-Agent", tc.agent)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if tc.agent == "" {
					i++
					r.Header["User-Agent"][0] = chrome[:60] + strconv.Itoa(i)
				}
				if err := in.Access(c); err != nil && !strings.HasPrefix(tc.name, "hostile") {
					b.Fatal(err)
				}
			}
		})
	}
}
