package upstream

import "testing"

func poolClosed(p *Pool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func newTestRuntime(t *testing.T) (*Runtime, *Pools, *States, *HealthCheckers) {
	t.Helper()
	pools := NewPools(DefaultPoolOptions)
	t.Cleanup(pools.Close)
	states := NewStates()
	health := NewHealthCheckers(HealthOptions{})
	t.Cleanup(health.Close)
	return NewRuntime(RuntimeParts{Pools: pools, States: states, Health: health}), pools, states, health
}

// lease takes, as a compile would, a pool and a state per address and the
// gate of upstream u, and records u for the health checkers.
func lease(rt *Runtime, u string, addrs ...string) (*Lease, map[string]*Pool, map[string]*TargetState) {
	l := rt.Acquire()
	pools, states := map[string]*Pool{}, map[string]*TargetState{}
	var targets []*Target
	for _, a := range addrs {
		pools[a] = l.Pool("http://"+a, a, nil)
		states[a] = l.State(u + "|" + a)
		tg := NewTarget(a, 80, 100, pools[a])
		tg.State = states[a]
		targets = append(targets, tg)
	}
	l.Gate(u)
	l.Check(CheckedUpstream{Name: u, Checks: kongHealthDefaults(), Targets: targets})
	return l, pools, states
}

// A failed compile (Abort) leaves what is in force as it was and drops
// only what it brought in; a commit retires what the new lease does not
// hold.
func TestRuntimeAbortAndCommit(t *testing.T) {
	rt, pools, states, health := newTestRuntime(t)
	first, p1, s1 := lease(rt, "u", "a", "b")
	rt.Commit(first)
	gate, checker := health.Upstream("u"), health.Checker("u")
	if checker == nil {
		t.Fatal("commit did not sync the health checkers")
	}

	failed, p2, s2 := lease(rt, "v", "a", "c")
	failed.State("u|a")
	rt.Abort()
	if p2["a"] != p1["a"] || poolClosed(p1["a"]) || poolClosed(p1["b"]) {
		t.Error("the abort closed a pool in force")
	}
	if pools.Get("http://a", "a", nil) != p1["a"] || pools.Get("http://b", "b", nil) != p1["b"] {
		t.Error("the abort forgot a pool in force")
	}
	if !poolClosed(p2["c"]) || pools.Get("http://c", "c", nil) == p2["c"] {
		t.Error("the pool only the failed compile used was kept")
	}
	if states.Get("u|a") != s1["a"] || states.Get("u|b") != s1["b"] {
		t.Error("the abort forgot a state in force")
	}
	if states.Get("v|c") == s2["c"] {
		t.Error("the state only the failed compile used was kept")
	}
	if health.Upstream("u") != gate || health.Checker("u") != checker {
		t.Error("the abort touched the health in force")
	}
	if _, ok := health.gates["v"]; ok {
		t.Error("the gate only the failed compile asked for was kept")
	}

	second, p3, s3 := lease(rt, "u", "a")
	rt.Commit(second)
	if p3["a"] != p1["a"] || poolClosed(p1["a"]) || s3["a"] != s1["a"] {
		t.Error("the commit replaced what the new lease still holds")
	}
	if !poolClosed(p1["b"]) || pools.Get("http://b", "b", nil) == p1["b"] {
		t.Error("the commit kept the pool the new lease no longer holds")
	}
	if states.Get("u|b") == s1["b"] {
		t.Error("the commit kept the state the new lease no longer holds")
	}
	if health.Checker("u") == checker || len(health.Checker("u").Targets()) != 1 {
		t.Error("the commit did not give the checker the new targets")
	}
}
