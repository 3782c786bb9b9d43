package cli

import (
	"context"
	"sync"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/resolver"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/store"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// node is the gateway's plugin.Node: what the prometheus plugin reports
// of the node as a whole, read when /metrics is scraped. The proxy
// server and handler exist only once the first configuration compiled
// (which builds the plugin instances), so they are read through g.
type node struct {
	id    string
	g     *gateway
	store *store.Provider
	// datastore is the last datastore check, shared by the scrapes of the
	// next datastoreTTL.
	datastore datastoreCheck
}

// datastoreTTL is how long a datastore check answers for: /metrics can be
// scraped without a token (--status-listen), so scrapes, however many,
// cost Redis at most one PING per client per datastoreTTL.
const datastoreTTL = time.Second

// datastoreCheck is the result of the last check and, while one runs,
// the channel closed when it ends; mu guards all three.
type datastoreCheck struct {
	mu      sync.Mutex
	ok      bool
	until   time.Time
	running chan struct{}
}

var _ plugin.Node = (*node)(nil)

func (n *node) ID() string      { return n.id }
func (n *node) Version() string { return Version }

// Connections maps the proxy server's counts onto NGINX's: a connection
// with a request in progress is writing (net/http reads a request head
// before the gateway sees it, so none is reading), an open one without
// is waiting.
func (n *node) Connections() plugin.Connections {
	var c plugin.Connections
	if h := n.g.handler; h != nil {
		c.Requests = h.Requests()
	}
	p := n.g.proxy
	if p == nil {
		return c
	}
	c.Accepted = p.Stats.Accepted.Load()
	c.Handled = c.Accepted
	active, busy := max(p.Stats.Active.Load(), 0), max(p.Stats.Busy.Load(), 0)
	busy = min(busy, active)
	c.Active, c.Writing, c.Waiting = uint64(active), uint64(busy), uint64(active-busy)
	return c
}

// DatastoreReachable is 1 for a DB-less node, as in Kong, unless plugins
// share a Redis (rate limits): then whether every one answered the
// latest check. A check answers for datastoreTTL; a caller that comes
// while one runs waits for its result (or its own ctx) rather than
// starting another.
func (n *node) DatastoreReachable(ctx context.Context) bool {
	if n.store == nil || n.store.Redis == nil {
		return true
	}
	d := &n.datastore
	for {
		d.mu.Lock()
		if time.Now().Before(d.until) {
			ok := d.ok
			d.mu.Unlock()
			return ok
		}
		if wait := d.running; wait != nil {
			d.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return false
			}
		}
		done := make(chan struct{})
		d.running = done
		d.mu.Unlock()
		ok := n.store.Redis.Reachable(ctx)
		d.mu.Lock()
		d.ok, d.until, d.running = ok, time.Now().Add(datastoreTTL), nil
		d.mu.Unlock()
		close(done)
		return ok
	}
}

// Targets reports every address of every upstream's targets as the
// admin API's /upstreams/{id}/health does: healthchecks_off when the
// upstream has no checks, else the address's health; a name without
// addresses is a dns_error. The addresses are those the services'
// balancers hold; an upstream no service uses has no balancer, so only
// its IP targets are reported, at their configured address.
func (n *node) Targets() []plugin.TargetHealth {
	snap := n.g.holder.Load()
	if snap == nil || snap.Model == nil {
		return nil
	}
	var out []plugin.TargetHealth
	for _, ue := range snap.Model.Upstreams {
		byOrigin, live := liveTargets(snap, ue)
		hc := snapshot.HealthCheckOf(&ue.Upstream.Healthchecks)
		checks := hc.Enabled()
		for _, te := range ue.Targets {
			origin := upstream.JoinHostPort(te.Host, te.Port)
			th := plugin.TargetHealth{Upstream: ue.Upstream.Name, Target: origin}
			addrs := byOrigin[origin]
			isName := !resolver.IsIPLiteral(te.Host)
			switch {
			case !live && isName:
				continue
			case !live:
				th.Address, th.State = origin, plugin.TargetHealthy
				if !checks {
					th.State = plugin.TargetHealthchecksOff
				}
				out = append(out, th)
				continue
			case len(addrs) == 0:
				th.State = plugin.TargetDNSError
				out = append(out, th)
				continue
			}
			for _, t := range addrs {
				th.Address, th.State = t.Addr, plugin.TargetHealthchecksOff
				if checks {
					th.State = plugin.TargetHealthy
					if ok, _ := t.State.Health(); !ok {
						th.State = plugin.TargetUnhealthy
					}
				}
				out = append(out, th)
			}
		}
	}
	return out
}

// liveTargets are the addresses the balancer of a service over ue holds,
// by the configured target they come from; live is false when no
// service is balanced over ue.
func liveTargets(snap *snapshot.Snapshot, ue *config.UpstreamEntry) (byOrigin map[string][]*upstream.Target, live bool) {
	if len(snap.Services) != len(snap.Model.Services) {
		return nil, false
	}
	for i, se := range snap.Model.Services {
		if se.Upstream != ue || snap.Services[i].Balancer == nil {
			continue
		}
		byOrigin = map[string][]*upstream.Target{}
		for _, t := range snap.Services[i].Balancer.Targets() {
			byOrigin[t.Origin] = append(byOrigin[t.Origin], t)
		}
		return byOrigin, true
	}
	return nil, false
}
