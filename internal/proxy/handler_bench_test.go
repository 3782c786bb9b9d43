package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/observe"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/snapshot"
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
	m, err := config.Parse([]byte(simpleConfig), config.Options{ExpandEnv: true, LookupEnv: func(k string) (string, bool) {
		return upstreamURL, k == "UP"
	}})
	if err != nil {
		b.Fatal(err)
	}
	reg, _ := plugin.NewRegistry(nil)
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	b.Cleanup(pools.Close)
	snap, err := snapshot.Compile(m, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})})
	if err != nil {
		b.Fatal(err)
	}
	if plugins > 0 {
		var steps []snapshot.Step
		for range plugins {
			steps = append(steps, snapshot.Step{Name: "noop", Base: noop{}})
		}
		snap.Routes[0].Chain = &snapshot.Chain{Access: steps, Header: steps, Body: steps, Log: steps}
	}
	holder := &snapshot.Holder{}
	holder.Store(snap)
	h := NewHandler(holder, Options{Version: "test", Observers: observers})
	b.Cleanup(h.Close)
	return h.Listener("http", "80")
}

func benchServe(b *testing.B, plugins int, observers ...record.Observer) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain"}
		io.WriteString(w, "Hello, World!")
	}))
	defer up.Close()
	lh := benchHandler(b, up.URL, plugins, observers...)
	req := httptest.NewRequest(http.MethodGet, "/hello", nil)
	b.ReportAllocs()
	for b.Loop() {
		r := req.Clone(req.Context())
		rr := httptest.NewRecorder()
		lh.ServeHTTP(rr, r)
		if rr.Code != http.StatusOK {
			b.Fatal(rr.Code)
		}
	}
}

func BenchmarkServeNoPlugins(b *testing.B)    { benchServe(b, 0) }
func BenchmarkServeThreePlugins(b *testing.B) { benchServe(b, 3) }

// BenchmarkServeCoreMetrics is BenchmarkServeNoPlugins with the always-on
// request metrics observing: their cost per request is the difference.
func BenchmarkServeCoreMetrics(b *testing.B) {
	benchServe(b, 0, observe.NewRequestMetrics(prometheus.NewRegistry()))
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
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello, World!")
	}))
	defer up.Close()
	lh := benchHandler(b, up.URL, 0)
	req := httptest.NewRequest(http.MethodGet, "/hello", nil)
	req.Header.Set("Cookie", "session=0123456789abcdef; theme=dark; _ga=GA1.2.3")
	b.ReportAllocs()
	for b.Loop() {
		r := req.Clone(req.Context())
		rr := httptest.NewRecorder()
		lh.ServeHTTP(rr, r)
		if rr.Code != http.StatusOK {
			b.Fatal(rr.Code)
		}
	}
}
