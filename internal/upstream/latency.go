package upstream

import "github.com/turnpikegw/turnpike/internal/clock"

// Latency is Kong's `latency` algorithm: peak EWMA (Finagle, Linkerd). Each
// target costs (ewma+1) × (inflight+1) / weight, with ewma the peak-EWMA
// time to the response head in nanoseconds, and the cheapest wins.
//
// Multiplying by the attempts in flight makes a fast target that is
// already busy give way before its queue builds up, and the +1s keep an
// idle or unsampled target comparable. A target with no sample yet costs
// at most (inflight+1)/weight, far below any measured latency, so new
// targets are tried first and get a sample at once. Ties (an idle,
// unsampled upstream) follow the weighted round-robin turn.
type Latency struct {
	targets []*Target
	active  []*Target
	order   *scanOrder
}

// NewLatency builds the balancer. Targets with weight 0 are disabled.
func NewLatency(targets []*Target) *Latency {
	active := enabled(targets)
	return &Latency{targets: targets, active: active, order: newScanOrder(active)}
}

// Pick returns the healthy target with the lowest cost, another than the
// previous attempt's when there is one.
func (l *Latency) Pick(r *PickRequest) (*Target, error) {
	n := len(l.active)
	if n == 0 {
		return nil, ErrNoTarget
	}
	prev := prevOf(r)
	start := l.order.start()
	now := clock.Now().UnixNano()
	var (
		best     *Target
		bestCost float64
		prevOK   bool
	)
	for k := 0; k < n; k++ {
		i := start + k
		if i >= n {
			i -= n
		}
		t := l.active[i]
		if !t.Healthy() {
			continue
		}
		if t == prev {
			prevOK = true
			continue
		}
		cost := latencyCost(t, now)
		if best == nil || cost < bestCost {
			best, bestCost = t, cost
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

// latencyCost is (ewma+1)(inflight+1)/weight in float64: the product of a
// latency in nanoseconds and a count can exceed int64 in a pathological
// case, and the precision lost in a float does not change an ordering that
// matters.
func latencyCost(t *Target, now int64) float64 {
	ewma := float64(t.State.LatencyEWMAAt(now)) + 1
	return ewma * float64(t.State.InFlight()+1) / float64(t.Weight)
}

// Targets lists the configured targets.
func (l *Latency) Targets() []*Target { return l.targets }
