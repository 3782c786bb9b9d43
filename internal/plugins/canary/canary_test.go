package canary

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/plugintest"
)

func newFrom(t testing.TB, src string) (plugin.Instance, error) {
	t.Helper()
	raw, err := config.ParseRaw([]byte(src), "config")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{}
	cfg.SetDefaults()
	if errs := raw.Decode(cfg); len(errs) > 0 {
		t.Fatal(errs)
	}
	return New(cfg, plugin.Env{})
}

func build(t testing.TB, src string) *instance {
	t.Helper()
	inst, err := newFrom(t, src)
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*instance)
}

func ctx(ip string, header ...string) *plugin.Ctx {
	req := httptest.NewRequest("GET", "http://example.com/", nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return &plugin.Ctx{Req: req, ClientIP: ip, ForwardedIP: ip, StartedAt: time.Now(), Path: "/orig"}
}

// canaried runs the access phase and reports whether the request went to
// the canary.
func canaried(t testing.TB, in *instance, c *plugin.Ctx) bool {
	t.Helper()
	if err := in.Access(c); err != nil {
		t.Fatal(err)
	}
	return c.Target != nil || c.Path != "/orig"
}

func TestRegistration(t *testing.T) {
	r := Registration()
	if r.Name != "canary" || r.Priority != 20 {
		t.Errorf("%s %d", r.Name, r.Priority)
	}
	in := build(t, "upstream_host: example.com")
	if in.hash != hashConsumer || in.steps != 1000 || in.duration != 3600 || in.fixed {
		t.Errorf("defaults: %+v", in)
	}
	if d := time.Now().Unix() - int64(in.start); d < 0 || d > 5 {
		t.Errorf("start defaults to now: %v", in.start)
	}
}

// The accept and refuse cases of the documented schema: fields, ranges,
// the at-least-one-of rule, the fields hash modes need.
func TestValidation(t *testing.T) {
	for _, tc := range []struct{ src, path, msg string }{
		{"percentage: 50", "", "at least one of these fields must be non-empty: 'config.upstream_uri', 'config.upstream_host', 'config.upstream_port'"},
		{"{upstream_port: 8080, percentage: 101}", "percentage", "value should be between 0 and 100"},
		{"{upstream_port: 8080, percentage: -1}", "percentage", "value should be between 0 and 100"},
		{"{upstream_port: 70000}", "upstream_port", "value should be between 0 and 65535"},
		{"{upstream_host: 'bad host'}", "upstream_host", "invalid hostname: 'bad host'"},
		{"{upstream_uri: ''}", "upstream_uri", "length must be at least 1"},
		{"{upstream_uri: 'v2'}", "upstream_uri", "should start with: /"},
		{"{upstream_uri: '/a b'}", "upstream_uri", "invalid path: '/a b' (characters outside of the reserved list of RFC 3986 found)"},
		{"{upstream_uri: '/a%zz'}", "upstream_uri", "invalid path: '/a%zz' (characters outside of the reserved list of RFC 3986 found)"},
		{"{upstream_port: 1, hash: random}", "hash", "expected one of: consumer, ip, none, allow, deny, header"},
		{"{upstream_port: 1, hash: header}", "hash_header", "required field missing"},
		{"{upstream_port: 1, hash: header, hash_header: 'x y'}", "hash_header", "bad header name 'x y', allowed characters are A-Z, a-z, 0-9, '_', and '-'"},
		{"{upstream_port: 1, canary_by_header_name: 'a:b'}", "canary_by_header_name", "bad header name 'a:b', allowed characters are A-Z, a-z, 0-9, '_', and '-'"},
		{"{upstream_port: 1, hash: allow}", "groups", "required field missing"},
		{"{upstream_port: 1, hash: deny, groups: ['']}", "groups[0]", "length must be at least 1"},
		{"{upstream_port: 1, steps: 0}", "steps", "value should be between 1 and 1000000"},
		{"{upstream_port: 1, duration: -1}", "duration", "value must be greater than or equal to 0"},
	} {
		_, err := newFrom(t, tc.src)
		errs, _ := err.(plugin.Errors)
		found := false
		for _, e := range errs {
			found = found || e.Path == tc.path && e.Message == tc.msg
		}
		if !found {
			t.Errorf("%s: got %v, want %s: %s", tc.src, err, tc.path, tc.msg)
		}
	}
	for _, src := range []string{
		"upstream_uri: /v2",
		"{upstream_host: canary.internal, upstream_port: 8080, percentage: 0}",
		"{upstream_host: 10.0.0.1, percentage: 100, hash: none}",
		"{upstream_host: '::1', hash: ip, steps: 1}",
		"{upstream_port: 1, hash: header, hash_header: X-User}",
		"{upstream_port: 1, hash: allow, groups: [beta]}",
		"{upstream_port: 1, start: null, duration: 0}",
		"{upstream_port: 1, start: 1700000000.5, duration: 7200, steps: 10}",
		"{upstream_uri: '/a%2Fb;c=d'}",
	} {
		if _, err := newFrom(t, src); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// hash none sends exactly the configured share, spread over the run
// rather than in one block.
func TestPercentageNone(t *testing.T) {
	in := build(t, "{upstream_host: c, percentage: 30, hash: none, steps: 100}")
	n, run, longest := 0, 0, 0
	for range 1000 {
		if canaried(t, in, ctx("10.0.0.1")) {
			n++
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	if n != 300 {
		t.Errorf("%d of 1000 went to the canary, want 300", n)
	}
	if longest > 3 {
		t.Errorf("a run of %d canary requests in a row", longest)
	}
}

// Sticky per client address: the share of addresses is near the
// percentage, each address always lands on the same side, and an address
// on the canary at 20% is still on it at 50%.
func TestStickyByIP(t *testing.T) {
	at20 := build(t, "{upstream_port: 1, percentage: 20, hash: ip}")
	at50 := build(t, "{upstream_port: 1, percentage: 50, hash: ip}")
	n := 0
	for i := range 2000 {
		ip := "10.1." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
		first := canaried(t, at20, ctx(ip))
		for range 3 {
			if canaried(t, at20, ctx(ip)) != first {
				t.Fatalf("%s changed sides", ip)
			}
		}
		if first {
			n++
			if !canaried(t, at50, ctx(ip)) {
				t.Errorf("%s on the canary at 20%% but not at 50%%", ip)
			}
		}
	}
	if n < 340 || n > 460 {
		t.Errorf("%d of 2000 addresses on the canary at 20%%", n)
	}
}

// hash header reads the header, else the consumer, else the address;
// hash consumer falls back to the address.
func TestHashInputs(t *testing.T) {
	in := build(t, "{upstream_port: 1, percentage: 50, hash: header, hash_header: X-User}")
	var on, off string
	for i := 0; on == "" || off == ""; i++ {
		v := "user" + strconv.Itoa(i)
		if canaried(t, in, ctx("10.0.0.1", "X-User", v)) {
			on = v
		} else {
			off = v
		}
	}
	// Whatever the address, the header decides.
	for i := range 50 {
		ip := "192.168.0." + strconv.Itoa(i)
		if !canaried(t, in, ctx(ip, "X-User", on)) || canaried(t, in, ctx(ip, "X-User", off)) {
			t.Fatalf("header value did not decide from %s", ip)
		}
	}
	// Without the header, a consumer's id decides as its header value would.
	c := ctx("10.0.0.1")
	c.Consumer = &plugin.Consumer{ID: on}
	if !canaried(t, in, c) {
		t.Error("consumer fallback")
	}
	byConsumer := build(t, "{upstream_port: 1, percentage: 50}")
	byIP := build(t, "{upstream_port: 1, percentage: 50, hash: ip}")
	for i := range 50 {
		ip := "172.16.0." + strconv.Itoa(i)
		if canaried(t, byConsumer, ctx(ip)) != canaried(t, byIP, ctx(ip)) {
			t.Fatalf("hash consumer without a consumer does not fall back to the address (%s)", ip)
		}
	}
}

func TestGroupsAndOverride(t *testing.T) {
	dir := &plugintest.Directory{GroupsOf: map[string][]string{"a": {"staff", "beta"}, "b": {"staff"}}}
	who := func(id string) *plugin.Ctx {
		c := ctx("10.0.0.1")
		c.Directory = dir
		if id != "" {
			c.Consumer = &plugin.Consumer{ID: id}
		}
		return c
	}
	allow := build(t, "{upstream_port: 1, hash: allow, groups: [beta]}")
	deny := build(t, "{upstream_port: 1, hash: deny, groups: [beta], canary_by_header_name: X-Canary}")
	for _, tc := range []struct {
		id          string
		allow, deny bool
	}{{"a", true, false}, {"b", false, true}, {"", false, true}} {
		if got := canaried(t, allow, who(tc.id)); got != tc.allow {
			t.Errorf("allow %q: %v", tc.id, got)
		}
		if got := canaried(t, deny, who(tc.id)); got != tc.deny {
			t.Errorf("deny %q: %v", tc.id, got)
		}
	}
	c := who("a")
	c.Req.Header.Set("X-Canary", "always")
	if !canaried(t, deny, c) {
		t.Error("always")
	}
	c = who("b")
	c.Req.Header.Set("X-Canary", "never")
	if canaried(t, deny, c) {
		t.Error("never")
	}
}

// The ramp: nothing before start, the share grows by steps over
// duration, everything after.
func TestRamp(t *testing.T) {
	now := time.Now()
	src := func(start time.Time) string {
		return "{upstream_port: 1, hash: none, steps: 10, duration: 100, start: " + strconv.FormatInt(start.Unix(), 10) + "}"
	}
	for _, tc := range []struct {
		start time.Time
		want  int
	}{
		{now.Add(10 * time.Second), 0},
		{now.Add(-5 * time.Second), 0},
		{now.Add(-35 * time.Second), 30},
		{now.Add(-99 * time.Second), 90},
		{now.Add(-100 * time.Second), 100},
	} {
		in := build(t, src(tc.start))
		n := 0
		for range 100 {
			c := ctx("10.0.0.1")
			c.StartedAt = now
			if canaried(t, in, c) {
				n++
			}
		}
		if n != tc.want {
			t.Errorf("%v after start: %d%%, want %d%%", now.Sub(tc.start), n, tc.want)
		}
	}
}

// upstream_uri alone changes the path; with a host the target carries it.
func TestWhereItGoes(t *testing.T) {
	c := ctx("10.0.0.1")
	build(t, "{upstream_uri: /v2, percentage: 100}").Access(c)
	if c.Path != "/v2" || c.Target != nil {
		t.Errorf("path only: %q %v", c.Path, c.Target)
	}
	in := build(t, "{upstream_host: canary, upstream_port: 9000, upstream_uri: /v2, upstream_fallback: true, percentage: 100}")
	c = ctx("10.0.0.1")
	in.Access(c)
	want := plugin.Target{Host: "canary", Port: 9000, Path: "/v2", Fallback: true}
	if c.Target == nil || *c.Target != want || c.Path != "/orig" || len(in.Targets()) != 1 || in.Targets()[0] != c.Target {
		t.Errorf("target: %+v %q", c.Target, c.Path)
	}
	if strings.Contains(c.Path, "v2") {
		t.Error("path applied before the gateway knows the target is used")
	}
}

func TestNoAllocations(t *testing.T) {
	in := build(t, "{upstream_host: c, percentage: 50, hash: header, hash_header: X-User}")
	c := ctx("10.0.0.1", "X-User", "someone")
	if n := testing.AllocsPerRun(1000, func() { c.Target = nil; in.Access(c) }); n != 0 {
		t.Errorf("%v allocations per request", n)
	}
}

func BenchmarkAccess(b *testing.B) {
	for _, src := range []string{
		"{upstream_host: c, percentage: 50, hash: ip}",
		"{upstream_host: c, percentage: 50, hash: header, hash_header: X-User}",
		"{upstream_host: c, percentage: 50, hash: none}",
		"{upstream_host: c, hash: ip, duration: 3600}",
	} {
		in := build(b, src)
		c := ctx("203.0.113.7", "X-User", "someone@example.com")
		b.Run(in.hash+map[bool]string{true: "-fixed", false: "-ramp"}[in.fixed], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Target = nil
				in.Access(c)
			}
		})
	}
}
