package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// originMode is how a cacheOrigin answers.
type originMode int32

const (
	originOK originMode = iota
	origin500
	origin502
	origin503
	// originSlow answers after 3 s (or when the gateway gives up).
	originSlow
	// originTruncated declares Content-Length: 1000, sends 100 bytes and
	// resets the connection.
	originTruncated
	// originTruncatedChunked sends one chunk and resets the connection
	// before the last chunk.
	originTruncatedChunked
)

// cacheOrigin is the real upstream of the cache tests: it counts the
// requests that reach it (in all and per path) and answers each with a
// body naming the path and the request's number, so that a cached answer
// is told from a fresh one.
type cacheOrigin struct {
	*httptest.Server
	mode  atomic.Int32
	delay atomic.Int64 // nanoseconds to wait before an OK answer
	hits  atomic.Int64

	mu      sync.Mutex
	perPath map[string]int
	// tags maps a path to the Surrogate-Key the origin answers it with.
	tags map[string]string
}

func startCacheOrigin(t *testing.T) *cacheOrigin {
	t.Helper()
	o := &cacheOrigin{perPath: map[string]int{}, tags: map[string]string{}}
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.Close)
	return o
}

func (o *cacheOrigin) setMode(m originMode) { o.mode.Store(int32(m)) }

func (o *cacheOrigin) setTag(path, key string) {
	o.mu.Lock()
	o.tags[path] = key
	o.mu.Unlock()
}

// Hits is how many requests for path reached the origin.
func (o *cacheOrigin) Hits(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.perPath[path]
}

func (o *cacheOrigin) serve(w http.ResponseWriter, r *http.Request) {
	n := o.hits.Add(1)
	o.mu.Lock()
	o.perPath[r.URL.Path]++
	tag := o.tags[r.URL.Path]
	o.mu.Unlock()
	mode := originMode(o.mode.Load())
	switch mode {
	case origin500, origin502, origin503:
		code := map[originMode]int{origin500: 500, origin502: 502, origin503: 503}[mode]
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		fmt.Fprintf(w, "origin error %d", code)
		return
	case originSlow:
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
		return
	case originTruncated, originTruncatedChunked:
		o.truncate(w, mode == originTruncatedChunked)
		return
	}
	if d := o.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if tag != "" {
		w.Header().Set("Surrogate-Key", tag)
	}
	fmt.Fprintf(w, "%s #%d", r.URL.Path, n)
}

// truncate sends a 200 whose body stops short and resets the connection
// (SO_LINGER 0), as an upstream crashing mid-body.
func (o *cacheOrigin) truncate(w http.ResponseWriter, chunked bool) {
	conn, bw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	part := strings.Repeat("a", 100)
	if chunked {
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(part), part)
	} else {
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n%s", part)
	}
	bw.Flush()
	time.Sleep(50 * time.Millisecond)
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// cacheResp is what a client got from the gateway.
type cacheResp struct {
	status int
	cache  string // X-Cache-Status
	key    string // X-Cache-Key
	age    string
	body   string
	err    error // the transport's or the body's read error
}

var cacheClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 0},
}

// cacheDo sends a request and reads the answer; a transport or body error
// is returned in err, not fatal (truncated answers are expected).
func cacheDo(t *testing.T, method, url string, header ...string) cacheResp {
	t.Helper()
	resp, err := cacheClient.Do(gwtest.NewRequest(t, method, url, "", header...))
	if err != nil {
		return cacheResp{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return cacheResp{
		status: resp.StatusCode, cache: resp.Header.Get("X-Cache-Status"), key: resp.Header.Get("X-Cache-Key"),
		age: resp.Header.Get("Age"), body: string(body), err: err,
	}
}

// cacheGet sends a GET that must get a whole answer.
func cacheGet(t *testing.T, url string, header ...string) cacheResp {
	t.Helper()
	r := cacheDo(t, http.MethodGet, url, header...)
	if r.err != nil {
		t.Fatalf("GET %s: %v", url, r.err)
	}
	return r
}

// wantCache checks an answer's status, X-Cache-Status and body (body ""
// is not checked).
func wantCache(t *testing.T, what string, r cacheResp, status int, cache, body string) {
	t.Helper()
	if r.status != status || r.cache != cache || (body != "" && r.body != body) {
		t.Fatalf("%s: got %d X-Cache-Status %q body %q; want %d %q body %q", what, r.status, r.cache, r.body, status, cache, body)
	}
}

// metricValue sums the samples of the family name on the gateway's admin
// /metrics whose label has value (every sample when label is "").
func metricValue(t *testing.T, gw *gwtest.Gateway, name, label, value string) float64 {
	t.Helper()
	fams, _ := scrape(t, gw.AdminURL, false)
	sum := 0.0
	for _, m := range fams[name].GetMetric() {
		if label == "" || labelsOf(m)[label] == value {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
		}
	}
	return sum
}

// eventually retries f every 50 ms until it returns true or d passes.
func eventually(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stored waits up to 5 s until the gateway holds key (its admin GET
// /proxy-cache/{key} answers 200). A Miss is stored when the upstream's
// body ends, while its last bytes may already be on their way to the
// client, so the client's next request can overtake the store.
func stored(t *testing.T, gw *gwtest.Gateway, key string) {
	t.Helper()
	if !isStored(gw, key, 5*time.Second) {
		t.Fatalf("the entry %q was not stored within 5 s", key)
	}
}

// isStored tells whether the gateway holds key within d.
func isStored(gw *gwtest.Gateway, key string, d time.Duration) bool {
	u := gw.AdminURL + "/proxy-cache/" + url.PathEscape(key)
	return key != "" && eventually(d, func() bool {
		resp, err := cacheClient.Get(u)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
