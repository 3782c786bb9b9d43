package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/observe"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/server"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// newGateway serves cfg (with ${UP} set to upstreamURL) through the proxy
// handler on a loopback test server.
func newGateway(t testing.TB, cfg, upstreamURL string) *httptest.Server {
	t.Helper()
	return newGatewayOpts(t, cfg, upstreamURL, Options{Version: "test"})
}

// newGatewayOpts is newGateway with the handler's options.
func newGatewayOpts(t testing.TB, cfg, upstreamURL string, opts Options) *httptest.Server {
	t.Helper()
	m, err := config.Parse([]byte(cfg), config.Options{ExpandEnv: true, LookupEnv: func(k string) (string, bool) {
		return upstreamURL, k == "UP"
	}})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := plugin.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	snap, err := snapshot.Compile(m, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})})
	if err != nil {
		t.Fatal(err)
	}
	holder := &snapshot.Holder{}
	holder.Store(snap)
	h := NewHandler(holder, opts)
	t.Cleanup(h.Close)
	srv := httptest.NewServer(h.Listener("http", "80"))
	t.Cleanup(srv.Close)
	return srv
}

const simpleConfig = `
_format_version: "3.0"
services:
- name: s
  url: ${UP}
  routes: [{paths: [/]}]
`

func TestChunkedResponseWithTrailers(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "part1,")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part2")
		w.Header().Set("X-Checksum", "abc")
	}))
	defer up.Close()
	gw := newGateway(t, simpleConfig, up.URL)
	for range 3 { // the pooled connection is reused after a chunked body
		resp, err := http.Get(gw.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "part1,part2" || resp.Trailer.Get("X-Checksum") != "abc" {
			t.Fatalf("body %q trailer %v", b, resp.Trailer)
		}
	}
}

func TestStaleKeepAliveIsRetriedOnce(t *testing.T) {
	var calls int
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		io.WriteString(w, "ok")
	}))
	up.Start()
	defer up.Close()
	gw := newGateway(t, simpleConfig, up.URL)
	get := func() string {
		resp, err := http.Get(gw.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	if got := get(); got != "ok" {
		t.Fatalf("first: %q", got)
	}
	// The upstream drops its idle keep-alive connections.
	up.CloseClientConnections()
	if got := get(); got != "ok" {
		t.Fatalf("after the upstream closed the idle connection: %q", got)
	}
	if calls != 2 {
		t.Errorf("upstream calls %d, want 2", calls)
	}
}

func TestUpstreamBodyCutIsNotPassedOffAsComplete(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, strings.Repeat("x", 10))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	defer up.Close()
	gw := newGateway(t, simpleConfig, up.URL)
	resp, err := http.Get(gw.URL + "/")
	if err != nil {
		return // cut before the head: fine
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatal("a truncated upstream body reached the client as complete")
	}
}

// On both server paths: net/http's request context, and the own HTTP/1
// server's connection context, whose abort slot the proxy registers in
// instead of context.AfterFunc.
func TestClientDisconnectAbortsUpstreamWait(t *testing.T) {
	for _, own := range []bool{false, true} {
		t.Run(map[bool]string{false: "net", true: "own"}[own], func(t *testing.T) {
			clientDisconnectAbortsUpstreamWait(t, own)
		})
	}
}

func clientDisconnectAbortsUpstreamWait(t *testing.T, own bool) {
	released := make(chan time.Duration, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			start := time.Now()
			select {
			case <-r.Context().Done(): // the gateway closed the connection
			case <-time.After(10 * time.Second):
			}
			released <- time.Since(start)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	gwURL := newGateway(t, simpleConfig, up.URL).URL
	if own {
		gwURL = newOwnGateway(t, simpleConfig, up.URL)
	}

	client := &http.Client{Timeout: 200 * time.Millisecond}
	if _, err := client.Get(gwURL + "/slow"); err == nil {
		t.Fatal("the slow request answered")
	}
	select {
	case d := <-released:
		if d > 3*time.Second {
			t.Fatalf("upstream connection held %v after the client left", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream wait was not aborted when the client left")
	}
	for range 3 { // the pool serves the next requests normally
		resp, err := http.Get(gwURL + "/fast")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("after an abort: %q", b)
		}
	}
}

// newOwnGateway is newGateway on the gateway's own HTTP/1 server; it
// returns the gateway's URL.
func newOwnGateway(t *testing.T, cfg, upstreamURL string) string {
	t.Helper()
	gw := newGateway(t, cfg, upstreamURL)
	limits := server.DefaultLimits
	limits.OwnHTTP1 = true
	srv, err := server.New("proxy", []server.Listen{{Addr: "127.0.0.1:0"}}, func(string, string) http.Handler { return gw.Config.Handler },
		limits, server.TLS{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return "http://" + srv.Addrs()[0].String()
}

func BenchmarkProxyHello(b *testing.B) {
	body := []byte("Hello, World!")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain"}
		w.Write(body)
	}))
	defer up.Close()
	gw := newGateway(b, simpleConfig, up.URL)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(gw.URL + "/hello")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkProxyHelloLogged is BenchmarkProxyHello with the access log
// observing every request.
func BenchmarkProxyHelloLogged(b *testing.B) {
	body := []byte("Hello, World!")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain"}
		w.Write(body)
	}))
	defer up.Close()
	al := observe.NewAccessLog(io.Discard, 8192)
	defer al.Close()
	gw := newGatewayOpts(b, simpleConfig, up.URL, Options{Version: "test", Observers: []record.Observer{al}})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(gw.URL + "/hello")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
