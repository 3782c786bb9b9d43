package upstream

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// flaky is a loopback HTTP upstream whose status can be changed.
type flaky struct {
	*httptest.Server
	status atomic.Int64
	hits   atomic.Int64
}

func startFlaky(t *testing.T) *flaky {
	f := &flaky{}
	f.status.Store(200)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		w.WriteHeader(int(f.status.Load()))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *flaky) target(t *testing.T, weight int) HealthTarget {
	return hostPortTarget(t, f.Listener.Addr().String(), weight)
}

func hostPortTarget(t *testing.T, addr string, weight int) HealthTarget {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return HealthTarget{Host: host, Port: port, Weight: weight, State: &TargetState{}}
}

func healthOf(s *TargetState) (bool, string) { return s.Health() }

func TestActiveChecksEjectAndRestore(t *testing.T) {
	up := startFlaky(t)
	cfg := kongHealthDefaults()
	cfg.Active.Healthy.Interval = 0.02
	cfg.Active.Unhealthy.Interval = 0.02
	cfg.Active.Healthy.Successes = 2
	cfg.Active.Unhealthy.HTTPFailures = 3
	tg := up.target(t, 100)
	c := NewHealthChecker("up", cfg, []HealthTarget{tg}, nil, HealthOptions{CoolDown: time.Millisecond})
	c.Start()
	defer c.Stop()

	up.status.Store(503)
	waitFor(t, 2*time.Second, "ejected after 3 HTTP failures", func() bool { h, _ := healthOf(tg.State); return !h })
	if _, r := healthOf(tg.State); r != "active: 3 HTTP failures (503)" {
		t.Errorf("reason %q", r)
	}
	// Active checks can bring it back, so no cool-down applies.
	time.Sleep(50 * time.Millisecond)
	if h, _ := healthOf(tg.State); h {
		t.Fatal("came back while still failing")
	}
	up.status.Store(200)
	waitFor(t, 2*time.Second, "restored after 2 successes", func() bool { h, _ := healthOf(tg.State); return h })
	if _, r := healthOf(tg.State); r != "active: 2 successes (200)" {
		t.Errorf("reason %q", r)
	}
}

func TestActiveChecksTCPFailuresAndTimeouts(t *testing.T) {
	dead := hostPortTarget(t, deadAddr(t), 100)
	// Accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	hang := hostPortTarget(t, ln.Addr().String(), 100)
	off := hostPortTarget(t, deadAddr(t), 0) // weight 0: never probed

	cfg := kongHealthDefaults()
	cfg.Active.Timeout = 0.05
	cfg.Active.Healthy.Interval = 0.02
	cfg.Active.Unhealthy.TCPFailures = 2
	cfg.Active.Unhealthy.Timeouts = 2
	c := NewHealthChecker("up", cfg, []HealthTarget{dead, hang, off}, nil, HealthOptions{})
	c.Start()
	waitFor(t, 3*time.Second, "both ejected", func() bool {
		a, _ := healthOf(dead.State)
		b, _ := healthOf(hang.State)
		return !a && !b
	})
	c.Stop()
	if _, r := healthOf(dead.State); r != "active: 2 TCP failures (connect: connection refused)" {
		t.Errorf("dead reason %q", r)
	}
	if _, r := healthOf(hang.State); r != "active: 2 timeouts" {
		t.Errorf("hanging reason %q", r)
	}
	if h, _ := healthOf(off.State); !h {
		t.Error("a weight-0 target was probed")
	}
}

// passiveTarget is a snapshot target sharing the checker's state.
func passiveTarget(tg HealthTarget) *Target {
	t := NewTarget(tg.Host, tg.Port, tg.Weight, nil)
	t.State = tg.State
	return t
}

func TestPassiveChecks(t *testing.T) {
	cfg := kongHealthDefaults()
	cfg.Passive.Unhealthy.HTTPFailures = 3
	cfg.Passive.Unhealthy.Timeouts = 2
	cfg.Passive.Unhealthy.TCPFailures = 1
	cfg.Passive.Healthy.Successes = 2
	mk := func() (*HealthChecker, *Target) {
		tg := HealthTarget{Host: "10.0.0.1", Port: 80, Weight: 100, State: &TargetState{}}
		c := NewHealthChecker("up", cfg, []HealthTarget{tg}, nil, HealthOptions{})
		c.Start()
		t.Cleanup(c.Stop)
		return c, passiveTarget(tg)
	}
	end := func(tg *Target, outcomes ...Outcome) {
		for _, o := range outcomes {
			tg.Begin()
			tg.End(o)
		}
	}
	s500, s200, s404 := Outcome{Status: 500}, Outcome{Status: 200}, Outcome{Status: 404}

	t.Run("statuses", func(t *testing.T) {
		_, tg := mk()
		// A success in between starts the count again; 404 is neutral.
		end(tg, s500, s500, s200, s500, s404, s500)
		if !tg.Healthy() {
			t.Fatal("ejected without 3 failures in a row")
		}
		end(tg, s500)
		if h, r := tg.State.Health(); h || r != "passive: 3 HTTP failures (500)" {
			t.Fatalf("health %v %q", h, r)
		}
	})
	t.Run("timeouts", func(t *testing.T) {
		_, tg := mk()
		end(tg, Outcome{Timeout: true}, Outcome{Timeout: true})
		if h, r := tg.State.Health(); h || r != "passive: 2 timeouts" {
			t.Fatalf("health %v %q", h, r)
		}
	})
	t.Run("tcp failures", func(t *testing.T) {
		_, tg := mk()
		end(tg, Outcome{TCPFailure: true})
		if h, r := tg.State.Health(); h || r != "passive: 1 TCP failure" {
			t.Fatalf("health %v %q", h, r)
		}
		// Passive successes bring it back (traffic that still reaches it,
		// e.g. when it is the last target).
		end(tg, s200)
		if tg.Healthy() {
			t.Fatal("back after one success")
		}
		end(tg, s200)
		if h, r := tg.State.Health(); !h || r != "passive: 2 successes (200)" {
			t.Fatalf("health %v %q", h, r)
		}
	})
	t.Run("zero counters are off", func(t *testing.T) {
		tg := HealthTarget{Host: "10.0.0.1", Port: 80, Weight: 100, State: &TargetState{}}
		c := NewHealthChecker("up", kongHealthDefaults(), []HealthTarget{tg}, nil, HealthOptions{})
		c.Start()
		defer c.Stop()
		pt := passiveTarget(tg)
		for range 50 {
			end(pt, s500, Outcome{Timeout: true}, Outcome{TCPFailure: true})
		}
		if !pt.Healthy() || c.Enabled() {
			t.Fatal("Kong's defaults check nothing")
		}
	})
}

func TestCoolDownReturnsPassivelyEjectedTarget(t *testing.T) {
	cfg := kongHealthDefaults()
	cfg.Passive.Unhealthy.HTTPFailures = 1
	tg := HealthTarget{Host: "10.0.0.1", Port: 80, Weight: 100, State: &TargetState{}}
	c := NewHealthChecker("up", cfg, []HealthTarget{tg}, nil, HealthOptions{CoolDown: 100 * time.Millisecond})
	c.Start()
	defer c.Stop()
	pt := passiveTarget(tg)
	pt.Begin()
	pt.End(Outcome{Status: 503})
	at := time.Now()
	if pt.Healthy() {
		t.Fatal("not ejected")
	}
	waitFor(t, 2*time.Second, "back after the cool-down", pt.Healthy)
	if d := time.Since(at); d < 90*time.Millisecond {
		t.Errorf("back after %v, before the cool-down", d)
	}
	if _, r := pt.State.Health(); r != "cool-down over (100ms)" {
		t.Errorf("reason %q", r)
	}

	// Without a cool-down (Kong's behaviour) it stays out.
	tg2 := HealthTarget{Host: "10.0.0.2", Port: 80, Weight: 100, State: &TargetState{}}
	c2 := NewHealthChecker("up2", cfg, []HealthTarget{tg2}, nil, HealthOptions{})
	c2.Start()
	defer c2.Stop()
	pt2 := passiveTarget(tg2)
	pt2.Begin()
	pt2.End(Outcome{Status: 503})
	time.Sleep(150 * time.Millisecond)
	if pt2.Healthy() {
		t.Error("came back with no cool-down configured")
	}
}

func TestThresholdGatesTheUpstream(t *testing.T) {
	cfg := kongHealthDefaults()
	cfg.Threshold = 50
	cfg.Passive.Unhealthy.HTTPFailures = 1
	cfg.Passive.Healthy.Successes = 1
	var hts []HealthTarget
	var targets []*Target
	for i := range 4 {
		ht := HealthTarget{Host: "10.0.0." + strconv.Itoa(i+1), Port: 80, Weight: 100, State: &TargetState{}}
		hts = append(hts, ht)
		targets = append(targets, passiveTarget(ht))
	}
	gate := &UpstreamHealth{name: "up"}
	c := NewHealthChecker("up", cfg, hts, gate, HealthOptions{})
	c.Start()
	defer c.Stop()
	b := WithThreshold(NewRoundRobin(targets), gate)
	if UpstreamHealthOf(b) != gate {
		t.Fatal("UpstreamHealthOf")
	}
	fail := func(tg *Target) { tg.Begin(); tg.End(Outcome{Status: 500}) }
	fail(targets[0])
	fail(targets[1]) // 50% healthy: not below the threshold
	if _, err := b.Pick(&PickRequest{}); err != nil {
		t.Fatalf("at 50%%: %v", err)
	}
	fail(targets[2]) // 25%
	if _, err := b.Pick(&PickRequest{}); !errors.Is(err, ErrNoTarget) {
		t.Fatalf("below the threshold: %v, want ErrNoTarget", err)
	}
	if h, r := gate.Healthy(); h || r != "threshold: 25% of the weight is healthy, below 50%" {
		t.Errorf("gate %v %q", h, r)
	}
	targets[0].Begin()
	targets[0].End(Outcome{Status: 200})
	if h, _ := gate.Healthy(); !h {
		t.Fatal("gate still down at 50%")
	}
	if tg, err := b.Pick(&PickRequest{}); err != nil || (tg != targets[0] && tg != targets[3]) {
		t.Fatalf("pick %v %v", tg, err)
	}
}

// checkedUpstreams is what Sync gets for one upstream, up, whose checks
// are a threshold and passive unhealthy http_failures: 2, with a target
// per address holding the registry's states.
func checkedUpstreams(states *States, threshold float64) []CheckedUpstream {
	checks := kongHealthDefaults()
	checks.Threshold = threshold
	checks.Passive.Unhealthy.HTTPFailures = 2
	cu := CheckedUpstream{Name: "up", Checks: checks}
	for _, addr := range []string{"10.0.0.1", "10.0.0.2"} {
		tg := NewTarget(addr, 80, 100, nil)
		tg.State = states.Get("up|" + tg.Addr)
		cu.Targets = append(cu.Targets, tg)
	}
	return []CheckedUpstream{cu}
}

func TestHealthCheckersSyncKeepsStateAcrossReloads(t *testing.T) {
	states := NewStates()
	hc := NewHealthCheckers(HealthOptions{CoolDown: 300 * time.Millisecond})
	defer hc.Close()
	s1 := states.Get("up|10.0.0.1:80")
	tg := &Target{Addr: "10.0.0.1:80", Weight: 100, State: s1}
	gate := hc.Upstream("up")

	hc.Sync(checkedUpstreams(states, 0))
	first := hc.Checker("up")
	if first == nil || !first.Enabled() {
		t.Fatal("no checker")
	}
	tg.Begin()
	tg.End(Outcome{Status: 500})

	// Same config: the running checker (and its counters) is kept.
	hc.Sync(checkedUpstreams(states, 0))
	if hc.Checker("up") != first {
		t.Fatal("unchanged config restarted the checker")
	}
	// Changed config: a new checker that carries the count on.
	hc.Sync(checkedUpstreams(states, 60))
	second := hc.Checker("up")
	if second == first {
		t.Fatal("changed config kept the old checker")
	}
	tg.Begin()
	tg.End(Outcome{Status: 500})
	if h, r := s1.Health(); h || r != "passive: 2 HTTP failures (500)" {
		t.Fatalf("after restart: %v %q (counter lost?)", h, r)
	}
	if h, _ := gate.Healthy(); h || hc.Upstream("up") != gate {
		t.Fatal("threshold 60 with half the weight down: upstream should be unhealthy")
	}
	// A restart while unhealthy keeps the health and resumes the cool-down.
	hc.Sync(checkedUpstreams(states, 10))
	if h, r := s1.Health(); h || r != "passive: 2 HTTP failures (500)" {
		t.Fatalf("restart reset the health: %v %q", h, r)
	}
	if h, _ := gate.Healthy(); !h {
		t.Fatal("threshold 10: upstream should be healthy")
	}
	waitFor(t, 2*time.Second, "cool-down after restart", func() bool { h, _ := s1.Health(); return h })

	// Checks turned off: targets healthy, HEALTHCHECKS_OFF.
	tg.Begin()
	tg.End(Outcome{Status: 500})
	tg.Begin()
	tg.End(Outcome{Status: 500})
	off := checkedUpstreams(states, 0)
	off[0].Checks.Passive.Unhealthy.HTTPFailures = 0
	hc.Sync(off)
	if h, r := s1.Health(); !h || r != "health checks off" || hc.Checker("up").Enabled() {
		t.Fatalf("checks off: %v %q", h, r)
	}
	for range 5 {
		tg.Begin()
		tg.End(Outcome{Status: 500})
	}
	if !tg.Healthy() {
		t.Fatal("the old checker's hook still counts")
	}

	// Upstream removed: checker stopped, gate forgotten.
	hc.Sync(nil)
	if hc.Checker("up") != nil || hc.Upstream("up") == gate {
		t.Fatal("removed upstream kept its checker or gate")
	}
}

// Only the addresses the balancers hold are checked: a DNS name gives one
// per address, probed with the name as Host; two names on one address
// share its state, checked once with their weights added up.
func TestHealthCheckersCheckBalancerTargets(t *testing.T) {
	states := NewStates()
	hc := NewHealthCheckers(HealthOptions{})
	defer hc.Close()
	ups := checkedUpstreams(states, 0)
	ups[0].Targets = ups[0].Targets[1:]
	hc.Sync(ups)
	got := hc.Checker("up").Targets()
	if len(got) != 1 || got[0].Addr != "10.0.0.2:80" || !got[0].Healthy || got[0].Weight != 100 {
		t.Fatalf("targets %+v", got)
	}

	shared := states.Get("up|10.0.0.9:80")
	a := &Target{Host: "10.0.0.9", Port: 80, Addr: "10.0.0.9:80", Origin: "a.svc:80", Weight: 100, State: shared}
	b := &Target{Host: "10.0.0.9", Port: 80, Addr: "10.0.0.9:80", Origin: "b.svc:80", Weight: 30, State: shared}
	c := &Target{Host: "10.0.0.8", Port: 80, Addr: "10.0.0.8:80", Origin: "a.svc:80", Weight: 100, State: states.Get("up|10.0.0.8:80")}
	ups[0].Targets = []*Target{a, b, c}
	hc.Sync(ups)
	ck := hc.Checker("up")
	got = ck.Targets()
	if len(got) != 2 || got[0].Addr != "10.0.0.9:80" || got[0].Weight != 130 || got[1].Addr != "10.0.0.8:80" {
		t.Fatalf("targets %+v", got)
	}
	if req := ck.httpRequest(ck.targets[1]); !strings.Contains(req, "\r\nHost: a.svc\r\n") {
		t.Errorf("probe of a resolved address: %q, want Host: a.svc", req)
	}
	if conf := ck.tlsConfig(ck.targets[1]); conf.ServerName != "a.svc" {
		t.Errorf("probe server name %q", conf.ServerName)
	}
}
