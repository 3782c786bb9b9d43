package requestmirror

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

func newFrom(t testing.TB, src string, env plugin.Env) (*instance, error) {
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
	inst, err := New(cfg, env)
	if err != nil {
		return nil, err
	}
	in := inst.(*instance)
	t.Cleanup(in.Close)
	return in, nil
}

func build(t testing.TB, src string, reg prometheus.Registerer) *instance {
	t.Helper()
	in, err := newFrom(t, src, plugin.Env{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// seen is one copy a shadow server received.
type seen struct {
	method, uri, host, header, body string
}

// shadow is a real server that records the copies it gets, after delay.
func shadow(t testing.TB, delay time.Duration) (*httptest.Server, chan seen) {
	got := make(chan seen, 200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		got <- seen{r.Method, r.RequestURI, r.Host, r.Header.Get("X-Test"), string(b)}
		io.WriteString(w, "shadow answer")
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func ctx(method, body string, length int64) *plugin.Ctx {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://gw.example/api/x?q=1", rd)
	req.ContentLength = length
	req.Header.Set("X-Test", "yes")
	return &plugin.Ctx{Req: req, Path: "/svc/x", ClientPath: "/api/x", RawQuery: "q=1"}
}

func next(t *testing.T, got chan seen) seen {
	t.Helper()
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no copy reached the mirror")
		return seen{}
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct{ src, path, msg string }{
		{"percentage: 50", "", "exactly one of these fields must be non-empty: 'config.mirror_url', 'config.upstream_host'"},
		{"{mirror_url: 'http://a', upstream_host: b}", "", "exactly one of these fields must be non-empty: 'config.mirror_url', 'config.upstream_host'"},
		{"{mirror_url: 'ftp://a'}", "mirror_url", "invalid url 'ftp://a': expected http(s)://host[:port][/path]"},
		{"{mirror_url: 'http://a/p?x=1'}", "mirror_url", "invalid url 'http://a/p?x=1': expected http(s)://host[:port][/path]"},
		{"{mirror_url: 'http://u:p@a'}", "mirror_url", "invalid url 'http://u:p@a': expected http(s)://host[:port][/path]"},
		{"{mirror_url: 'http://a:0'}", "mirror_url", "invalid url 'http://a:0': expected http(s)://host[:port][/path]"},
		{"{upstream_host: 'a b'}", "upstream_host", "invalid hostname: 'a b'"},
		{"{upstream_host: a, upstream_port: 0}", "upstream_port", "value should be between 1 and 65535"},
		{"{upstream_host: a, protocol: grpc}", "protocol", "expected one of: http, https"},
		{"{upstream_host: a, path: other}", "path", "expected one of: upstream, client"},
		{"{upstream_host: a, percentage: 101}", "percentage", "value should be between 0 and 100"},
		{"{upstream_host: a, max_in_flight: 0}", "max_in_flight", "value should be between 1 and 10000"},
		{"{upstream_host: a, max_body_size: -1}", "max_body_size", "value should be between 0 and 16777216"},
		{"{upstream_host: a, timeout: 0}", "timeout", "value should be between 1 and 600000"},
	} {
		_, err := newFrom(t, tc.src, plugin.Env{})
		errs, _ := err.(plugin.Errors)
		found := false
		for _, e := range errs {
			found = found || e.Path == tc.path && e.Message == tc.msg
		}
		if !found {
			t.Errorf("%s: got %v, want %s: %s", tc.src, err, tc.path, tc.msg)
		}
	}
	for src, want := range map[string]mirror{
		"mirror_url: 'http://shadow.internal:8080/mirror/'": {"http", "shadow.internal:8080", "/mirror"},
		"mirror_url: 'https://10.0.0.1'":                    {"https", "10.0.0.1", ""},
		"{upstream_host: shadow}":                           {"http", "shadow:80", ""},
		"{upstream_host: shadow, protocol: https}":          {"https", "shadow:443", ""},
		"{upstream_host: '::1', upstream_port: 9000}":       {"http", "[::1]:9000", ""},
	} {
		in, err := newFrom(t, src, plugin.Env{})
		if err != nil || in.mirror != want {
			t.Errorf("%s: %+v %v, want %+v", src, in, err, want)
		}
	}
}

// A copy carries the method, the upstream path (or the client's) after
// the mirror's prefix, the query, the headers and the body; the proxy
// still reads the whole body.
func TestMirrorsCopy(t *testing.T) {
	srv, got := shadow(t, 0)
	for _, tc := range []struct{ cfg, uri string }{
		{"mirror_url: '" + srv.URL + "/shadow'", "/shadow/svc/x?q=1"},
		{"{mirror_url: '" + srv.URL + "', path: client}", "/api/x?q=1"},
	} {
		in := build(t, tc.cfg, nil)
		c := ctx("POST", "hello body", 10)
		if err := in.Access(c); err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(c.Req.Body); err != nil || string(b) != "hello body" {
			t.Errorf("the proxy reads %q %v", b, err)
		}
		want := seen{"POST", tc.uri, srv.Listener.Addr().String(), "yes", "hello body"}
		if s := next(t, got); s != want {
			t.Errorf("%s: mirror got %+v, want %+v", tc.cfg, s, want)
		}
	}
}

// The client does not wait for a slow mirror; the copy still arrives.
func TestSlowMirrorDoesNotDelay(t *testing.T) {
	srv, got := shadow(t, 2*time.Second)
	in := build(t, "mirror_url: '"+srv.URL+"'", nil)
	start := time.Now()
	if err := in.Access(ctx("GET", "", 0)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Access took %v", d)
	}
	next(t, got)
}

// Over max_in_flight copies are dropped and counted; a body over
// max_body_size or of unknown length is not mirrored (and counted), and
// reaches the proxy intact; a copy past its timeout counts as failed.
func TestBoundsAndOutcomes(t *testing.T) {
	reg := prometheus.NewRegistry()
	release := make(chan struct{})
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Done()
		<-release
	}))
	t.Cleanup(srv.Close)
	in := build(t, "{mirror_url: '"+srv.URL+"', max_in_flight: 2, max_body_size: 8, timeout: 3000}", reg)
	v := func(outcome string) float64 {
		return testutil.ToFloat64(map[string]prometheus.Counter{
			"mirrored": in.m.mirrored, "failed": in.m.failed, "dropped": in.m.dropped, "too_large": in.m.tooLarge,
		}[outcome])
	}
	wg.Add(2)
	for range 5 {
		in.Access(ctx("GET", "", 0))
	}
	wg.Wait()
	if v("dropped") != 3 || in.inFlight.Load() != 2 {
		t.Errorf("dropped %v, in flight %d; want 3 and 2", v("dropped"), in.inFlight.Load())
	}
	close(release)
	for _, c := range []*plugin.Ctx{ctx("POST", "nine byte", 9), ctx("POST", "chunked", -1)} {
		want := c.Req.Body
		in.Access(c)
		if c.Req.Body != want {
			t.Error("a body not mirrored was replaced")
		}
	}
	if v("too_large") != 2 {
		t.Errorf("too_large %v", v("too_large"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for v("mirrored") != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if v("mirrored") != 2 || in.inFlight.Load() != 0 {
		t.Errorf("mirrored %v, in flight %d", v("mirrored"), in.inFlight.Load())
	}

	slow, _ := shadow(t, 2*time.Second)
	in = build(t, "{mirror_url: '"+slow.URL+"', timeout: 100}", reg)
	in.Access(ctx("GET", "", 0))
	for v("failed") != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if v("failed") != 1 {
		t.Errorf("failed %v", v("failed"))
	}
}

// A client body that fails while it is read for the copy fails the same
// way for the proxy, after the bytes that did arrive; no copy is sent.
func TestBodyReadError(t *testing.T) {
	srv, got := shadow(t, 0)
	in := build(t, "mirror_url: '"+srv.URL+"'", nil)
	c := ctx("POST", "", 10)
	boom := errors.New("client body timeout")
	c.Req.Body = io.NopCloser(io.MultiReader(strings.NewReader("abc"), errReader{boom}))
	in.Access(c)
	b, err := io.ReadAll(c.Req.Body)
	if string(b) != "abc" || err != boom {
		t.Errorf("proxy read %q %v", b, err)
	}
	if in.inFlight.Load() != 0 {
		t.Error("slot kept")
	}
	select {
	case s := <-got:
		t.Errorf("copy sent: %+v", s)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestSampling(t *testing.T) {
	srv, got := shadow(t, 0)
	none := build(t, "{mirror_url: '"+srv.URL+"', percentage: 0}", nil)
	half := build(t, "{mirror_url: '"+srv.URL+"', percentage: 50, max_in_flight: 1000}", nil)
	for range 200 {
		none.Access(ctx("GET", "", 0))
		half.Access(ctx("GET", "", 0))
	}
	deadline := time.Now().Add(5 * time.Second)
	for half.inFlight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	n := len(got)
	// Binomial(200, 0.5): a standard deviation of about 7.
	if n < 70 || n > 130 || testutil.ToFloat64(none.m.mirrored) != 0 {
		t.Errorf("%d of 200 mirrored at 50%%; %v at 0%%", n, testutil.ToFloat64(none.m.mirrored))
	}
}

func BenchmarkAccess(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	b.Cleanup(srv.Close)
	body := strings.Repeat("x", 1024)
	for _, tc := range []struct{ name, cfg, body string }{
		{"sampled-out", "{mirror_url: '" + srv.URL + "', percentage: 0}", ""},
		{"dropped", "{mirror_url: '" + srv.URL + "', max_in_flight: 1}", ""},
		{"copy-nobody", "mirror_url: '" + srv.URL + "'", ""},
		{"copy-1KiB", "mirror_url: '" + srv.URL + "'", body},
		{"copy-64KiB", "mirror_url: '" + srv.URL + "'", strings.Repeat(body, 64)},
	} {
		in := build(b, tc.cfg, nil)
		if tc.name == "dropped" {
			in.inFlight.Store(1)
		}
		c := ctx("POST", "", int64(len(tc.body)))
		rd := strings.NewReader(tc.body)
		rc := io.NopCloser(rd)
		// The copy's own work (its goroutine, the round trip) is left out
		// of the timing: what is measured is the request's cost.
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(tc.body)
				c.Req.Body = rc
				in.Access(c)
				if in.inFlight.Load() == 0 || tc.name == "dropped" {
					continue
				}
				b.StopTimer()
				for in.inFlight.Load() > 0 {
					time.Sleep(time.Microsecond)
				}
				b.StartTimer()
			}
		})
	}
}
