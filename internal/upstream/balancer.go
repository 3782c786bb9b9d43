package upstream

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/clock"
)

// ErrNoTarget is returned when a balancer has no target to offer; the
// proxy answers 503 (Kong: "failure to get a peer from the ring-balancer").
var ErrNoTarget = errors.New("failure to get a peer from the ring-balancer")

// Target is one address a service's requests may go to.
type Target struct {
	Host string
	Port int
	Addr string // host:port as dialled
	// Origin is the configured target (host:port) this address comes
	// from: a target named by DNS gives one Target per resolved address,
	// all with the same Origin. For a target given by IP it is Addr.
	Origin string
	Weight int
	Pool   *Pool
	// State is the target's live state (health, requests in flight,
	// latency). It is shared by every snapshot that has the same upstream
	// and address, so it survives reloads.
	State *TargetState
}

// NewTarget builds a target with its dial address and a fresh state.
func NewTarget(host string, port, weight int, pool *Pool) *Target {
	addr := JoinHostPort(host, port)
	return &Target{Host: host, Port: port, Addr: addr, Origin: addr, Weight: weight, Pool: pool, State: &TargetState{}}
}

// OriginHost is the host part of Origin: the name a DNS target was
// configured with (for Host headers and TLS server names), or the IP.
func (t *Target) OriginHost() string {
	if i := strings.LastIndexByte(t.Origin, ':'); i >= 0 {
		return strings.Trim(t.Origin[:i], "[]")
	}
	return t.Origin
}

// Healthy reports whether the target may be picked.
func (t *Target) Healthy() bool { return !t.State.unhealthy.Load() }

// Begin marks an attempt on t as started (for least-connections).
func (t *Target) Begin() { t.State.inflight.Add(1) }

// End records the outcome of an attempt that Begin started: requests in
// flight, the latency average, and passive health.
func (t *Target) End(o Outcome) {
	t.State.inflight.Add(-1)
	if o.Latency > 0 {
		t.State.observeLatency(o.Latency)
	}
	if obs := t.State.observer.Load(); obs != nil {
		(*obs)(t, o)
	}
}

// Outcome is what one attempt on a target ended with.
type Outcome struct {
	// Status is the upstream's HTTP status (0 when none was received).
	Status int
	// TCPFailure is a failed connect, reset or broken connection.
	TCPFailure bool
	// Timeout is a connect or read timeout.
	Timeout bool
	// Latency is the time to the response head.
	Latency time.Duration
}

// TargetState is the live, reload-surviving state of a target.
type TargetState struct {
	unhealthy atomic.Bool
	reason    atomic.Pointer[string]
	inflight  atomic.Int64
	// ewmaNanos is the peak-EWMA latency (nanoseconds) for the latency
	// balancer; lastNanos is when it was last updated.
	ewmaNanos atomic.Int64
	lastNanos atomic.Int64
	// observer receives every outcome (passive health checks).
	observer atomic.Pointer[func(*Target, Outcome)]
}

// SetHealth marks the target healthy or not, with the reason shown by the
// admin API.
func (s *TargetState) SetHealth(healthy bool, reason string) {
	s.unhealthy.Store(!healthy)
	s.reason.Store(&reason)
}

// Health returns the target's health and why.
func (s *TargetState) Health() (healthy bool, reason string) {
	if r := s.reason.Load(); r != nil {
		reason = *r
	}
	return !s.unhealthy.Load(), reason
}

// InFlight is the number of attempts on the target now.
func (s *TargetState) InFlight() int64 { return s.inflight.Load() }

// SetObserver installs the passive health check's outcome hook.
func (s *TargetState) SetObserver(f func(*Target, Outcome)) { s.observer.Store(&f) }

// latencyTau is the decay time constant of the latency average.
const latencyTau = float64(10 * time.Second)

// observeLatency updates a peak-sensitive EWMA (Finagle's "peak EWMA"):
// a slower sample replaces the average at once, faster ones decay it with
// a 10 s time constant.
func (s *TargetState) observeLatency(d time.Duration) {
	now := clock.Now().UnixNano()
	sample := int64(d)
	prev := s.ewmaNanos.Load()
	last := s.lastNanos.Swap(now)
	if sample > prev || prev == 0 {
		s.ewmaNanos.Store(sample)
		return
	}
	w := math.Exp(-float64(now-last) / latencyTau)
	s.ewmaNanos.Store(int64(float64(prev)*w + float64(sample)*(1-w)))
}

// LatencyEWMA is the target's latency average (0 before any sample),
// decayed to now: a target that was slow once and then left alone drifts
// back towards 0, so the latency balancer tries it again instead of
// shunning it forever.
func (s *TargetState) LatencyEWMA() time.Duration { return s.LatencyEWMAAt(clock.Now().UnixNano()) }

// LatencyEWMAAt is LatencyEWMA at now (clock.Now's Unix nanoseconds), so a balancer
// comparing many targets reads the clock once. The decay is skipped for a
// target sampled less than a second ago, where it changes nothing that
// matters and would cost an exponential per target per pick.
func (s *TargetState) LatencyEWMAAt(now int64) time.Duration {
	v := s.ewmaNanos.Load()
	if v == 0 {
		return 0
	}
	idle := now - s.lastNanos.Load()
	if idle < int64(time.Second) {
		return time.Duration(v)
	}
	return time.Duration(float64(v) * math.Exp(-float64(idle)/latencyTau))
}

// PickRequest is what a balancer may look at to choose a target.
type PickRequest struct {
	// Prev is the target of the previous attempt of the same request (nil
	// on the first), which a retry should avoid when there is another.
	Prev *Target
	// Req is the client's request (headers, cookies, query for hashing).
	Req *http.Request
	// ClientIP, ConsumerID and Path (normalised) are hashing inputs.
	ClientIP   string
	ConsumerID string
	Path       string
	// Captures are the route's regex captures (positional, [0] = whole).
	Captures []string
	// CaptureNames are the capture group names (as regexp.SubexpNames).
	CaptureNames []string
	// SetCookie is filled by a cookie-hashing balancer when the client had
	// no cookie yet: the proxy adds it to the response.
	SetCookie *http.Cookie
}

// JoinHostPort is net.JoinHostPort for an int port.
func JoinHostPort(host string, port int) string {
	p := strconv.Itoa(port)
	for i := 0; i < len(host); i++ {
		if host[i] == ':' {
			return "[" + host + "]:" + p
		}
	}
	return host + ":" + p
}

// Balancer picks a target for one attempt. It is the seam for the other
// algorithms, health checks and circuit breakers: whatever wraps or
// replaces it only has to answer Pick.
type Balancer interface {
	// Pick returns the target for an attempt. Unhealthy targets are never
	// returned; with none healthy the error is ErrNoTarget.
	Pick(r *PickRequest) (*Target, error)
	// Targets lists the configured targets (for admin and health reports).
	Targets() []*Target
}

// Single is the balancer of a service that names a host directly.
type Single struct {
	T       *Target
	targets []*Target
}

// NewSingle makes the balancer of one target.
func NewSingle(t *Target) *Single { return &Single{T: t, targets: []*Target{t}} }

// Pick returns the one target (a service that names a host directly has
// no health checks, so it is always eligible).
func (s *Single) Pick(*PickRequest) (*Target, error) { return s.T, nil }

// Targets returns the one target.
func (s *Single) Targets() []*Target { return s.targets }

// RoundRobin is weighted round-robin over a precomputed smooth schedule
// (nginx's smooth weighted algorithm, unrolled once at build time) so a
// pick is one atomic add and an index, with no lock.
type RoundRobin struct {
	targets  []*Target
	schedule []*Target
	next     atomic.Uint64
}

// NewRoundRobin builds the schedule. Targets with weight 0 are disabled.
func NewRoundRobin(targets []*Target) *RoundRobin {
	rr := &RoundRobin{targets: targets}
	var active []*Target
	for _, t := range targets {
		if t.Weight > 0 {
			active = append(active, t)
		}
	}
	if len(active) == 0 {
		return rr
	}
	g := active[0].Weight
	for _, t := range active[1:] {
		g = gcd(g, t.Weight)
	}
	weights := make([]int, len(active))
	sum := 0
	for i, t := range active {
		weights[i] = t.Weight / g
		sum += weights[i]
	}
	const maxSchedule = 1 << 16
	if sum > maxSchedule {
		// Large co-prime weights: scale down, keeping every target in.
		scaled := 0
		for i := range weights {
			weights[i] = max(1, weights[i]*maxSchedule/sum)
			scaled += weights[i]
		}
		sum = scaled
	}
	current := make([]int, len(active))
	rr.schedule = make([]*Target, 0, sum)
	for range sum {
		best := 0
		for i := range active {
			current[i] += weights[i]
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= sum
		rr.schedule = append(rr.schedule, active[best])
	}
	return rr
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Pick returns the next healthy target in the schedule, skipping past the
// previous attempt's so that a retry lands elsewhere when it can.
func (rr *RoundRobin) Pick(r *PickRequest) (*Target, error) {
	n := uint64(len(rr.schedule))
	if n == 0 {
		return nil, ErrNoTarget
	}
	var prev *Target
	if r != nil {
		prev = r.Prev
	}
	i := rr.next.Add(1) - 1
	var fallback *Target
	for k := uint64(0); k < n; k++ {
		t := rr.schedule[(i+k)%n]
		if !t.Healthy() {
			continue
		}
		if t != prev {
			return t, nil
		}
		fallback = t
	}
	if fallback != nil {
		return fallback, nil
	}
	return nil, ErrNoTarget
}

// Targets lists the configured targets.
func (rr *RoundRobin) Targets() []*Target { return rr.targets }
