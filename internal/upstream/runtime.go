package upstream

import (
	"crypto/tls"
	"sync"

	"github.com/turnpikegw/turnpike/internal/resolver"
)

// RuntimeParts are the registries a Runtime puts behind one door. Only
// Pools is required.
type RuntimeParts struct {
	Pools *Pools
	// States keeps target state (health, latency) across reloads; nil
	// gives every target fresh state.
	States *States
	// Health gates each upstream's balancers by its threshold and runs its
	// checks; nil: no gate, no checks (dry runs).
	Health *HealthCheckers
	// Resolver resolves DNS names of targets and service hosts from its
	// cache; nil dials names as they are (dry runs).
	Resolver *resolver.Resolver
}

// Runtime is the upstream state that outlives one compiled configuration:
// connection pools, target states, the health checkers with their
// upstream-wide gates, and the DNS names the resolver keeps fresh. A
// compile takes what it needs through a Lease (Acquire); once the new
// configuration is in force, Commit retires what the previous one held and
// the new one does not; after a failed compile, Abort drops what only
// that lease brought in, and the state in force is as it was.
//
// Abort relies on two rules: leases are used one at a time (the loader
// serialises compiles), and the registries hand out pools, states and
// gates only through a lease. After a Commit the registries hold only
// what is in force (the pools and states of the lease in force, the gates
// of the upstreams Sync gave a checker), so anything more was brought in
// by the one lease since, and retaining what is in force drops just that.
type Runtime struct {
	parts RuntimeParts
	mu    sync.Mutex
	// inForce is the last committed lease (nil before the first).
	inForce *Lease
}

// NewRuntime puts parts behind one Runtime.
func NewRuntime(parts RuntimeParts) *Runtime { return &Runtime{parts: parts} }

// Lease is what one compile took from a Runtime. Its methods are for the
// compiler, which is single-threaded; nothing here is on the request path.
type Lease struct {
	rt *Runtime
	// PoolKeys are the connection pools the lease holds.
	PoolKeys map[string]bool
	// StateKeys are the target states the lease holds.
	StateKeys map[string]bool
	names     []string
	checked   []CheckedUpstream
}

// Acquire starts a lease for one compile.
func (rt *Runtime) Acquire() *Lease {
	return &Lease{rt: rt, PoolKeys: map[string]bool{}, StateKeys: map[string]bool{}}
}

// Pool returns the shared pool for key (see Pools.Get), held by the lease.
func (l *Lease) Pool(key, addr string, tlsConfig *tls.Config) *Pool {
	l.PoolKeys[key] = true
	return l.rt.parts.Pools.Get(key, addr, tlsConfig)
}

// State returns the shared state of key (upstream name and target
// address), held by the lease; nil without a States registry.
func (l *Lease) State(key string) *TargetState {
	if l.rt.parts.States == nil {
		return nil
	}
	l.StateKeys[key] = true
	return l.rt.parts.States.Get(key)
}

// Gate returns the upstream-wide health of the upstream name (nil without
// health checkers: no gate).
func (l *Lease) Gate(name string) *UpstreamHealth {
	if l.rt.parts.Health == nil {
		return nil
	}
	return l.rt.parts.Health.Upstream(name)
}

// Resolves reports whether DNS names are resolved (else they are dialled as
// they are).
func (l *Lease) Resolves() bool { return l.rt.parts.Resolver != nil }

// Resolve asks for every DNS name the configuration uses at once, so a
// first load waits for one timeout at most; the lease holds them, and the
// resolver keeps them fresh once it is committed.
func (l *Lease) Resolve(names []string) {
	l.names = names
	l.rt.parts.Resolver.Resolve(names)
}

// Lookup returns the cached addresses of a name given to Resolve.
func (l *Lease) Lookup(name string) ([]resolver.Address, error) {
	return l.rt.parts.Resolver.Lookup(name)
}

// Check records an upstream for the health checkers, with the targets its
// balancers hold; Commit brings the checkers in line with them.
func (l *Lease) Check(cu CheckedUpstream) { l.checked = append(l.checked, cu) }

// Commit makes l the lease in force, once its configuration is: pools,
// states, gates and DNS names it does not hold are retired, and the health
// checkers are synced with its upstreams.
func (rt *Runtime) Commit(l *Lease) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.inForce = l
	p := rt.parts
	p.Pools.Retain(l.PoolKeys)
	if p.States != nil {
		p.States.Retain(l.StateKeys)
	}
	if p.Health != nil {
		p.Health.Sync(l.checked)
	}
	if p.Resolver != nil {
		p.Resolver.Retain(l.names)
	}
}

// Abort gives up the lease acquired since the last Commit (a failed
// compile): what it brought in that the lease in force does not hold is
// dropped, and nothing the lease in force holds is touched.
// It needs no lease: see Runtime for why retaining what is in force does
// exactly that.
func (rt *Runtime) Abort() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	cur := rt.inForce
	if cur == nil {
		cur = &Lease{}
	}
	p := rt.parts
	p.Pools.Retain(cur.PoolKeys)
	if p.States != nil {
		p.States.Retain(cur.StateKeys)
	}
	if p.Health != nil {
		p.Health.dropUncheckedGates()
	}
	if p.Resolver != nil {
		p.Resolver.Retain(cur.names)
	}
}
