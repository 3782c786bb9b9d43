package proxy

import (
	"bufio"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// recorder is an observer that keeps a copy of every record.
type recorder chan record.Record

func (r recorder) Observe(rec *record.Record) {
	c := *rec
	c.Attempts = append([]record.Attempt(nil), rec.Attempts...)
	r <- c
}

func (r recorder) next(t *testing.T) record.Record {
	t.Helper()
	select {
	case rec := <-r:
		return rec
	case <-time.After(5 * time.Second):
		t.Fatal("no record")
		return record.Record{}
	}
}

// probe is a plugin of every phase; deny makes its access phase answer.
type probe struct {
	deny     bool
	trailers chan http.Header
	records  chan record.Record // the record as the log phase sees it (nil: not kept)
}

func (p *probe) Access(c *plugin.Ctx) error {
	if p.deny {
		return plugin.NewExit(http.StatusForbidden, "no")
	}
	return nil
}
func (p *probe) HeaderFilter(c *plugin.Ctx) {}
func (p *probe) BodyFilter(c *plugin.Ctx, body io.Reader) io.Reader {
	return body
}
func (p *probe) Log(c *plugin.Ctx) {
	p.trailers <- c.Resp.Trailer
	if p.records != nil {
		r := *c.Record
		r.Attempts = append([]record.Attempt(nil), r.Attempts...)
		p.records <- r
	}
}

func withProbe(g *testGateway, p *probe) {
	step := snapshot.Step{Name: "probe", Base: p}
	steps := []snapshot.Step{step}
	g.Snap.Routes[0].Chain = &snapshot.Chain{Access: steps, Header: steps, Body: steps, Log: steps, Names: []string{"probe"}}
}

func trailerOf(t *testing.T, p *probe) http.Header {
	t.Helper()
	select {
	case h := <-p.trailers:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("no log phase")
		return nil
	}
}

// A log-phase plugin reads the upstream's trailer: HTTP/1.1 chunked and
// HTTP/2 (gRPC's status) alike, without the fields a trailer may not carry.
func TestLogPhaseSeesResponseTrailers(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum, Set-Cookie")
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
		w.Header().Set("Set-Cookie", "a=b")
	}))
	defer up.Close()
	g := newTestGateway(t, simpleConfig, map[string]string{"UP": up.URL}, nil)
	p := &probe{trailers: make(chan http.Header, 1)}
	withProbe(g, p)
	resp, err := http.Get(g.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if tr := trailerOf(t, p); tr.Get("X-Checksum") != "abc" || tr.Get("Set-Cookie") != "" {
		t.Errorf("HTTP/1.1 trailer seen by Log: %v", tr)
	}

	h2 := h2Upstream(t, nil)
	g = newTestGateway(t, grpcConfigUp, map[string]string{"T": h2.Listener.Addr().String()}, nil)
	withProbe(g, p)
	if resp, body := grpcLike(t, g); resp.StatusCode != 200 || !strings.Contains(body, "body=ping") {
		t.Fatalf("grpc: %d %q", resp.StatusCode, body)
	}
	if tr := trailerOf(t, p); tr.Get("Grpc-Status") != "0" {
		t.Errorf("HTTP/2 trailer seen by Log: %v", tr)
	}
}

// The record an observer gets: route, service, the attempt with its
// timings in order, the plugins' phase timings, and the plugin that
// answered.
func TestObserversGetTheRecord(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	defer up.Close()
	g := newTestGateway(t, simpleConfig, map[string]string{"UP": up.URL}, nil)
	rec := make(recorder, 4)
	g.Handler.opts.Observers = []record.Observer{rec}
	p := &probe{trailers: make(chan http.Header, 4)}
	withProbe(g, p)
	if code, body := send(t, http.MethodGet, g.URL+"/x", "", false); code != 200 || body != "hello" {
		t.Fatalf("%d %q", code, body)
	}
	r := rec.next(t)
	if r.Status != 200 || r.Source != "upstream" || r.Service != "s" || r.Exit != "" || r.BytesSent != 5 {
		t.Errorf("record %+v", r)
	}
	if len(r.Attempts) != 1 || r.Answer() == nil {
		t.Fatalf("attempts %+v", r.Attempts)
	}
	a := r.Answer()
	if a.Target != up.Listener.Addr().String() || a.Status != 200 || a.Outcome != "response" || a.BytesIn != 5 ||
		!(0 < a.Connected && a.Connected <= a.Head && a.Head <= a.End) {
		t.Errorf("attempt %+v", a)
	}
	var phases []string
	for _, pt := range r.Plugins() {
		if pt.Plugin != "probe" || pt.Duration < 0 || pt.Start < 0 {
			t.Errorf("timing %+v", pt)
		}
		phases = append(phases, pt.Phase.String())
	}
	if got := strings.Join(phases, " "); got != "access header_filter body_filter log" {
		t.Errorf("phases %q", got)
	}

	p.deny = true
	if code, _ := send(t, http.MethodGet, g.URL+"/x", "", false); code != http.StatusForbidden {
		t.Fatalf("deny: %d", code)
	}
	r = rec.next(t)
	if r.Exit != "probe" || r.Source != "gateway" || r.Status != 403 || len(r.Attempts) != 0 {
		t.Errorf("exit record %+v", r)
	}
}

// The log phase reads the request's record complete: what the client got,
// the route, when routing ended and the attempt that answered.
func TestLogPhaseSeesTheCompleteRecord(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "made")
	}))
	defer up.Close()
	g := newTestGateway(t, simpleConfig, map[string]string{"UP": up.URL}, nil)
	p := &probe{trailers: make(chan http.Header, 1), records: make(chan record.Record, 1)}
	withProbe(g, p)
	if code, body := send(t, http.MethodGet, g.URL+"/x", "", false); code != http.StatusCreated || body != "made" {
		t.Fatalf("%d %q", code, body)
	}
	trailerOf(t, p)
	r := <-p.records
	if r.Status != http.StatusCreated || r.BytesSent != 4 || r.Method != "GET" || r.URI != "/x" ||
		r.Service != "s" || r.RoutePath == "" || r.Source != record.SourceUpstream {
		t.Errorf("record %+v", r)
	}
	if a := r.Answer(); a == nil || a.Status != http.StatusCreated || !(0 < r.Routed && r.Routed <= a.Start && a.End <= r.Latency) {
		t.Errorf("timings: routed %v, attempt %+v, latency %v", r.Routed, a, r.Latency)
	}
}

// BytesReceived is what the gateway read of the client's body, not what
// the client declared: a request answered before its body was read
// cannot claim a size (metrics and logs count it).
func TestRecordCountsBodyBytesRead(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer up.Close()
	g := newTestGateway(t, simpleConfig, map[string]string{"UP": up.URL}, nil)
	rec := make(recorder, 4)
	g.Handler.opts.Observers = []record.Observer{rec}
	p := &probe{trailers: make(chan http.Header, 4)}
	withProbe(g, p)
	for _, chunked := range []bool{false, true} {
		if code, _ := send(t, http.MethodPost, g.URL+"/x", "hello body", chunked); code != 200 {
			t.Fatalf("post: %d", code)
		}
		if r := rec.next(t); r.BytesReceived != 10 {
			t.Errorf("chunked %v: %d bytes received, want 10", chunked, r.BytesReceived)
		}
	}

	p.deny = true
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A body of a billion bytes declared, none sent, refused at once.
	io.WriteString(conn, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refused post: %v %v", resp, err)
	}
	if r := rec.next(t); r.BytesReceived != 0 {
		t.Errorf("%d bytes received of a body never sent", r.BytesReceived)
	}
}

// A gRPC request whose first target refuses the connection is sent to the
// next target: nothing of it reached the upstream, and its body is still
// whole.
func TestH2RetriesConnectionFailure(t *testing.T) {
	h2 := h2Upstream(t, nil)
	good, dead := h2.Listener.Addr().String(), deadAddr(t)
	cfg := strings.Replace(grpcConfigUp, `targets: [{target: "${T}"}]`, `targets: [{target: "${A}"}, {target: "${B}"}]`, 1)
	g := newTestGateway(t, cfg, map[string]string{"A": dead, "B": good}, nil)
	rec := make(recorder, 4)
	g.Handler.opts.Observers = []record.Observer{rec}
	retried := false
	for range 4 {
		resp, body := grpcLike(t, g)
		if resp.StatusCode != 200 || body != "sni= body=ping" || resp.Trailer.Get("Grpc-Status") != "0" {
			t.Fatalf("grpc: %d %q %v", resp.StatusCode, body, resp.Trailer)
		}
		r := rec.next(t)
		if len(r.Attempts) == 2 {
			first, second := r.Attempts[0], r.Attempts[1]
			if first.Target != dead || first.Outcome != "connect_error" || second.Target != good || second.Outcome != "response" {
				t.Errorf("attempts %+v", r.Attempts)
			}
			retried = true
		}
	}
	if !retried {
		t.Error("the dead target was never tried first")
	}
}

// A gRPC request that reached a target is never sent to another: its body
// is a stream that cannot be replayed. A target that reads the request and
// resets the stream makes the client's answer a 502, and the other target
// never sees that request.
func TestH2NotRetriedAfterSent(t *testing.T) {
	var reset, good atomic.Int32
	rst := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		reset.Add(1)
		panic(http.ErrAbortHandler) // resets the stream, no response head
	})
	ok := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		good.Add(1)
		io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/grpc")
	})
	cfg := strings.Replace(grpcConfigUp, `targets: [{target: "${T}"}]`, `targets: [{target: "${A}"}, {target: "${B}"}]`, 1)
	cfg = strings.Replace(cfg, "least-connections", "round-robin", 1)
	g := newTestGateway(t, cfg, map[string]string{"A": rst.Listener.Addr().String(), "B": ok.Listener.Addr().String()}, nil)
	rec := make(recorder, 4)
	g.Handler.opts.Observers = []record.Observer{rec}
	var answered, failed int32
	for range 4 {
		resp, _ := grpcLike(t, g)
		r := rec.next(t)
		// The gateway's 502 reaches a gRPC call as 200 with UNAVAILABLE;
		// the record keeps the 502.
		switch {
		case r.Status == http.StatusOK && resp.Header.Get("Grpc-Status") == "":
			answered++
		case r.Status == http.StatusBadGateway && resp.Header.Get("Grpc-Status") == "14":
			failed++
			if len(r.Attempts) != 1 || r.Attempts[0].Outcome != record.OutcomeError {
				t.Errorf("reset stream: attempts %+v, want one that ended in %q", r.Attempts, record.OutcomeError)
			}
		default:
			t.Errorf("status %d, recorded %d, grpc-status %q", resp.StatusCode, r.Status, resp.Header.Get("Grpc-Status"))
		}
	}
	if failed == 0 || reset.Load() != failed || good.Load() != answered {
		t.Errorf("%d requests reset, %d answered 502; the other target saw %d for %d answered 200",
			reset.Load(), failed, good.Load(), answered)
	}
}

// h2cServer serves handler over unencrypted HTTP/2.
func h2cServer(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(handler)
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// An HTTP/2 attempt lends the body without letting a failed connection
// close it; once read, a close reaches the client's body.
func TestH2BodyCloseAfterRead(t *testing.T) {
	rc := &closeCounter{Reader: strings.NewReader("x")}
	b := &h2Body{rc: rc}
	b.Close()
	if rc.closed != 0 {
		t.Fatal("closed before any read")
	}
	if _, err := b.Read(make([]byte, 4)); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	b.Close()
	if rc.closed != 1 {
		t.Fatal("not closed after a read")
	}
}

type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

// A WebSocket handshake goes to the next target when a connection could
// not be made, and is never sent twice: a declined handshake with a
// retryable status is the answer.
func TestTunnelRetriesConnectionFailureOnly(t *testing.T) {
	var got atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer up.Close()
	cfg := strings.Replace(tunnelConfig, `targets: [{target: "${T}"}]`, `targets: [{target: "${A}"}, {target: "${B}"}]`, 1)
	g := newTestGateway(t, cfg, map[string]string{"A": deadAddr(t), "B": up.Listener.Addr().String()}, nil)
	rec := make(recorder, 4)
	g.Handler.opts.Observers = []record.Observer{rec}
	retried := false
	for range 4 {
		if resp, _ := upgradeRequest(t, g, "/socket"); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status %d", resp.StatusCode)
		}
		r := rec.next(t)
		if n := len(r.Attempts); n == 2 && r.Attempts[0].Outcome == "connect_error" {
			retried = true
		} else if n != 1 {
			t.Errorf("attempts %+v", r.Attempts)
		}
	}
	if !retried || got.Load() != 4 {
		t.Errorf("retried %v, %d handshakes upstream, want 4", retried, got.Load())
	}
}

// A request no route matched gets the 404 through the global plugins'
// header filters and log phase (Kong runs global plugins then), so log
// and metrics plugins see it; no access phase runs.
func TestUnroutedRequestRunsGlobalResponsePhases(t *testing.T) {
	g := newTestGateway(t, `
_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:1
  routes: [{paths: [/x]}]
`, nil, nil)
	rec := make(recorder, 4)
	g.Handler.opts.Observers = []record.Observer{rec}
	p := &probe{trailers: make(chan http.Header, 1), records: make(chan record.Record, 1)}
	steps := []snapshot.Step{{Name: "probe", Base: p}}
	g.Snap.Unrouted = &snapshot.Chain{Access: steps, Header: steps, Body: steps, Log: steps, Names: []string{"probe"}}
	if code, body := send(t, http.MethodGet, g.URL+"/nowhere", "", false); code != http.StatusNotFound ||
		!strings.Contains(body, "no Route matched") {
		t.Fatalf("%d %q", code, body)
	}
	trailerOf(t, p)
	if r := <-p.records; r.Status != http.StatusNotFound || r.Route != "" {
		t.Errorf("log phase record %+v", r)
	}
	var phases []string
	r := rec.next(t)
	for _, pt := range r.Plugins() {
		phases = append(phases, pt.Phase.String())
	}
	if got := strings.Join(phases, " "); got != "header_filter log" {
		t.Errorf("phases %q", got)
	}
}

// stale is a Fallback plugin answering from a fixed "stale entry" when
// the answer in hand is a 5xx; it notes what it was asked with.
type stale struct {
	asked chan staleAsk
}

type staleAsk struct {
	resp   plugin.Response
	failed bool
}

func (s *stale) Fallback(c *plugin.Ctx) *plugin.Exit {
	// The response's values are the request's: kept past the phase, a copy.
	resp := c.Resp
	resp.Header = resp.Header.Clone()
	s.asked <- staleAsk{resp, c.Upstream.Failed}
	if c.Resp.Status < 500 {
		return nil
	}
	return &plugin.Exit{Status: 200, Body: []byte("stale"), ContentType: "text/plain", Header: http.Header{"X-Cache-Status": {"Stale"}}}
}

func (s *stale) HeaderFilter(c *plugin.Ctx) { c.Resp.Header.Set("X-Filtered", "yes") }

// A Fallback plugin answers in place of an upstream that failed or
// answered an error, before the header filters (which then run on its
// answer); an upstream answer it lets pass is sent as it is.
func TestFallbackAnswersInPlaceOfTheUpstream(t *testing.T) {
	status := atomic.Int32{}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, "from upstream")
	}))
	defer up.Close()
	g := newTestGateway(t, simpleConfig, map[string]string{"UP": up.URL}, nil)
	s := &stale{asked: make(chan staleAsk, 1)}
	steps := []snapshot.Step{{Name: "stale", Base: s}}
	g.Snap.Routes[0].Chain = &snapshot.Chain{Fallback: steps, Header: steps, Names: []string{"stale"}}
	get := func() *http.Response {
		t.Helper()
		resp, err := http.Get(g.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	read := func(resp *http.Response) string {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	asked := func() staleAsk {
		t.Helper()
		select {
		case a := <-s.asked:
			return a
		default:
			t.Fatal("the Fallback plugin was not asked")
			return staleAsk{}
		}
	}

	status.Store(200)
	resp := get()
	if body := read(resp); resp.StatusCode != 200 || body != "from upstream" || resp.Header.Get("X-Filtered") != "yes" {
		t.Fatalf("passed through: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if a := asked(); a.resp.Status != 200 || !a.resp.FromUpstream || a.resp.Header.Get("X-Upstream") != "yes" || a.failed {
		t.Errorf("asked with %+v", a)
	}

	status.Store(503)
	resp = get()
	if body := read(resp); resp.StatusCode != 200 || body != "stale" || resp.Header.Get("X-Cache-Status") != "Stale" ||
		resp.Header.Get("X-Filtered") != "yes" || resp.Header.Get("X-Upstream") != "" {
		t.Fatalf("upstream 503: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if a := asked(); a.resp.Status != 503 || !a.resp.FromUpstream || a.failed {
		t.Errorf("asked with %+v", a)
	}

	up.Close()
	resp = get()
	if body := read(resp); resp.StatusCode != 200 || body != "stale" || resp.Header.Get("X-Filtered") != "yes" {
		t.Fatalf("upstream down: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if a := asked(); a.resp.Status != http.StatusBadGateway || a.resp.FromUpstream || !a.failed {
		t.Errorf("asked with %+v", a)
	}
}

// eofFilter is a body filter that reads the upstream's body whole on its
// first Read, then answers with the trailer it found at the end and a
// status of its own, as a gRPC transcoder does with grpc-status.
type eofFilter struct{}

func (eofFilter) BodyFilter(c *plugin.Ctx, body io.Reader) io.Reader {
	return &eofReader{c: c, body: body}
}

type eofReader struct {
	c    *plugin.Ctx
	body io.Reader
	out  *strings.Reader
}

func (r *eofReader) Read(p []byte) (int, error) {
	if r.out == nil {
		b, err := io.ReadAll(r.body)
		if err != nil {
			return 0, err
		}
		tr := r.c.Resp.Trailer
		r.c.Resp.Status = http.StatusTeapot
		r.c.Resp.Header.Set("X-Seen", tr.Get("Grpc-Status")+tr.Get("X-Checksum"))
		r.c.Resp.Header.Del("Content-Length")
		r.out = strings.NewReader("read " + string(b))
	}
	return r.out.Read(p)
}

// A body filter sees the upstream's trailer as soon as its reader returned
// io.EOF (HTTP/1.1 chunked and HTTP/2 alike), and its first Read comes
// before the status and header are sent, so it may still change them.
func TestBodyFilterSeesTrailerAtEOF(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
	}))
	defer up.Close()
	steps := []snapshot.Step{{Name: "eof", Base: eofFilter{}}}
	g := newTestGateway(t, simpleConfig, map[string]string{"UP": up.URL}, nil)
	g.Snap.Routes[0].Chain = &snapshot.Chain{Body: steps, Names: []string{"eof"}}
	resp, err := http.Get(g.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-Seen") != "abc" || string(b) != "read body" {
		t.Errorf("HTTP/1.1: %d %v %q", resp.StatusCode, resp.Header, b)
	}

	h2 := h2Upstream(t, nil)
	g = newTestGateway(t, grpcConfigUp, map[string]string{"T": h2.Listener.Addr().String()}, nil)
	g.Snap.Routes[0].Chain = &snapshot.Chain{Body: steps, Names: []string{"eof"}}
	resp, body := grpcLike(t, g)
	if resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-Seen") != "0" || !strings.HasPrefix(body, "read ") {
		t.Errorf("HTTP/2: %d %v %q", resp.StatusCode, resp.Header, body)
	}
}
