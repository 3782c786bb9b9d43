package snapshot

import (
	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// HealthCheckOf compiles Kong's healthchecks block into the options of the
// upstream's health checker (upstream does not read config). The leaf
// types convert as they are; the fields above them are copied by hand, and
// TestHealthCheckOfCarriesEveryField fails when config gains one that is
// not carried.
func HealthCheckOf(h *config.Healthchecks) upstream.HealthCheck {
	a, p := &h.Active, &h.Passive
	return upstream.HealthCheck{
		Threshold: h.Threshold,
		Active: upstream.ActiveHealthCheck{
			Type: a.Type, Timeout: a.Timeout, Concurrency: a.Concurrency,
			HTTPPath: a.HTTPPath, HTTPSSNI: a.HTTPSSNI, HTTPSVerifyCertificate: a.HTTPSVerifyCertificate,
			Headers:   a.Headers,
			Healthy:   upstream.ActiveHealthy(a.Healthy),
			Unhealthy: upstream.ActiveUnhealthy(a.Unhealthy),
		},
		Passive: upstream.PassiveHealthCheck{
			Type:      p.Type,
			Healthy:   upstream.PassiveHealthy(p.Healthy),
			Unhealthy: upstream.PassiveUnhealthy(p.Unhealthy),
		},
	}
}

// checkedUpstreams gives the lease every upstream with its checks and the
// targets its services' balancers hold (the first service's: they all
// hold the same addresses and states), for the health checkers; an
// upstream only a plugin sends to (retargets) gets its alternate's. An
// upstream nothing uses has no targets, so nothing of it is checked.
func (c *compiler) checkedUpstreams() {
	held := map[*config.UpstreamEntry][]*upstream.Target{}
	for _, se := range c.m.Services {
		svc := c.servicesByEntry[se]
		if se.Upstream == nil || svc == nil {
			continue
		}
		if _, ok := held[se.Upstream]; !ok {
			held[se.Upstream] = svc.Balancer.Targets()
		}
	}
	for ue, ts := range c.altTargets {
		if _, ok := held[ue]; !ok {
			held[ue] = ts
		}
	}
	for _, ue := range c.m.Upstreams {
		u := ue.Upstream
		cu := upstream.CheckedUpstream{Name: u.Name, Checks: HealthCheckOf(&u.Healthchecks),
			HostHeader: u.HostHeader, Targets: held[ue]}
		// Probes present the upstream's client certificate, not a
		// service's (an upstream may serve several), as Kong's do.
		if u.ClientCert != nil {
			cu.ClientCert, cu.ClientCertKey = c.clientCert(ue.Path+".client_certificate", u.ClientCert)
		}
		c.lease.Check(cu)
	}
}
