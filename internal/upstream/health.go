package upstream

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultHealthCoolDown is how long a target marked unhealthy stays out
// when no active check can bring it back (Kong leaves it out for good).
const DefaultHealthCoolDown = 30 * time.Second

// Health states as Kong's `GET /upstreams/{u}/health` names them.
const (
	HealthHealthy   = "HEALTHY"
	HealthUnhealthy = "UNHEALTHY"
	HealthOff       = "HEALTHCHECKS_OFF"
)

// HealthOptions are the gateway-wide settings of every health checker.
type HealthOptions struct {
	// CoolDown returns a target marked unhealthy to service after this
	// long when the upstream's active checks cannot (no unhealthy
	// interval, or no healthy successes to count). 0 keeps it out until a
	// reload turns checks off, as Kong does.
	CoolDown time.Duration
	// RootCAs verifies https and grpcs probes (nil: the system roots).
	RootCAs *x509.CertPool
	// Logger receives every health transition (nil: discarded).
	Logger *slog.Logger
	// Results counts every health report (NewHealthResults; nil: not
	// counted).
	Results *prometheus.CounterVec
}

// UpstreamHealth is the reload-surviving, upstream-wide side of health:
// whether the healthy weight fell below the upstream's threshold, in
// which case no target is eligible. The balancer of every service on the
// upstream consults it (WithThreshold); its checker updates it.
type UpstreamHealth struct {
	name   string
	down   atomic.Bool
	reason atomic.Pointer[string]
}

// Name is the upstream's name.
func (u *UpstreamHealth) Name() string { return u.name }

// Healthy reports whether the upstream is above its threshold, and the
// reason of the last change.
func (u *UpstreamHealth) Healthy() (bool, string) {
	var reason string
	if r := u.reason.Load(); r != nil {
		reason = *r
	}
	return !u.down.Load(), reason
}

func (u *UpstreamHealth) set(healthy bool, reason string) bool {
	if u.down.Load() == !healthy {
		return false
	}
	u.reason.Store(&reason)
	u.down.Store(!healthy)
	return true
}

// Gated is a balancer whose upstream may be unhealthy as a whole.
type Gated struct {
	Balancer
	Health *UpstreamHealth
}

// WithThreshold makes every target of b ineligible while h is below its
// threshold. A nil h returns b unchanged.
func WithThreshold(b Balancer, h *UpstreamHealth) Balancer {
	if h == nil {
		return b
	}
	return &Gated{Balancer: b, Health: h}
}

// Pick fails with ErrNoTarget while the upstream is below its threshold.
func (g *Gated) Pick(r *PickRequest) (*Target, error) {
	if g.Health.down.Load() {
		return nil, ErrNoTarget
	}
	return g.Balancer.Pick(r)
}

// Unwrap returns the gated balancer (for code that looks for optional
// interfaces of a specific balancer).
func (g *Gated) Unwrap() Balancer { return g.Balancer }

// UpstreamHealthOf returns the upstream health b is gated by (nil when it
// is not).
func UpstreamHealthOf(b Balancer) *UpstreamHealth {
	if g, ok := b.(*Gated); ok {
		return g.Health
	}
	return nil
}

// HealthCheckers runs one HealthChecker per upstream and keeps them, and
// the upstream-wide health, across reloads: Sync after every swap starts
// the checkers of new upstreams, stops those of removed ones, and
// restarts those whose health-check config or targets changed (keeping
// each target's health and counters); an unchanged upstream keeps its
// running checker.
type HealthCheckers struct {
	opts     HealthOptions
	mu       sync.Mutex
	gates    map[string]*UpstreamHealth
	checkers map[string]*HealthChecker
}

// NewHealthCheckers makes an empty registry. The checkers work on the
// target states Sync is given with each upstream's targets.
func NewHealthCheckers(opts HealthOptions) *HealthCheckers {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &HealthCheckers{opts: opts, gates: map[string]*UpstreamHealth{}, checkers: map[string]*HealthChecker{}}
}

// Upstream returns the upstream-wide health of name, creating it healthy
// (for the compiler, which gates the upstream's balancers with it). A nil
// registry returns nil.
func (h *HealthCheckers) Upstream(name string) *UpstreamHealth {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gate(name)
}

func (h *HealthCheckers) gate(name string) *UpstreamHealth {
	g, ok := h.gates[name]
	if !ok {
		g = &UpstreamHealth{name: name}
		h.gates[name] = g
	}
	return g
}

// Checker returns the running checker of an upstream (nil when none).
func (h *HealthCheckers) Checker(name string) *HealthChecker {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.checkers[name]
}

// CheckedUpstream is an upstream as Sync sees it: its name, checks, the
// Host header of its probes (host_header) and the targets its services'
// balancers hold, one per address (a target named by DNS has one per
// resolved address, none while it does not resolve; an upstream no service
// uses has none, so nothing is checked).
type CheckedUpstream struct {
	Name       string
	Checks     HealthCheck
	HostHeader string
	Targets    []*Target
	// ClientCert is presented by https and grpcs probes (the upstream's
	// client_certificate); ClientCertKey names it with its digest, so a
	// rotated certificate restarts the checker.
	ClientCert    *tls.Certificate
	ClientCertKey string
}

// Sync brings the checkers in line with the upstreams of the snapshot now
// in force.
func (h *HealthCheckers) Sync(ups []CheckedUpstream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	for _, cu := range ups {
		seen[cu.Name] = true
		targets := healthTargets(cu.Targets)
		fp := fingerprint(&cu, targets)
		old := h.checkers[cu.Name]
		if old != nil && old.fingerprint == fp {
			continue
		}
		c := NewHealthChecker(cu.Name, cu.Checks, targets, h.gate(cu.Name), h.opts)
		c.hostHeader = cu.HostHeader
		c.clientCert = cu.ClientCert
		c.fingerprint = fp
		if old != nil {
			old.Stop()
			c.inherit(old)
			h.forgetResults(cu.Name, old, c)
		}
		c.Start()
		h.checkers[cu.Name] = c
	}
	for name, c := range h.checkers {
		if !seen[name] {
			c.Stop()
			c.detach()
			h.forgetResults(name, c, nil)
			delete(h.checkers, name)
		}
	}
	for name := range h.gates {
		if !seen[name] {
			delete(h.gates, name)
		}
	}
}

// dropUncheckedGates forgets the upstream-wide health of upstreams that
// have no checker: Sync gives every gate it keeps a checker, so these are
// the gates of a compile that was given up.
func (h *HealthCheckers) dropUncheckedGates() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name := range h.gates {
		if h.checkers[name] == nil {
			delete(h.gates, name)
		}
	}
}

// Close stops every checker.
func (h *HealthCheckers) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, c := range h.checkers {
		c.Stop()
		delete(h.checkers, name)
	}
}

// healthTargets turns balancer targets into checked ones, one per state:
// two DNS names that resolve to the same address share its state, and
// their weights add up.
func healthTargets(ts []*Target) []HealthTarget {
	var out []HealthTarget
	index := map[*TargetState]int{}
	for _, t := range ts {
		if i, ok := index[t.State]; ok {
			out[i].Weight += t.Weight
			continue
		}
		index[t.State] = len(out)
		out = append(out, HealthTarget{Host: t.Host, Port: t.Port, Hostname: t.OriginHost(), Weight: t.Weight, State: t.State})
	}
	return out
}

// fingerprint identifies what a checker is built from: the health-check
// config, the Host header of probes, and the targets with their weights
// and state objects (a state replaced in the registry needs a new
// checker).
func fingerprint(cu *CheckedUpstream, targets []HealthTarget) string {
	hash := sha256.New()
	cfg, _ := json.Marshal(cu.Checks)
	hash.Write(cfg)
	fmt.Fprintf(hash, "|%s|%s", cu.HostHeader, cu.ClientCertKey)
	for _, t := range targets {
		fmt.Fprintf(hash, "|%s:%d:%s:%d:%p", t.Host, t.Port, t.Hostname, t.Weight, t.State)
	}
	return hex.EncodeToString(hash.Sum(nil))
}
