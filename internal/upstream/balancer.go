package upstream

import (
	"errors"
	"strconv"
	"sync/atomic"
)

// ErrNoTarget is returned when a balancer has no target to offer; the
// proxy answers 503 (Kong: "failure to get a peer from the ring-balancer").
var ErrNoTarget = errors.New("failure to get a peer from the ring-balancer")

// Target is one address a service's requests may go to.
type Target struct {
	Host   string
	Port   int
	Addr   string // host:port as dialled
	Weight int
	Pool   *Pool
}

// NewTarget builds a target with its dial address.
func NewTarget(host string, port, weight int, pool *Pool) *Target {
	return &Target{Host: host, Port: port, Addr: JoinHostPort(host, port), Weight: weight, Pool: pool}
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
	// Pick returns the target for an attempt. prev is the target of the
	// previous attempt of the same request (nil on the first), which a
	// retry should avoid when there is another.
	Pick(prev *Target) (*Target, error)
	// Targets lists the configured targets (for admin and health reports).
	Targets() []*Target
}

// Single is the balancer of a service that names a host directly.
type Single struct{ T *Target }

// Pick always returns the one target.
func (s *Single) Pick(*Target) (*Target, error) { return s.T, nil }

// Targets returns the one target.
func (s *Single) Targets() []*Target { return []*Target{s.T} }

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

// Pick returns the next target in the schedule, skipping ahead past prev
// so that a retry lands elsewhere when there is somewhere else.
func (rr *RoundRobin) Pick(prev *Target) (*Target, error) {
	n := uint64(len(rr.schedule))
	if n == 0 {
		return nil, ErrNoTarget
	}
	i := rr.next.Add(1) - 1
	t := rr.schedule[i%n]
	if t == prev {
		for k := uint64(1); k < n; k++ {
			if c := rr.schedule[(i+k)%n]; c != prev {
				return c, nil
			}
		}
	}
	return t, nil
}

// Targets lists the configured targets.
func (rr *RoundRobin) Targets() []*Target { return rr.targets }
