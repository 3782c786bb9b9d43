package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// HealthTarget is one target a checker watches: its address, weight (0:
// disabled, never probed) and the reload-surviving state it marks.
type HealthTarget struct {
	Host string
	Port int
	// Hostname is the name the target was configured with when Host is an
	// address DNS gave for it: HTTP probes send it as Host and TLS probes
	// as the server name (empty: Host).
	Hostname string
	Weight   int
	State    *TargetState
}

// name is the target's configured host.
func (t *HealthTarget) name() string {
	if t.Hostname != "" {
		return t.Hostname
	}
	return t.Host
}

// The four counters of a target, as Kong's lua-resty-healthcheck keeps them.
type counterKind int

const (
	countSuccess counterKind = iota
	countTCP
	countTimeout
	countHTTP
)

// limits are the thresholds of the four counters (0: counter off).
type limits [4]int

// statusSet is a set of HTTP statuses (100–999).
type statusSet [16]uint64

func newStatusSet(statuses []int) *statusSet {
	var s statusSet
	for _, st := range statuses {
		if st >= 0 && st < 1024 {
			s[st/64] |= 1 << (st % 64)
		}
	}
	return &s
}

func (s *statusSet) has(st int) bool { return st >= 0 && st < 1024 && s[st/64]&(1<<(st%64)) != 0 }

// hcTarget is a checked target with its counters.
type hcTarget struct {
	HealthTarget
	addr    string
	reports *reportCounters // nil: not counted
	mu      sync.Mutex
	// counts are guarded by mu; failing is set while any failure counter
	// is above zero, so that the common report (a success on a healthy
	// target) takes no lock.
	counts  [4]int
	failing atomic.Bool
	// since is when the target was marked unhealthy (zero when healthy);
	// timer ends its cool-down.
	since time.Time
	timer *time.Timer
}

func stateHealthy(s *TargetState) bool { return !s.unhealthy.Load() }

// HealthChecker runs the active probes of one upstream and counts the
// outcomes of its real traffic (passive checks), with Kong's semantics:
// a success resets the failure counters and a failure the success counter;
// a counter that reaches its threshold flips the target's health and all
// counters start again; a counter whose threshold is 0 is off. A target
// marked unhealthy comes back through active probes or, when those cannot
// bring it back, after the cool-down.
type HealthChecker struct {
	name    string
	cfg     HealthCheck
	opts    HealthOptions
	gate    *UpstreamHealth
	targets []*hcTarget
	// hostHeader is the upstream's host_header, sent by HTTP probes.
	hostHeader string
	// clientCert is presented to targets that ask for one (nil: none).
	clientCert  *tls.Certificate
	fingerprint string

	enabled, passiveOn             bool
	active, passive                limits
	activeHealthy, activeUnhealthy *statusSet
	passiveHealthy                 *statusSet
	passiveUnhealthy               *statusSet
	timeout                        time.Duration
	coolDown                       time.Duration

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	gateMu  sync.Mutex
	started atomic.Bool
	stopped atomic.Bool
}

// NewHealthChecker builds the checker of an upstream; Start runs it. gate
// receives the upstream-wide health (threshold); it may be nil.
func NewHealthChecker(name string, cfg HealthCheck, targets []HealthTarget, gate *UpstreamHealth, opts HealthOptions) *HealthChecker {
	if gate == nil {
		gate = &UpstreamHealth{name: name}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a, p := &cfg.Active, &cfg.Passive
	c := &HealthChecker{
		name: name, cfg: cfg, opts: opts, gate: gate,
		enabled: cfg.Enabled(),
		passiveOn: p.Unhealthy.TCPFailures > 0 || p.Unhealthy.Timeouts > 0 || p.Unhealthy.HTTPFailures > 0 ||
			p.Healthy.Successes > 0,
		active:           limits{a.Healthy.Successes, a.Unhealthy.TCPFailures, a.Unhealthy.Timeouts, a.Unhealthy.HTTPFailures},
		passive:          limits{p.Healthy.Successes, p.Unhealthy.TCPFailures, p.Unhealthy.Timeouts, p.Unhealthy.HTTPFailures},
		activeHealthy:    newStatusSet(a.Healthy.HTTPStatuses),
		activeUnhealthy:  newStatusSet(a.Unhealthy.HTTPStatuses),
		passiveHealthy:   newStatusSet(p.Healthy.HTTPStatuses),
		passiveUnhealthy: newStatusSet(p.Unhealthy.HTTPStatuses),
		timeout:          seconds(a.Timeout),
	}
	if c.timeout <= 0 {
		c.timeout = time.Second
	}
	// Active probes bring an unhealthy target back only when unhealthy
	// targets are probed and successes are counted; otherwise the
	// cool-down does (Kong would leave the target out for good).
	if a.Unhealthy.Interval <= 0 || a.Healthy.Successes <= 0 {
		c.coolDown = opts.CoolDown
	}
	for _, t := range targets {
		ht := &hcTarget{HealthTarget: t, addr: JoinHostPort(t.Host, t.Port)}
		if opts.Results != nil {
			ht.reports = newReportCounters(opts.Results, name, ht.addr)
		}
		c.targets = append(c.targets, ht)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Name is the upstream's name.
func (c *HealthChecker) Name() string { return c.name }

// Enabled reports whether the upstream has health checks at all (else its
// targets are HEALTHCHECKS_OFF).
func (c *HealthChecker) Enabled() bool { return c.enabled }

// Start installs the passive hooks, applies the upstream-wide threshold,
// resumes the cool-downs of targets that are already unhealthy and starts
// the active probes. With checks off every target is made healthy.
func (c *HealthChecker) Start() {
	if c.started.Swap(true) {
		return
	}
	now := time.Now()
	for _, t := range c.targets {
		if !c.enabled {
			t.State.SetObserver(noObserver)
			if !stateHealthy(t.State) {
				t.State.SetHealth(true, "health checks off")
			}
			continue
		}
		if c.passiveOn {
			t.State.SetObserver(func(_ *Target, o Outcome) { c.observe(t, o) })
		} else {
			t.State.SetObserver(noObserver)
		}
		t.mu.Lock()
		if !stateHealthy(t.State) {
			if t.since.IsZero() {
				t.since = now
			}
			c.scheduleCoolDown(t, c.coolDown-now.Sub(t.since))
		} else {
			t.since = time.Time{}
		}
		t.mu.Unlock()
	}
	c.updateGate()
	if !c.enabled {
		return
	}
	if iv := seconds(c.cfg.Active.Healthy.Interval); iv > 0 {
		c.wg.Add(1)
		go c.loop(iv, true)
	}
	if iv := seconds(c.cfg.Active.Unhealthy.Interval); iv > 0 {
		c.wg.Add(1)
		go c.loop(iv, false)
	}
}

// Stop ends the probes and cool-downs and waits for running probes to
// return. Target health stays as it is (the next checker carries on).
func (c *HealthChecker) Stop() {
	if c.stopped.Swap(true) {
		return
	}
	c.cancel()
	c.wg.Wait()
	for _, t := range c.targets {
		t.mu.Lock()
		if t.timer != nil {
			t.timer.Stop()
			t.timer = nil
		}
		t.mu.Unlock()
	}
}

// detach removes the passive hooks (the upstream is gone).
func (c *HealthChecker) detach() {
	for _, t := range c.targets {
		t.State.SetObserver(noObserver)
	}
}

// inherit carries the counters and unhealthy-since times of a stopped
// checker's targets over, matched by state.
func (c *HealthChecker) inherit(old *HealthChecker) {
	byState := map[*TargetState]*hcTarget{}
	for _, t := range old.targets {
		byState[t.State] = t
	}
	for _, t := range c.targets {
		if o := byState[t.State]; o != nil {
			o.mu.Lock()
			t.counts, t.since = o.counts, o.since
			t.failing.Store(o.failing.Load())
			o.mu.Unlock()
		}
	}
}

func noObserver(*Target, Outcome) {}

// observe counts one outcome of real traffic.
func (c *HealthChecker) observe(t *hcTarget, o Outcome) {
	switch {
	case o.Timeout:
		c.report(t, "passive", &c.passive, countTimeout, "")
	case o.TCPFailure:
		c.report(t, "passive", &c.passive, countTCP, "")
	case o.Status == 0:
	case c.cfg.Passive.Type == "tcp":
		c.report(t, "passive", &c.passive, countSuccess, "")
	case c.passiveUnhealthy.has(o.Status):
		c.report(t, "passive", &c.passive, countHTTP, strconv.Itoa(o.Status))
	case c.passiveHealthy.has(o.Status):
		c.report(t, "passive", &c.passive, countSuccess, strconv.Itoa(o.Status))
	}
}

// report counts one health report on t and flips its health when a
// counter reaches its threshold.
func (c *HealthChecker) report(t *hcTarget, src string, lim *limits, kind counterKind, detail string) {
	if c.stopped.Load() {
		return
	}
	t.reports.add(src, kind)
	healthy := stateHealthy(t.State)
	if kind == countSuccess {
		// A success ends a run of failures even when successes are not
		// counted: failures are counted in a row (Kong ignores a success
		// whose counter is off, so failures far apart add up there).
		if healthy && !t.failing.Load() {
			return
		}
	} else if lim[kind] == 0 {
		return
	}
	t.mu.Lock()
	changed := false
	healthy = stateHealthy(t.State)
	if kind == countSuccess {
		t.counts[countTCP], t.counts[countTimeout], t.counts[countHTTP] = 0, 0, 0
		t.failing.Store(false)
		if !healthy && lim[countSuccess] > 0 {
			t.counts[countSuccess]++
			if n := t.counts[countSuccess]; n >= lim[countSuccess] {
				c.mark(t, true, reason(src, n, kind, detail))
				changed = true
			}
		}
	} else if !healthy {
		// A failure ends a run of successes of an unhealthy target.
		t.counts[countSuccess] = 0
	} else {
		t.counts[countSuccess] = 0
		t.counts[kind]++
		t.failing.Store(true)
		if n := t.counts[kind]; n >= lim[kind] {
			c.mark(t, false, reason(src, n, kind, detail))
			changed = true
		}
	}
	t.mu.Unlock()
	if changed {
		c.updateGate()
	}
}

// mark flips t's health (t.mu held) and starts again from zero.
func (c *HealthChecker) mark(t *hcTarget, healthy bool, why string) {
	t.State.SetHealth(healthy, why)
	t.counts = [4]int{}
	t.failing.Store(false)
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	if healthy {
		t.since = time.Time{}
	} else {
		t.since = time.Now()
		c.scheduleCoolDown(t, c.coolDown)
	}
	c.opts.Logger.Info("upstream target health changed", "upstream", c.name, "target", t.addr,
		"healthy", healthy, "reason", why)
}

// scheduleCoolDown (t.mu held) returns t to service after d, when the
// checker has a cool-down.
func (c *HealthChecker) scheduleCoolDown(t *hcTarget, d time.Duration) {
	if c.coolDown <= 0 || c.stopped.Load() {
		return
	}
	since := t.since
	t.timer = time.AfterFunc(max(d, 0), func() { c.coolDownOver(t, since) })
}

func (c *HealthChecker) coolDownOver(t *hcTarget, since time.Time) {
	t.mu.Lock()
	if c.stopped.Load() || stateHealthy(t.State) || !t.since.Equal(since) {
		t.mu.Unlock()
		return
	}
	t.timer = nil
	c.mark(t, true, "cool-down over ("+c.coolDown.String()+")")
	t.mu.Unlock()
	c.updateGate()
}

// updateGate marks the whole upstream unhealthy while its healthy weight
// is below the threshold percentage of its total weight.
func (c *HealthChecker) updateGate() {
	c.gateMu.Lock()
	defer c.gateMu.Unlock()
	if c.stopped.Load() {
		return
	}
	total, up := 0, 0
	for _, t := range c.targets {
		if t.Weight <= 0 {
			continue
		}
		total += t.Weight
		if stateHealthy(t.State) {
			up += t.Weight
		}
	}
	if !c.enabled || c.cfg.Threshold <= 0 || total == 0 {
		c.gate.set(true, "")
		return
	}
	pct := float64(up) * 100 / float64(total)
	if pct < c.cfg.Threshold {
		if c.gate.set(false, fmt.Sprintf("threshold: %.0f%% of the weight is healthy, below %g%%", pct, c.cfg.Threshold)) {
			c.opts.Logger.Warn("upstream unhealthy: healthy weight below threshold", "upstream", c.name,
				"healthy_percent", pct, "threshold", c.cfg.Threshold)
		}
		return
	}
	if c.gate.set(true, fmt.Sprintf("threshold: %.0f%% of the weight is healthy again", pct)) {
		c.opts.Logger.Info("upstream healthy again", "upstream", c.name, "healthy_percent", pct)
	}
}

// reason words a health change: "active: 3 HTTP failures (503)".
func reason(src string, n int, kind counterKind, detail string) string {
	nouns := [4][2]string{{"success", "successes"}, {"TCP failure", "TCP failures"},
		{"timeout", "timeouts"}, {"HTTP failure", "HTTP failures"}}
	noun := nouns[kind][1]
	if n == 1 {
		noun = nouns[kind][0]
	}
	s := src + ": " + strconv.Itoa(n) + " " + noun
	if detail != "" {
		s += " (" + detail + ")"
	}
	return s
}

// loop probes the targets in one health state every interval.
func (c *HealthChecker) loop(interval time.Duration, healthy bool) {
	defer c.wg.Done()
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tk.C:
			c.round(healthy)
		}
	}
}

// round probes, at most `concurrency` at a time, every enabled target
// whose health is healthy, and reports the results.
func (c *HealthChecker) round(healthy bool) {
	var due []*hcTarget
	for _, t := range c.targets {
		if t.Weight > 0 && stateHealthy(t.State) == healthy {
			due = append(due, t)
		}
	}
	if len(due) == 0 {
		return
	}
	work := make(chan *hcTarget)
	var wg sync.WaitGroup
	for range max(1, min(c.cfg.Active.Concurrency, len(due))) {
		wg.Go(func() {
			for t := range work {
				c.probeAndReport(t)
			}
		})
	}
	for _, t := range due {
		work <- t
	}
	close(work)
	wg.Wait()
}

func (c *HealthChecker) probeAndReport(t *hcTarget) {
	if c.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	defer cancel()
	r := c.probe(ctx, t)
	if r.skip || c.ctx.Err() != nil {
		return
	}
	c.report(t, "active", &c.active, r.kind, r.detail)
}

// TargetHealth is one target's health for reports.
type TargetHealth struct {
	Addr    string
	Weight  int
	Healthy bool
	Reason  string
}

// Targets reports the health of the checked targets.
func (c *HealthChecker) Targets() []TargetHealth {
	out := make([]TargetHealth, 0, len(c.targets))
	for _, t := range c.targets {
		h, r := t.State.Health()
		out = append(out, TargetHealth{Addr: t.addr, Weight: t.Weight, Healthy: h, Reason: r})
	}
	return out
}
