package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/observe"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// gatewayWith serves cfg through a handler with opts; ${NAME} in cfg is
// replaced from env.
func gatewayWith(t testing.TB, cfg string, env map[string]string, opts Options) *httptest.Server {
	t.Helper()
	m, err := config.Parse([]byte(cfg), config.Options{ExpandEnv: true, LookupEnv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := plugin.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	snap, err := snapshot.Compile(m, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})})
	if err != nil {
		t.Fatal(err)
	}
	holder := &snapshot.Holder{}
	holder.Store(snap)
	opts.Version = "test"
	h := NewHandler(holder, opts)
	srv := httptest.NewServer(h.Listener("http", "80"))
	t.Cleanup(func() {
		srv.Close()
		h.Close()
		pools.Close()
	})
	return srv
}

// counted is a loopback upstream that counts requests and answers with fn.
type counted struct {
	*httptest.Server
	hits atomic.Int64
}

func startCounted(t *testing.T, fn http.HandlerFunc) *counted {
	t.Helper()
	c := &counted{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		fn(w, r)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *counted) addr() string { return strings.TrimPrefix(c.URL, "http://") }

// startResetter is a raw upstream that reads a request head and resets the
// connection without answering; it counts the requests it read.
func startResetter(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 64<<10)
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if m, _ := c.Read(buf); m > 0 && bytes.Contains(buf[:m], []byte("HTTP/1.1")) {
					n.Add(1)
				}
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), &n
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func send(t *testing.T, method, url, body string, chunked bool) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // hides the length: sent chunked
		}
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBackoffFullJitterBounds(t *testing.T) {
	base, limit := 10*time.Millisecond, 300*time.Millisecond
	for n := range 12 {
		ceil := min(limit, base<<n)
		var top time.Duration
		for range 2000 {
			d := backoff(n, base, limit)
			if d < 0 || d > ceil {
				t.Fatalf("retry %d: backoff %v outside [0, %v]", n, d, ceil)
			}
			top = max(top, d)
		}
		if top < ceil/2 {
			t.Errorf("retry %d: largest of 2000 draws %v, want the range up to %v used", n, top, ceil)
		}
	}
	if d := backoff(100, base, limit); d > limit {
		t.Errorf("retry 100: %v past the cap", d)
	}
	if d := backoff(3, -1, limit); d != 0 {
		t.Errorf("negative base: %v, want no backoff", d)
	}
}

func TestRetryBudgetArithmetic(t *testing.T) {
	b := newRetryBudget(20)
	for i := range budgetReserve / budgetUnit {
		if !b.spend() {
			t.Fatalf("reserve retry %d refused", i)
		}
	}
	if b.spend() {
		t.Fatal("a retry past the reserve was allowed")
	}
	for range 4 {
		b.earn()
	}
	if b.spend() {
		t.Fatal("4 requests at 20% earned a whole retry")
	}
	b.earn()
	if !b.spend() || b.spend() {
		t.Fatal("5 requests at 20% should earn exactly one retry")
	}
	for range 100000 {
		b.earn()
	}
	n := 0
	for b.spend() {
		n++
	}
	if n != budgetCap/budgetUnit {
		t.Errorf("after a long quiet spell %d retries banked, want the cap %d", n, budgetCap/budgetUnit)
	}
	var none *retryBudget
	none.earn()
	if !none.spend() {
		t.Error("no budget must allow retries")
	}
}

const twoTargets = `
_format_version: "3.0"
services:
- name: s
  host: backend
  retries: ${RETRIES}
  read_timeout: ${READ}
  routes: [{paths: [/]}]
upstreams:
- name: backend
  targets: [{target: "${A}"}, {target: "${B}"}]
`

func env2(a, b string, retries int) map[string]string {
	return map[string]string{"A": a, "B": b, "RETRIES": fmt.Sprint(retries), "READ": "2000"}
}

func TestRetryIdempotencyRules(t *testing.T) {
	storm := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		http.Error(w, "storm", http.StatusServiceUnavailable)
	}
	for _, method := range []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH"} {
		idem := method != "POST" && method != "PATCH"
		t.Run(method+"/status", func(t *testing.T) {
			bad := startCounted(t, storm)
			good := startCounted(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
			gw := gatewayWith(t, twoTargets, env2(bad.addr(), good.addr(), 1), Options{})
			// Round-robin starts on A, the storm.
			status, _ := send(t, method, gw.URL+"/", "", false)
			want := http.StatusServiceUnavailable
			if idem {
				want = http.StatusOK
			}
			if status != want || bad.hits.Load() != 1 {
				t.Errorf("status %d, storm hits %d; want %d and 1", status, bad.hits.Load(), want)
			}
		})
		t.Run(method+"/reset", func(t *testing.T) {
			rst, n := startResetter(t)
			good := startCounted(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
			gw := gatewayWith(t, twoTargets, env2(rst, good.addr(), 3), Options{})
			status, _ := send(t, method, gw.URL+"/", "body", false)
			want := http.StatusBadGateway
			if idem {
				want = http.StatusOK
			}
			if status != want || n.Load() != 1 {
				t.Errorf("status %d, reset upstream read %d requests; want %d and 1", status, n.Load(), want)
			}
		})
		t.Run(method+"/refused", func(t *testing.T) {
			good := startCounted(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
			gw := gatewayWith(t, twoTargets, env2(deadAddr(t), good.addr(), 1), Options{})
			// Nothing reached the dead target: any method goes on.
			if status, _ := send(t, method, gw.URL+"/", "body", false); status != http.StatusOK || good.hits.Load() != 1 {
				t.Errorf("status %d, live hits %d; want 200 and 1", status, good.hits.Load())
			}
		})
	}
}

func TestRetryOnTimeoutOnlyElsewhere(t *testing.T) {
	hang := startCounted(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so that net/http notices the gateway hanging up
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	good := startCounted(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	e := env2(hang.addr(), good.addr(), 2)
	e["READ"] = "200"
	gw := gatewayWith(t, twoTargets, e, Options{})
	if status, _ := send(t, "GET", gw.URL+"/", "", false); status != 200 {
		t.Errorf("GET after a timeout on another target: %d", status)
	}
	if status, _ := send(t, "POST", gw.URL+"/", "x", false); status != 504 {
		t.Errorf("POST that timed out: %d, want 504", status)
	}
	if hang.hits.Load() != 2 || good.hits.Load() != 1 {
		t.Errorf("hits hang=%d good=%d, want 2 and 1", hang.hits.Load(), good.hits.Load())
	}

	// One target: a timeout is not repeated on it.
	gw1 := gatewayWith(t, `
_format_version: "3.0"
services:
- name: s
  url: ${UP}
  read_timeout: 200
  routes: [{paths: [/]}]
`, map[string]string{"UP": hang.URL}, Options{})
	before := hang.hits.Load()
	start := time.Now()
	if status, _ := send(t, "GET", gw1.URL+"/", "", false); status != 504 {
		t.Errorf("single hung target: %d, want 504", status)
	}
	if d := time.Since(start); d > time.Second || hang.hits.Load()-before != 1 {
		t.Errorf("single hung target: %v, %d attempts; want one attempt", d, hang.hits.Load()-before)
	}
}

func TestRetryBudgetStopsRetries(t *testing.T) {
	bad := startCounted(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	gw := gatewayWith(t, `
_format_version: "3.0"
services:
- name: s
  url: ${UP}
  retries: 5
  routes: [{paths: [/]}]
`, map[string]string{"UP": bad.URL}, Options{RetryBackoffBase: -1})
	const n = 50
	for range n {
		if status, _ := send(t, "GET", gw.URL+"/", "", false); status != 503 {
			t.Fatalf("status %d, want the upstream's 503", status)
		}
	}
	// 50 requests earn 10 retries at 20%, on top of the reserve of 10;
	// without a budget they would have made 300 attempts.
	want := int64(n + budgetReserve/budgetUnit + n*DefaultRetryBudget/100)
	if got := bad.hits.Load(); got != want {
		t.Errorf("upstream hits %d, want %d", got, want)
	}

	// No budget: every request makes all its attempts.
	bad.hits.Store(0)
	gw2 := gatewayWith(t, `
_format_version: "3.0"
services:
- name: s
  url: ${UP}
  retries: 2
  routes: [{paths: [/]}]
`, map[string]string{"UP": bad.URL}, Options{RetryBackoffBase: -1, RetryBudget: -1})
	for range 20 {
		send(t, "GET", gw2.URL+"/", "", false)
	}
	if got := bad.hits.Load(); got != 60 {
		t.Errorf("without a budget: %d hits, want 60", got)
	}
}

func TestRetryReplaysBufferedBodiesOnly(t *testing.T) {
	var got atomic.Value
	bad := startCounted(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusBadGateway)
	})
	good := startCounted(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
		io.WriteString(w, "ok")
	})
	gw := gatewayWith(t, twoTargets, env2(bad.addr(), good.addr(), 1), Options{RetryBufferBytes: 1024})
	small := strings.Repeat("s", 1024)
	large := strings.Repeat("L", 1025)
	for _, chunked := range []bool{false, true} {
		bad.hits.Store(0)
		good.hits.Store(0)
		// Round-robin: each small request starts on the bad target (its
		// retry takes the next pick), the large ones alternate.
		for range 2 {
			if status, _ := send(t, "PUT", gw.URL+"/", small, chunked); status != 200 {
				t.Errorf("chunked=%v small PUT: %d, want 200 after a retry", chunked, status)
			}
			if got.Load() != small {
				t.Errorf("chunked=%v: the replayed body differs", chunked)
			}
		}
		if bad.hits.Load() != 2 || good.hits.Load() != 2 {
			t.Errorf("chunked=%v small: hits bad=%d good=%d, want 2 and 2", chunked, bad.hits.Load(), good.hits.Load())
		}
		bad.hits.Store(0)
		good.hits.Store(0)
		statuses := map[int]int{}
		for range 2 {
			status, _ := send(t, "PUT", gw.URL+"/", large, chunked)
			statuses[status]++
		}
		// The large body is streamed: the bad target's 502 is final.
		if statuses[502] != 1 || statuses[200] != 1 || bad.hits.Load() != 1 || good.hits.Load() != 1 {
			t.Errorf("chunked=%v large: statuses %v, hits bad=%d good=%d", chunked, statuses, bad.hits.Load(), good.hits.Load())
		}
		if got.Load() != large {
			t.Errorf("chunked=%v: the streamed large body arrived damaged", chunked)
		}
	}
}

func TestRequestDeadline(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	released := make(chan struct{}, 8)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done(): // the gateway closed the connection
			released <- struct{}{}
		case <-time.After(10 * time.Second):
		}
	}))
	defer hang.Close()
	dead := deadAddr(t)
	e := env2(strings.TrimPrefix(hang.URL, "http://"), dead, 5)
	e["READ"] = "5000"
	var logBuf syncBuf
	al := observe.NewAccessLog(&logBuf, 16)
	m, err := config.Parse([]byte(twoTargets), config.Options{ExpandEnv: true, LookupEnv: func(k string) (string, bool) { v, ok := e[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := plugin.NewRegistry(nil)
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	snap, err := snapshot.Compile(m, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})})
	if err != nil {
		t.Fatal(err)
	}
	holder := &snapshot.Holder{}
	holder.Store(snap)
	h := NewHandler(holder, Options{Version: "test", RequestTimeout: 300 * time.Millisecond, Observers: []record.Observer{al}})
	gw := httptest.NewServer(h.Listener("http", "80"))

	start := time.Now()
	status, body := send(t, "GET", gw.URL+"/", "", false)
	if d := time.Since(start); status != 504 || d > 3*time.Second || d < 250*time.Millisecond {
		t.Errorf("status %d after %v: %s; want 504 at the 300ms deadline", status, d, body)
	}
	select {
	case <-released:
	case <-time.After(2 * time.Second):
		t.Error("the upstream connection was not closed at the deadline")
	}
	// A dead target next: refused, then the hung one until the deadline.
	status, _ = send(t, "GET", gw.URL+"/", "", false)
	if status != 504 {
		t.Errorf("second request: %d, want 504", status)
	}
	<-released
	gw.Close()
	h.Close()
	pools.Close()
	al.Close()
	line := logBuf.String()
	if !strings.Contains(line, `"tries":[{"target":"`+dead+`","outcome":"connect_error"`) ||
		!strings.Contains(line, `"outcome":"timeout"`) {
		t.Errorf("access log lacks the tries: %s", line)
	}
}

type syncBuf struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *syncBuf) lock() {
	if b.mu == nil {
		b.mu = make(chan struct{}, 1)
	}
	b.mu <- struct{}{}
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.String()
}

func TestStatusRetryKeepsConnection(t *testing.T) {
	var conns atomic.Int64
	var n atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	gw := gatewayWith(t, simpleConfig, map[string]string{"UP": up.URL}, Options{RetryBackoffBase: -1})
	for range 5 {
		if status, body := send(t, "GET", gw.URL+"/", "", false); status != 200 || body != "ok" {
			t.Fatalf("%d %q", status, body)
		}
	}
	if n.Load() != 10 || conns.Load() != 1 {
		t.Errorf("%d upstream requests over %d connections; want 10 over 1 (drained 503s keep the connection)", n.Load(), conns.Load())
	}
}
