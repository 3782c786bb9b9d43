package snapshot

import (
	"crypto/tls"
	"sort"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/resolver"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// altKey names one alternate: a service sent to a plugin's target.
type altKey struct {
	svc *Service
	t   *plugin.Target
}

// retargets compiles the targets the plugins of each route may send its
// requests to (plugin.Retargeter) into Route.Targets: one Service per
// route service and target, a copy of the service with another balancer
// and Host. It runs after the chains are built and before the health
// checkers are told their upstreams, so an upstream only a plugin sends
// to is checked too.
func (c *compiler) retargets() {
	type want struct {
		se    *config.ServiceEntry
		route *Route
		t     *plugin.Target
	}
	var wants []want
	names := map[string]bool{}
	byName := map[string]*config.UpstreamEntry{}
	for _, ue := range c.m.Upstreams {
		byName[ue.Upstream.Name] = ue
	}
	for i, re := range c.m.Routes {
		if i >= len(c.snap.Routes) {
			return
		}
		route := c.snap.Routes[i]
		if route.Chain == nil || route.Service == nil || re.Service == nil {
			continue
		}
		for _, st := range route.Chain.Access {
			for _, inst := range stepInstances(&st) {
				r, ok := inst.(plugin.Retargeter)
				if !ok {
					continue
				}
				for _, t := range r.Targets() {
					wants = append(wants, want{re.Service, route, t})
					if ue := byName[t.Host]; ue != nil {
						// An upstream only a plugin sends to: its targets'
						// names are resolved as a service's would be.
						for _, te := range ue.Targets {
							if !resolver.IsIPLiteral(te.Host) {
								names[te.Host] = true
							}
						}
					} else if t.Host != "" && !resolver.IsIPLiteral(t.Host) {
						names[t.Host] = true
					}
				}
			}
		}
	}
	if len(wants) == 0 {
		return
	}
	if len(names) > 0 && c.lease.Resolves() {
		for _, n := range dnsNames(c.m) {
			names[n] = true
		}
		all := make([]string, 0, len(names))
		for n := range names {
			all = append(all, n)
		}
		sort.Strings(all)
		c.lease.Resolve(all)
	}
	built := map[altKey]*Service{}
	for _, w := range wants {
		k := altKey{w.route.Service, w.t}
		alt, ok := built[k]
		if !ok {
			alt = c.alternate(w.se, w.route.Service, w.t, byName)
			built[k] = alt
		}
		if alt == nil {
			continue
		}
		if w.route.Targets == nil {
			w.route.Targets = map[*plugin.Target]*Service{}
		}
		w.route.Targets[w.t] = alt
	}
}

// alternate is svc sent to t: the upstreams entity t names (its balancer,
// health and host_header), else t's host and port (the service's where t
// leaves them empty); the service's protocol, timeouts, retries and TLS
// settings, with the new host as the TLS server name. nil when the
// upstream's balancer cannot be built (the error is recorded).
func (c *compiler) alternate(se *config.ServiceEntry, svc *Service, t *plugin.Target, byName map[string]*config.UpstreamEntry) *Service {
	s := *se.Service
	if t.Host != "" {
		s.Host = t.Host
	}
	if t.Port != 0 {
		s.Port = t.Port
	}
	ase := *se
	ase.Service = &s
	ase.Upstream = byName[s.Host]
	alt := *svc
	hostHeader := s.Host
	if ase.Upstream != nil && ase.Upstream.Upstream.HostHeader != "" {
		hostHeader = ase.Upstream.Upstream.HostHeader
	}
	alt.HostHeader = hostWithPort(hostHeader, s.Port, alt.Scheme)
	var tlsConf *tls.Config
	if alt.Scheme == "https" && !alt.HTTP2 {
		tlsConf = c.upstreamTLS(&ase)
	}
	if ase.Upstream == nil {
		alt.Balancer = c.hostBalancer(&s, alt.Scheme, tlsConf)
		return &alt
	}
	b, ok := c.upstreamBalancer(ase.Upstream, alt.Scheme, tlsConf)
	if !ok {
		return nil
	}
	alt.Balancer = b
	if c.altTargets == nil {
		c.altTargets = map[*config.UpstreamEntry][]*upstream.Target{}
	}
	if _, ok := c.altTargets[ase.Upstream]; !ok {
		c.altTargets[ase.Upstream] = b.Targets()
	}
	return &alt
}

// Available reports whether the service's balancer may offer a target:
// its upstream is above its health threshold and a target is healthy.
func (s *Service) Available() bool {
	if h := upstream.UpstreamHealthOf(s.Balancer); h != nil {
		if ok, _ := h.Healthy(); !ok {
			return false
		}
	}
	for _, t := range s.Balancer.Targets() {
		if t.Healthy() {
			return true
		}
	}
	return false
}
