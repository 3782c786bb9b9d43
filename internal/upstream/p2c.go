package upstream

import "math/rand/v2"

// PowerOfTwo is power-of-two-choices (Mitzenmacher): draw two targets at
// random, in proportion to weight, and send the attempt to the one with
// fewer attempts in flight per unit of weight (the first drawn on a tie).
//
// It is an extension (Kong has no such algorithm). It gets most of
// least-connections' benefit at O(log targets) per pick, where
// least-connections scans every target, and since it only looks at two
// targets it does not herd every gateway node onto the same momentarily
// idle target. With nothing in flight the first draw wins, so an idle
// upstream is spread exactly by weight.
type PowerOfTwo struct {
	targets []*Target
	active  []*Target
	// cum[i] is the total weight of active[0..i]; a draw is a binary
	// search for a uniform number below the total.
	cum   []uint64
	total uint64
	order *scanOrder
}

// NewPowerOfTwo builds the balancer. Targets with weight 0 are disabled.
func NewPowerOfTwo(targets []*Target) *PowerOfTwo {
	active := enabled(targets)
	p := &PowerOfTwo{targets: targets, active: active, cum: make([]uint64, len(active)), order: newScanOrder(active)}
	for i, t := range active {
		p.total += uint64(t.Weight)
		p.cum[i] = p.total
	}
	return p
}

// draws is how many random draws a choice may take before the pick falls
// back to scanning: with most targets ineligible (unhealthy, or the one a
// retry avoids) random draws would keep missing.
const draws = 4

// Pick returns the less loaded of two weighted random eligible targets,
// avoiding the previous attempt's when another is eligible.
func (p *PowerOfTwo) Pick(r *PickRequest) (*Target, error) {
	n := len(p.active)
	if n == 0 {
		return nil, ErrNoTarget
	}
	prev := prevOf(r)
	if n == 1 {
		// No choice to make (and no draws to waste).
		if t := p.active[0]; t.Healthy() {
			return t, nil
		}
		return nil, ErrNoTarget
	}
	a := p.drawEligible(prev, nil)
	if a == nil {
		// Draws kept missing: scan, which also covers "only prev is left".
		return leastLoaded(p.active, p.order.start(), prev)
	}
	b := p.drawEligible(prev, a)
	if b == nil {
		return a, nil
	}
	if lessLoaded(b.State.InFlight(), b.Weight, a.State.InFlight(), a.Weight) {
		return b, nil
	}
	return a, nil
}

// drawEligible draws up to `draws` times for a healthy target other than
// prev and other. When every draw missed (few targets, so the first choice
// or prev keeps coming up; or most are down) it scans from a random place
// instead, so a second choice is found whenever one exists; nil then means
// there is none.
func (p *PowerOfTwo) drawEligible(prev, other *Target) *Target {
	for range draws {
		t := p.draw()
		if t != prev && t != other && t.Healthy() {
			return t
		}
	}
	if other == nil {
		// The first choice falls back to the caller's least-loaded scan.
		return nil
	}
	n := len(p.active)
	start := rand.IntN(n)
	for k := 0; k < n; k++ {
		i := start + k
		if i >= n {
			i -= n
		}
		if t := p.active[i]; t != prev && t != other && t.Healthy() {
			return t
		}
	}
	return nil
}

// draw picks one enabled target with probability weight/total.
func (p *PowerOfTwo) draw() *Target {
	x := rand.Uint64N(p.total)
	lo, hi := 0, len(p.cum)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if p.cum[mid] > x {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return p.active[lo]
}

// Targets lists the configured targets.
func (p *PowerOfTwo) Targets() []*Target { return p.targets }
