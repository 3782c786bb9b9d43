package upstream

import (
	"fmt"
	"sync/atomic"
)

// Algorithm names, as in Kong's upstream `algorithm`, plus
// power-of-two-choices, which Kong does not have.
const (
	AlgorithmRoundRobin        = "round-robin"
	AlgorithmConsistentHashing = "consistent-hashing"
	AlgorithmLeastConnections  = "least-connections"
	AlgorithmLatency           = "latency"
	AlgorithmPowerOfTwoChoices = "power-of-two-choices"
)

// NewBalancer builds the balancer an upstream's algorithm names; an empty
// name is round-robin (Kong's default). The hash settings are only read by
// consistent-hashing. It lives here rather than in the snapshot compiler so
// that the list of algorithms and the list of constructors cannot drift.
func NewBalancer(algorithm string, targets []*Target, h HashConfig) (Balancer, error) {
	switch algorithm {
	case "", AlgorithmRoundRobin:
		return NewRoundRobin(targets), nil
	case AlgorithmConsistentHashing:
		return NewConsistentHash(targets, h)
	case AlgorithmLeastConnections:
		return NewLeastConnections(targets), nil
	case AlgorithmLatency:
		return NewLatency(targets), nil
	case AlgorithmPowerOfTwoChoices:
		return NewPowerOfTwo(targets), nil
	}
	return nil, fmt.Errorf("unknown balancing algorithm %q", algorithm)
}

// enabled returns the targets with a weight above 0; weight 0 disables a
// target (Kong), so no balancer ever considers it.
func enabled(targets []*Target) []*Target {
	out := make([]*Target, 0, len(targets))
	for _, t := range targets {
		if t.Weight > 0 {
			out = append(out, t)
		}
	}
	return out
}

// prevOf is the previous attempt's target, nil on a first attempt (or a
// nil request, which tests and simple callers pass).
func prevOf(r *PickRequest) *Target {
	if r == nil {
		return nil
	}
	return r.Prev
}

// scanOrder hands the load-scanning balancers (least-connections, latency)
// the index to start their scan at. The scan keeps the first of equally
// loaded targets, so starting at the next entry of a smooth weighted
// round-robin schedule makes ties (an idle upstream above all) resolve by
// weight and in turn, as nginx's least_conn does, instead of piling onto
// the first target in the list.
type scanOrder struct {
	order []int32
	next  atomic.Uint64
}

func newScanOrder(active []*Target) *scanOrder {
	s := &scanOrder{}
	if len(active) == 0 {
		return s
	}
	index := make(map[*Target]int32, len(active))
	for i, t := range active {
		index[t] = int32(i)
	}
	for _, t := range NewRoundRobin(active).schedule {
		s.order = append(s.order, index[t])
	}
	return s
}

// start is the position in active where the next scan begins.
func (s *scanOrder) start() int {
	i := s.next.Add(1) - 1
	return int(s.order[i%uint64(len(s.order))])
}

// lessLoaded reports whether a carries less in-flight work per unit of
// weight than b, by cross-multiplying so that no division (and no float)
// is needed: inflight ≤ 2^31 and weight ≤ 65535 cannot overflow int64.
func lessLoaded(aInflight int64, aWeight int, bInflight int64, bWeight int) bool {
	return aInflight*int64(bWeight) < bInflight*int64(aWeight)
}

// leastLoaded scans every eligible target from start for the lowest
// in-flight count per weight, skipping prev while another is eligible.
// It is least-connections' pick and the fallback of power-of-two-choices
// when random draws keep hitting ineligible targets.
func leastLoaded(active []*Target, start int, prev *Target) (*Target, error) {
	n := len(active)
	var (
		best     *Target
		bestLoad int64
		prevOK   bool
	)
	for k := 0; k < n; k++ {
		i := start + k
		if i >= n {
			i -= n
		}
		t := active[i]
		if !t.Healthy() {
			continue
		}
		if t == prev {
			prevOK = true
			continue
		}
		load := t.State.InFlight()
		if best == nil || lessLoaded(load, t.Weight, bestLoad, best.Weight) {
			best, bestLoad = t, load
		}
	}
	switch {
	case best != nil:
		return best, nil
	case prevOK:
		return prev, nil
	}
	return nil, ErrNoTarget
}
