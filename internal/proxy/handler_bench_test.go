package proxy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/observe"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/store"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// noop is a plugin of every phase that does nothing.
type noop struct{}

func (noop) Access(*plugin.Ctx) error                        { return nil }
func (noop) HeaderFilter(*plugin.Ctx)                        {}
func (noop) BodyFilter(_ *plugin.Ctx, r io.Reader) io.Reader { return r }
func (noop) Log(*plugin.Ctx)                                 {}

// benchHandler is the handler for simpleConfig on upstreamURL, with
// plugins no-op plugins in every phase and the observers, served without
// a client connection so that only the gateway's own work is measured.
func benchHandler(b *testing.B, upstreamURL string, plugins int, observers ...record.Observer) http.Handler {
	lh := benchConfigHandler(b, simpleConfig, upstreamURL, snapshot.Deps{}, observers...)
	if plugins > 0 {
		var steps []snapshot.Step
		for range plugins {
			steps = append(steps, snapshot.Step{Name: "noop", Base: noop{}})
		}
		lh.(*listenerHandler).h.snap.Load().Routes[0].Chain = &snapshot.Chain{Access: steps, Header: steps, Body: steps, Log: steps}
	}
	return lh
}

// benchConfigHandler is the handler for cfg on upstreamURL, compiled with
// deps (their Registry and Upstreams filled in when nil).
func benchConfigHandler(b *testing.B, cfg, upstreamURL string, deps snapshot.Deps, observers ...record.Observer) http.Handler {
	if deps.Registry == nil {
		deps.Registry, _ = plugin.NewRegistry(nil)
	}
	m, err := config.Parse([]byte(cfg), config.Options{ExpandEnv: true, LookupEnv: func(k string) (string, bool) {
		return upstreamURL, k == "UP"
	}, Credentials: snapshot.CredentialKinds(deps.Registry)})
	if err != nil {
		b.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	b.Cleanup(pools.Close)
	deps.Upstreams = upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})
	snap, err := snapshot.Compile(m, deps)
	if err != nil {
		b.Fatal(err)
	}
	holder := &snapshot.Holder{}
	holder.Store(snap)
	h := NewHandler(holder, Options{Version: "test", Observers: observers})
	b.Cleanup(h.Close)
	return h.Listener("http", "80")
}

// rawResponse is what rawUpstream answers: the head of the bench
// backend's /hello, with a fixed Date.
const rawResponse = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 07 Dec 2026 05:00:00 GMT\r\n" +
	"Content-Length: 13\r\n\r\nHello, World!"

// rawUpstream serves on a free loopback port, answering every request
// head it reads (requests without a body) with rawResponse. It reads and
// writes through one buffer per connection and allocates nothing per
// request, so a benchmark's allocations are the gateway's.
func rawUpstream(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveRaw(c)
		}
	}()
	return "http://" + ln.Addr().String()
}

func serveRaw(c net.Conn) {
	defer c.Close()
	resp := []byte(rawResponse)
	buf := make([]byte, 16<<10)
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += m
		for {
			i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
			if i < 0 {
				break
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
			n = copy(buf, buf[i+4:n])
		}
	}
}

// benchWriter is a ResponseWriter reused from request to request, as a
// server that pools its response state reuses it: it keeps the status
// and counts the body.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header  { return w.h }
func (w *benchWriter) WriteHeader(code int) { w.code = code }
func (w *benchWriter) FlushError() error    { return nil }

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

// benchRequests hands out one request value again and again, refilled
// from base as a server that reuses its request value would: the header
// map is cleared and refilled, which allocates nothing once its buckets
// exist.
type benchRequests struct {
	base *http.Request
	r    http.Request
	hdr  http.Header
}

func newBenchRequests(base *http.Request) *benchRequests {
	return &benchRequests{base: base, hdr: http.Header{}}
}

func (q *benchRequests) next() *http.Request {
	clear(q.hdr)
	for k, v := range q.base.Header {
		q.hdr[k] = v
	}
	q.r = *q.base
	q.r.Header = q.hdr
	return &q.r
}

// serveLoop serves req through lh once per benchmark iteration with a
// reused request value and response writer, and checks each answer.
func serveLoop(b *testing.B, lh http.Handler, req *http.Request) {
	q := newBenchRequests(req)
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code, w.n = 0, 0
		lh.ServeHTTP(w, q.next())
		if w.code != http.StatusOK || w.n != 13 {
			b.Fatal(w.code, w.n)
		}
	}
}

func benchServe(b *testing.B, plugins int, observers ...record.Observer) {
	lh := benchHandler(b, rawUpstream(b), plugins, observers...)
	serveLoop(b, lh, httptest.NewRequest(http.MethodGet, "/hello", nil))
}

func BenchmarkServeNoPlugins(b *testing.B)    { benchServe(b, 0) }
func BenchmarkServeThreePlugins(b *testing.B) { benchServe(b, 3) }

// BenchmarkServeCancelableContext is BenchmarkServeNoPlugins with a
// request context that can end, as net/http's can: each upstream attempt
// registers the abort for a client that goes away.
func BenchmarkServeCancelableContext(b *testing.B) {
	lh := benchHandler(b, rawUpstream(b), 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serveLoop(b, lh, httptest.NewRequestWithContext(ctx, http.MethodGet, "/hello", nil))
}

// BenchmarkServeCoreMetrics is BenchmarkServeNoPlugins with the always-on
// request metrics observing: their cost per request is the difference.
func BenchmarkServeCoreMetrics(b *testing.B) {
	benchServe(b, 0, observe.NewRequestMetrics(prometheus.NewRegistry()))
}

// authRateLimitPromConfig is bench/plugins.sh's key-auth + local
// rate-limiting route with its prometheus plugin (every metric on), and
// a consumer with a key.
const authRateLimitPromConfig = `
_format_version: "3.0"
services:
- name: s
  url: ${UP}
  routes:
  - name: r
    paths: [/]
    plugins:
    - {name: key-auth}
    - {name: rate-limiting, config: {hour: 1000000000, policy: local}}
    - {name: prometheus, config: {per_consumer: true, status_code_metrics: true, latency_metrics: true, bandwidth_metrics: true, upstream_health_metrics: true}}
consumers:
- username: alice
  keyauth_credentials: [{key: bench-key-0123456789}]
`

// BenchmarkServeKeyAuthRateLimitProm is a request with a valid apikey on
// a route with key-auth, rate-limiting (policy local, a limit never
// reached) and prometheus, the built-in plugins registered as the
// gateway registers them, with the always-on request metrics observing.
func BenchmarkServeKeyAuthRateLimitProm(b *testing.B) {
	reg, err := plugin.NewRegistry(all.Registrations())
	if err != nil {
		b.Fatal(err)
	}
	metrics := prometheus.NewRegistry()
	stores := store.NewProvider()
	deps := snapshot.Deps{Registry: reg, Env: plugin.Env{Logger: slog.New(slog.DiscardHandler), Metrics: metrics, Store: stores}}
	lh := benchConfigHandler(b, authRateLimitPromConfig, rawUpstream(b), deps, observe.NewRequestMetrics(metrics))
	req := httptest.NewRequest(http.MethodGet, "/hello", nil)
	req.Header.Set("Apikey", "bench-key-0123456789")
	serveLoop(b, lh, req)
}

// BenchmarkPhases runs the four timed plugin phases of one request with
// three no-op plugins each, without the rest of the request.
func BenchmarkPhases(b *testing.B) {
	steps := []snapshot.Step{{Name: "a", Base: noop{}}, {Name: "b", Base: noop{}}, {Name: "c", Base: noop{}}}
	route := &snapshot.Route{Chain: &snapshot.Chain{Access: steps, Header: steps, Body: steps, Log: steps}}
	h := &Handler{}
	st := &reqState{route: route, chain: route.Chain}
	st.StartedAt = time.Now()
	b.ReportAllocs()
	for b.Loop() {
		st.rec = record.Record{}
		if err := h.access(st, route); err != nil {
			b.Fatal(err)
		}
		h.headerFilters(st)
		h.bodyFilters(st, http.NoBody)
		h.logPhase(st)
	}
	if n := len(st.rec.Plugins()); n != 12 {
		b.Fatalf("%d plugin timings", n)
	}
}

// exitPlugin answers every request in its access phase with a body, as a
// cache hit does: its header fields go straight into the response's, and
// the Exit carries the status and body.
type exitPlugin struct{ header http.Header }

func (p exitPlugin) Access(c *plugin.Ctx) error {
	for k, v := range p.header {
		c.Resp.Header[k] = v
	}
	return &plugin.Exit{Status: http.StatusOK, Body: []byte("Hello, World!")}
}

// BenchmarkServeExitBody is a request answered by a plugin's Exit with a
// body (a response cache's hit) through the proxy's exit path, without
// the plugin's own work.
func BenchmarkServeExitBody(b *testing.B) {
	lh := benchHandler(b, "http://127.0.0.1:9", 0)
	hdr := http.Header{
		"Content-Type":   {"text/plain"},
		"Date":           {"Mon, 07 Dec 2026 05:00:00 GMT"},
		"Age":            {"12"},
		"X-Cache-Status": {"Hit"},
		"X-Cache-Key":    {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	}
	lh.(*listenerHandler).h.snap.Load().Routes[0].Chain = &snapshot.Chain{Access: []snapshot.Step{{Name: "exit", Base: exitPlugin{hdr}}}}
	req := httptest.NewRequest(http.MethodGet, "/hello", nil)
	b.ReportAllocs()
	for b.Loop() {
		r := req.Clone(req.Context())
		rr := httptest.NewRecorder()
		lh.ServeHTTP(rr, r)
		if rr.Code != http.StatusOK || rr.Body.Len() != 13 {
			b.Fatal(rr.Code, rr.Body.String())
		}
	}
}

// BenchmarkServeCookie is a request with an application's cookies, none
// of them the dashboard's: the cookie check must cost no allocation.
func BenchmarkServeCookie(b *testing.B) {
	lh := benchHandler(b, rawUpstream(b), 0)
	req := httptest.NewRequest(http.MethodGet, "/hello", nil)
	req.Header.Set("Cookie", "session=0123456789abcdef; theme=dark; _ga=GA1.2.3")
	serveLoop(b, lh, req)
}
