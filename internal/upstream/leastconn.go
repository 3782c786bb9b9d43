package upstream

// LeastConnections sends each attempt to the target with the fewest
// attempts in flight per unit of weight (nginx's least_conn: compare
// inflight/weight; on a tie, the weighted round-robin turn decides).
//
// A pick scans every enabled target with atomic loads and takes no lock:
// the in-flight counts live in TargetState and move with every Begin/End,
// so any index (a heap, a sorted list) would need a lock on the request
// path to stay true. The scan is O(targets); see BenchmarkPickLeastConnections,
// and power-of-two-choices for an O(1) alternative on very large upstreams.
type LeastConnections struct {
	targets []*Target
	active  []*Target
	order   *scanOrder
}

// NewLeastConnections builds the balancer. Targets with weight 0 are
// disabled.
func NewLeastConnections(targets []*Target) *LeastConnections {
	active := enabled(targets)
	return &LeastConnections{targets: targets, active: active, order: newScanOrder(active)}
}

// Pick returns the least-loaded healthy target, another than the previous
// attempt's when there is one.
func (lc *LeastConnections) Pick(r *PickRequest) (*Target, error) {
	if len(lc.active) == 0 {
		return nil, ErrNoTarget
	}
	return leastLoaded(lc.active, lc.order.start(), prevOf(r))
}

// Targets lists the configured targets.
func (lc *LeastConnections) Targets() []*Target { return lc.targets }
