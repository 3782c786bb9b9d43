package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// Retries against the built binary with fault-injecting loopback upstreams.

func retryAddr(url string) string { return strings.TrimPrefix(url, "http://") }

// retryConfig is one service over an upstream entity with the targets.
func retryConfig(retries int, readTimeoutMs int, targets ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
_format_version: "3.0"
services:
- name: s
  host: backend
  retries: %d
  read_timeout: %d
  routes: [{paths: [/]}]
upstreams:
- name: backend
  targets:
`, retries, readTimeoutMs)
	for _, t := range targets {
		fmt.Fprintf(&b, "  - target: %s\n", t)
	}
	return b.String()
}

// faultUpstream is a raw TCP upstream: it reads one request head (and a
// Content-Length body), counts it, then runs fault on the connection.
type faultUpstream struct {
	addr string
	hits atomic.Int64
}

func startFault(t *testing.T, fault func(c net.Conn)) *faultUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &faultUpstream{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				u.hits.Add(1)
				fault(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return u
}

// reset closes with RST.
func reset(c net.Conn) {
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
}

func retryDo(t *testing.T, method, url, body string) (int, string, error) {
	t.Helper()
	req := gwtest.NewRequest(t, method, url, body)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestRetryPOSTThatReachedUpstreamIsSentOnce(t *testing.T) {
	faults := map[string]func(net.Conn){
		"502": func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad")
		},
		"reset before the response": reset,
		"reset mid-response": func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
			time.Sleep(50 * time.Millisecond)
			reset(c)
		},
	}
	for name, fault := range faults {
		t.Run(name, func(t *testing.T) {
			bad := startFault(t, fault)
			good := gwtest.StartEcho(t, "good")
			// The fault target comes first in the round-robin schedule; a
			// retry would land on the echo.
			gw := gwtest.Start(t, retryConfig(5, 2000, bad.addr, retryAddr(good.URL)), gwtest.Options{})
			status, body, err := retryDo(t, http.MethodPost, gw.URL+"/orders", `{"item":1}`)
			if bad.hits.Load() != 1 || good.Count.Load() != 0 {
				t.Fatalf("POST reached the fault upstream %d times and the other target %d times; want once and never",
					bad.hits.Load(), good.Count.Load())
			}
			switch name {
			case "502":
				if status != 502 || body != "bad" {
					t.Errorf("the upstream's own 502 should pass: %d %q", status, body)
				}
			case "reset before the response":
				if status != 502 {
					t.Errorf("status %d, want the gateway's 502", status)
				}
			default:
				if err == nil && body == strings.Repeat("x", 100) {
					t.Errorf("a cut body passed for complete")
				}
			}
			// A GET in the same situation is retried on the other target.
			status, _, _ = retryDo(t, http.MethodGet, gw.URL+"/orders", "")
			status2, _, _ := retryDo(t, http.MethodGet, gw.URL+"/orders", "")
			if name != "reset mid-response" && (status != 200 || status2 != 200) {
				t.Errorf("GETs: %d %d, want 200 after a retry", status, status2)
			}
		})
	}
}

func TestRetryGETAcrossThreeTargetsWithOneDead(t *testing.T) {
	a := gwtest.StartEcho(t, "a")
	b := gwtest.StartEcho(t, "b")
	gw := gwtest.Start(t, retryConfig(2, 2000, deadAddr(t), retryAddr(a.URL), retryAddr(b.URL)), gwtest.Options{})
	const n = 30
	for i := range n {
		status, body, err := retryDo(t, http.MethodGet, gw.URL+"/", "")
		if err != nil || status != 200 {
			t.Fatalf("request %d: %d %v %s", i, status, err, body)
		}
	}
	if got := a.Count.Load() + b.Count.Load(); got != n {
		t.Errorf("live targets served %d, want %d (one each)", got, n)
	}
	// The access log shows the attempts of a request that met the dead target.
	found := false
	for _, e := range gw.AccessLog(n) {
		if tries, ok := e["tries"].([]any); ok && len(tries) == 2 {
			first := tries[0].(map[string]any)
			if first["outcome"] == "connect_error" {
				found = true
			}
		}
	}
	if !found {
		t.Error("no access log line records a connect_error try followed by another")
	}
}

func TestRetry503StormGoesToAnotherTarget(t *testing.T) {
	var storm atomic.Int64
	stormAddr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		storm.Add(1)
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	good := gwtest.StartEcho(t, "good")
	gw := gwtest.Start(t, retryConfig(5, 2000, stormAddr, retryAddr(good.URL)), gwtest.Options{})
	const n = 10
	for i := range n {
		status, body, err := retryDo(t, http.MethodGet, gw.URL+"/", "")
		if err != nil || status != 200 || !strings.Contains(body, `"name":"good"`) {
			t.Fatalf("request %d: %d %v %s", i, status, err, body)
		}
	}
	if storm.Load() == 0 || good.Count.Load() != n {
		t.Errorf("storm hits %d, good hits %d; want some and %d", storm.Load(), good.Count.Load(), n)
	}
}

func TestRetryStopsWhenBudgetIsSpent(t *testing.T) {
	var hits atomic.Int64
	stormAddr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	gw := gwtest.Start(t, retryConfig(5, 2000, stormAddr), gwtest.Options{Args: []string{"--access-log", "off"}})
	const n = 50
	for i := range n {
		if status, _, err := retryDo(t, http.MethodGet, gw.URL+"/", ""); err != nil || status != 503 {
			t.Fatalf("request %d: %d %v", i, status, err)
		}
	}
	// Default budget: a reserve of 10 retries plus 20% of the requests.
	// Unbounded, retries: 5 would have made 300 attempts.
	if got, want := hits.Load(), int64(n+10+n/5); got != want {
		t.Errorf("upstream hits %d, want %d (requests plus the budget)", got, want)
	}
}

// requestTimeoutFlag reports whether the binary has the request deadline
// flag (wired in the CLI separately from the proxy).
func requestTimeoutFlag(t *testing.T) bool {
	out, _ := exec.Command(gwtest.Binary(t), "run", "--help").CombinedOutput()
	return strings.Contains(string(out), "--upstream-request-timeout")
}

func TestRetryTimedOutRequestGets504WithinDeadline(t *testing.T) {
	released := make(chan struct{}, 16)
	hang := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done(): // the gateway hung up
			released <- struct{}{}
		case <-time.After(15 * time.Second):
		}
	}
	h1 := startServer(t, http.HandlerFunc(hang))
	h2 := startServer(t, http.HandlerFunc(hang))
	deadline := 600 * time.Millisecond
	cfg := retryConfig(5, 600, h1) // one target: a timeout is not retried
	var opts gwtest.Options
	if requestTimeoutFlag(t) {
		// Two hung targets and a longer read_timeout: the request deadline
		// cuts the attempts.
		cfg = retryConfig(5, 5000, h1, h2)
		opts.Args = []string{"--upstream-request-timeout", deadline.String()}
	}
	gw := gwtest.Start(t, cfg, opts)
	for i := range 3 {
		start := time.Now()
		status, body, err := retryDo(t, http.MethodGet, gw.URL+"/", "")
		d := time.Since(start)
		if err != nil || status != 504 || !strings.Contains(body, "The upstream server is timing out") {
			t.Fatalf("request %d: %d %v %s", i, status, err, body)
		}
		if d < deadline-50*time.Millisecond || d > deadline+3*time.Second {
			t.Errorf("request %d: 504 after %v, deadline %v", i, d, deadline)
		}
		select {
		case <-released:
		case <-time.After(3 * time.Second):
			t.Fatalf("request %d: the upstream connection was not closed", i)
		}
	}
	// Nothing is left running in the gateway for those requests: no client
	// connection is active (this check's own is not kept alive).
	waitUntil(t, "no active proxy connection", func() bool {
		srv, _ := adminStatus(t, gw)["server"].(map[string]any)
		return srv["connections_active"] == float64(0)
	})
}
