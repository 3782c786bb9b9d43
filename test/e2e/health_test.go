package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// faultyUpstream is a loopback upstream that can be killed (connections
// refused), brought back on the same port, made to answer a status storm,
// or made to hang before sending headers.
type faultyUpstream struct {
	t      *testing.T
	name   string
	addr   string
	status atomic.Int64 // 0: hang until the client goes away
	hits   atomic.Int64 // proxied requests
	probes atomic.Int64 // active health probes (GET /health)
	mu     sync.Mutex
	srv    *http.Server
}

func startFaulty(t *testing.T, name string) *faultyUpstream {
	t.Helper()
	f := &faultyUpstream{t: t, name: name}
	f.status.Store(200)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	f.serve(ln)
	t.Cleanup(f.kill)
	return f
}

func (f *faultyUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/health" {
		f.probes.Add(1)
	} else {
		f.hits.Add(1)
	}
	st := int(f.status.Load())
	if st == 0 {
		<-r.Context().Done()
		return
	}
	w.Header().Set("X-Upstream", f.name)
	w.WriteHeader(st)
	fmt.Fprintf(w, "%s %d\n", f.name, st)
}

func (f *faultyUpstream) serve(ln net.Listener) {
	srv := &http.Server{Handler: f}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go srv.Serve(ln)
}

// kill closes the listener and every connection: new ones are refused.
func (f *faultyUpstream) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv != nil {
		f.srv.Close()
		f.srv = nil
	}
}

// revive listens on the same address again.
func (f *faultyUpstream) revive() {
	f.t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", f.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		f.t.Fatalf("relisten on %s: %v", f.addr, err)
	}
	f.serve(ln)
}

// targetHealth is one entry of GET /upstreams/{u}/health.
type targetHealth struct {
	Target string `json:"target"`
	Weight int    `json:"weight"`
	Health string `json:"health"`
	Reason string `json:"reason"`
	Data   struct {
		Addresses []struct {
			IP     string `json:"ip"`
			Port   int    `json:"port"`
			Health string `json:"health"`
		} `json:"addresses"`
	} `json:"data"`
}

func upstreamHealth(t *testing.T, gw *gwtest.Gateway, upstream string) map[string]targetHealth {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, gw.AdminURL+"/upstreams/"+upstream+"/health", nil)
	resp, body := gwtest.Do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /upstreams/%s/health: %d %s", upstream, resp.StatusCode, body)
	}
	var out struct {
		Data   []targetHealth `json:"data"`
		NodeID string         `json:"node_id"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("health body %q: %v", body, err)
	}
	if out.NodeID == "" {
		t.Errorf("health body without node_id: %s", body)
	}
	m := map[string]targetHealth{}
	for _, th := range out.Data {
		m[th.Target] = th
	}
	return m
}

// waitHealth polls the admin API until target reports health, and
// returns how long that took.
func waitHealth(t *testing.T, gw *gwtest.Gateway, upstream, target, health string, within time.Duration) (targetHealth, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		th := upstreamHealth(t, gw, upstream)[target]
		if th.Health == health {
			return th, time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s of %s not %s within %v: %+v", target, upstream, health, within, th)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// getFrom sends n requests and counts the answering upstreams (by
// X-Upstream) and the statuses.
func getFrom(t *testing.T, gw *gwtest.Gateway, path string, n int) (byUpstream map[string]int, byStatus map[int]int) {
	t.Helper()
	byUpstream, byStatus = map[string]int{}, map[int]int{}
	for range n {
		resp, _ := gw.Get(path)
		byUpstream[resp.Header.Get("X-Upstream")]++
		byStatus[resp.StatusCode]++
	}
	return byUpstream, byStatus
}

// Active checks eject a target within two intervals when it refuses
// connections, hangs, or answers 5xx, and bring it back as soon as it
// recovers; requests stop going to it and return to it.
func TestHealthActiveEjectsAndRestores(t *testing.T) {
	a, b := startFaulty(t, "a"), startFaulty(t, "b")
	const interval = 250 * time.Millisecond
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: s
  host: backend
  retries: 0
  routes: [{paths: [/]}]
upstreams:
- name: backend
  healthchecks:
    active:
      http_path: /health
      timeout: 0.2
      healthy: {interval: 0.25, successes: 1}
      unhealthy: {interval: 0.25, tcp_failures: 1, http_failures: 1, timeouts: 1}
  targets:
  - target: %s
  - target: %s
`, a.addr, b.addr), gwtest.Options{Args: []string{"--access-log", "off"}})
	// Two intervals, plus the probe timeout and the admin polling.
	const within = 2*interval + 200*time.Millisecond + 100*time.Millisecond

	if up, st := getFrom(t, gw, "/", 10); up["a"] != 5 || up["b"] != 5 || st[200] != 10 {
		t.Fatalf("both healthy: upstreams %v statuses %v", up, st)
	}
	waitUntil(t, "b probed", func() bool { return b.probes.Load() > 0 })

	faults := []struct {
		name   string
		inject func()
		heal   func()
		reason string
	}{
		{"connection refused", b.kill, b.revive, "active: 1 TCP failure (connect: connection refused)"},
		{"hang before headers", func() { b.status.Store(0) }, func() { b.status.Store(200) }, "active: 1 timeout"},
		{"5xx storm", func() { b.status.Store(503) }, func() { b.status.Store(200) }, "active: 1 HTTP failure (503)"},
	}
	for _, f := range faults {
		f.inject()
		th, took := waitHealth(t, gw, "backend", b.addr, "UNHEALTHY", within)
		if th.Reason != f.reason || th.Data.Addresses[0].Health != "UNHEALTHY" {
			t.Errorf("%s: health %+v, want reason %q", f.name, th, f.reason)
		}
		t.Logf("%s: ejected after %v", f.name, took)
		before := b.hits.Load()
		if up, st := getFrom(t, gw, "/", 20); up["a"] != 20 || st[200] != 20 {
			t.Errorf("%s: with b ejected: upstreams %v statuses %v", f.name, up, st)
		}
		if n := b.hits.Load() - before; n != 0 {
			t.Errorf("%s: ejected target got %d requests", f.name, n)
		}

		f.heal()
		th, took = waitHealth(t, gw, "backend", b.addr, "HEALTHY", within)
		if th.Reason != "active: 1 success (200)" {
			t.Errorf("%s: restored with reason %q", f.name, th.Reason)
		}
		t.Logf("%s: restored after %v", f.name, took)
		// About half (a stale pooled connection to the killed b may send
		// one request on to a).
		if up, st := getFrom(t, gw, "/", 10); up["b"] < 4 || st[200] != 10 {
			t.Errorf("%s: after recovery: upstreams %v statuses %v, want about half on b", f.name, up, st)
		}
		if th := upstreamHealth(t, gw, "backend")[a.addr]; th.Health != "HEALTHY" {
			t.Errorf("a: %+v", th)
		}
	}
}

// Passive checks eject a target answering 500s after the configured
// number of failures in a row; the ejection survives a reload; with no
// active checks it comes back after the cool-down (Kong would leave it out
// for good).
func TestHealthPassiveEjectsTargetReturning500s(t *testing.T) {
	good := gwtest.StartEcho(t, "good")
	bad := startFaulty(t, "bad")
	bad.status.Store(500)
	cfg := func(route string) string {
		return fmt.Sprintf(`
_format_version: "3.0"
services:
- name: s
  host: backend
  retries: 0
  routes: [{paths: [/]}, {paths: [/%s]}]
upstreams:
- name: backend
  healthchecks:
    passive:
      unhealthy: {http_failures: 3}
  targets:
  - target: %s
  - target: %s
`, route, strings.TrimPrefix(good.URL, "http://"), bad.addr)
	}
	gw := gwtest.Start(t, cfg("one"), gwtest.Options{Args: []string{"--access-log", "off", "--health-cooldown", "2s"}})

	_, st := getFrom(t, gw, "/", 20)
	ejectedAt := time.Now()
	if bad.hits.Load() != 3 || st[500] != 3 || st[200] != 17 {
		t.Fatalf("bad got %d requests (want 3: ejected after 3 failures); statuses %v", bad.hits.Load(), st)
	}
	th := upstreamHealth(t, gw, "backend")[bad.addr]
	if th.Health != "UNHEALTHY" || th.Reason != "passive: 3 HTTP failures (500)" {
		t.Errorf("bad: %+v", th)
	}
	if th := upstreamHealth(t, gw, "backend")[strings.TrimPrefix(good.URL, "http://")]; th.Health != "HEALTHY" {
		t.Errorf("good: %+v", th)
	}

	// A reload that does not touch the upstream keeps the target out.
	hash := adminStatus(t, gw)["configuration_hash"]
	writeAtomically(t, configPath(t, gw), cfg("two"))
	gw.Signal(syscall.SIGHUP)
	waitUntil(t, "reload", func() bool { return adminStatus(t, gw)["configuration_hash"] != hash })
	if th := upstreamHealth(t, gw, "backend")[bad.addr]; th.Health != "UNHEALTHY" || th.Reason != "passive: 3 HTTP failures (500)" {
		t.Errorf("after reload: %+v", th)
	}
	if _, st := getFrom(t, gw, "/", 10); st[200] != 10 || bad.hits.Load() != 3 {
		t.Errorf("after reload: statuses %v, bad hits %d", st, bad.hits.Load())
	}

	// The cool-down returns it; it has recovered meanwhile.
	bad.status.Store(200)
	th, _ = waitHealth(t, gw, "backend", bad.addr, "HEALTHY", 5*time.Second)
	if th.Reason != "cool-down over (2s)" {
		t.Errorf("back with reason %q", th.Reason)
	}
	if d := time.Since(ejectedAt); d < 1900*time.Millisecond {
		t.Errorf("back after %v, before the 2s cool-down", d)
	}
	if up, _ := getFrom(t, gw, "/", 10); up["bad"] != 5 {
		t.Errorf("after the cool-down: upstreams %v", up)
	}
}

// With every target down the gateway answers 503 in Kong's words; an
// upstream whose healthy weight is below its threshold is down as a whole
// even with a healthy target left. The admin API says which and why.
func TestHealthNoPeerAndThreshold(t *testing.T) {
	dead1, dead2, dead3 := deadAddr(t), deadAddr(t), deadAddr(t)
	alive := gwtest.StartEcho(t, "alive")
	aliveAddr := strings.TrimPrefix(alive.URL, "http://")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: all-down
  host: down
  retries: 0
  routes: [{paths: [/down]}]
- name: gated
  host: gated
  retries: 0
  routes: [{paths: [/gated]}]
- name: plain
  host: plain
  routes: [{paths: [/plain]}]
upstreams:
- name: down
  healthchecks:
    active:
      type: tcp
      healthy: {interval: 0.1}
      unhealthy: {tcp_failures: 1}
  targets:
  - target: %s
  - target: %s
- name: gated
  id: 5b4ae1f8-52d4-4d0e-a9c3-0b0a4f3a8a21
  healthchecks:
    threshold: 60
    active:
      type: tcp
      healthy: {interval: 0.1}
      unhealthy: {tcp_failures: 1}
  targets:
  - target: %s
  - target: %s
- name: plain
  targets:
  - target: %s
`, dead1, dead2, aliveAddr, dead3, aliveAddr), gwtest.Options{Args: []string{"--access-log", "off"}})

	waitHealth(t, gw, "down", dead1, "UNHEALTHY", 5*time.Second)
	waitHealth(t, gw, "down", dead2, "UNHEALTHY", 5*time.Second)
	resp, body := gw.Get("/down")
	var msg map[string]any
	json.Unmarshal([]byte(body), &msg)
	if resp.StatusCode != http.StatusServiceUnavailable || msg["message"] != "failure to get a peer from the ring-balancer" {
		t.Errorf("all targets down: %d %s", resp.StatusCode, body)
	}

	// Threshold 60%: one of two equal targets down leaves 50%.
	waitHealth(t, gw, "gated", dead3, "UNHEALTHY", 5*time.Second)
	if th := upstreamHealth(t, gw, "gated")[aliveAddr]; th.Health != "HEALTHY" {
		t.Errorf("alive target: %+v", th)
	}
	before := alive.Count.Load()
	resp, body = gw.Get("/gated")
	msg = nil
	json.Unmarshal([]byte(body), &msg)
	if resp.StatusCode != http.StatusServiceUnavailable || msg["message"] != "failure to get a peer from the ring-balancer" {
		t.Errorf("below threshold: %d %s", resp.StatusCode, body)
	}
	if alive.Count.Load() != before {
		t.Error("a request reached the upstream below its threshold")
	}
	code, bh := adminCall(t, gw, http.MethodGet, "/upstreams/5b4ae1f8-52d4-4d0e-a9c3-0b0a4f3a8a21/health?balancer_health=1", "")
	if d, _ := bh["data"].(map[string]any); code != 200 || d["health"] != "UNHEALTHY" ||
		d["reason"] != "threshold: 50% of the weight is healthy, below 60%" {
		t.Errorf("balancer health: %d %v", code, bh)
	}

	// No health checks: HEALTHCHECKS_OFF, and traffic flows.
	if th := upstreamHealth(t, gw, "plain")[aliveAddr]; th.Health != "HEALTHCHECKS_OFF" {
		t.Errorf("plain: %+v", th)
	}
	if resp, _ := gw.Get("/plain"); resp.StatusCode != 200 {
		t.Errorf("plain: %d", resp.StatusCode)
	}
	if code, _ := adminCall(t, gw, http.MethodGet, "/upstreams/nope/health", ""); code != http.StatusNotFound {
		t.Errorf("unknown upstream: %d", code)
	}

	// Each of those 503s is counted on the admin API's /metrics.
	req, _ := http.NewRequest(http.MethodGet, gw.AdminURL+"/metrics", nil)
	_, metrics := gwtest.Do(t, req)
	for _, want := range []string{
		`turnpike_upstream_no_healthy_target_total{service="all-down"} 1`,
		`turnpike_upstream_no_healthy_target_total{service="gated"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
