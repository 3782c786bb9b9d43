package snapshot

import (
	"crypto/tls"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

func (c *compiler) services() {
	c.servicesByEntry = map[*config.ServiceEntry]*Service{}
	c.snap.serviceByID = make(map[string]*Service, len(c.m.Services))
	if c.lease.Resolves() {
		c.lease.Resolve(dnsNames(c.m))
	}
	h2 := c.h2Transports()
	for _, se := range c.m.Services {
		if c.ctx.Err() != nil {
			return
		}
		svc := c.newService(se)
		if svc == nil {
			continue
		}
		s := se.Service
		var tlsConf *tls.Config
		if svc.Scheme == "https" && !svc.HTTP2 {
			tlsConf = c.upstreamTLS(se)
		}
		if svc.HTTP2 {
			svc.H2, svc.h2Key = h2.get(se, svc)
		}
		if se.Upstream != nil {
			b, ok := c.upstreamBalancer(se.Upstream, svc.Scheme, tlsConf)
			if !ok {
				continue
			}
			svc.Balancer = b
		} else {
			svc.Balancer = c.hostBalancer(s, svc.Scheme, tlsConf)
		}
		c.servicesByEntry[se] = svc
		c.snap.Services = append(c.snap.Services, svc)
		c.snap.serviceByID[svc.Info.ID] = svc
	}
}

// newService is a service without its balancer and transports; nil when
// its protocol is not one the HTTP proxy speaks.
func (c *compiler) newService(se *config.ServiceEntry) *Service {
	s := se.Service
	svc := &Service{
		Info: plugin.ServiceInfo{
			ID: se.ID, Name: s.Name, Protocol: s.Protocol,
			Host: s.Host, Port: s.Port, Path: s.Path, Entity: c.serviceEntity(se),
		},
		Path:           s.Path,
		ConnectTimeout: time.Duration(s.ConnectTimeout) * time.Millisecond,
		ReadTimeout:    time.Duration(s.ReadTimeout) * time.Millisecond,
		WriteTimeout:   time.Duration(s.WriteTimeout) * time.Millisecond,
		Retries:        s.Retries,
	}
	switch s.Protocol {
	case "http", "ws":
		svc.Scheme = "http"
	case "https", "wss":
		svc.Scheme = "https"
	case "grpc":
		svc.Scheme, svc.HTTP2 = "http", true
	case "grpcs":
		svc.Scheme, svc.HTTP2 = "https", true
	default:
		c.fail(se.Path+".protocol", "protocol '%s' is not supported by the HTTP proxy", s.Protocol)
		return nil
	}
	hostHeader := s.Host
	if se.Upstream != nil && se.Upstream.Upstream.HostHeader != "" {
		hostHeader = se.Upstream.Upstream.HostHeader
	}
	svc.HostHeader = hostWithPort(hostHeader, s.Port, svc.Scheme)
	return svc
}

// upstreamBalancer balances a service over its upstream's targets, gated
// by the upstream's health threshold; false when the upstream's algorithm
// cannot be built (the error is recorded).
func (c *compiler) upstreamBalancer(ue *config.UpstreamEntry, scheme string, tlsConf *tls.Config) (upstream.Balancer, bool) {
	u := ue.Upstream
	var targets []*upstream.Target
	for _, te := range ue.Targets {
		// A target named by DNS is one balancer entry per address (none
		// while the name does not resolve: Kong keeps such a target,
		// without addresses).
		eps, _ := c.expand(te.Host, te.Port, te.Target.Weight)
		for _, ep := range eps {
			addr := upstream.JoinHostPort(ep.host, ep.port)
			t := upstream.NewTarget(ep.host, ep.port, ep.weight, c.pool(scheme, addr, tlsConf))
			t.Origin = upstream.JoinHostPort(te.Host, te.Port)
			if st := c.lease.State(u.Name + "|" + addr); st != nil {
				t.State = st
			}
			targets = append(targets, t)
		}
	}
	b, err := upstream.NewBalancer(u.Algorithm, targets, upstream.HashConfig{
		Primary:    upstream.HashInput{On: u.HashOn, Name: hashInputName(u.HashOn, u.HashOnHeader, u.HashOnQueryArg, u.HashOnURICapture)},
		Fallback:   upstream.HashInput{On: u.HashFallback, Name: hashInputName(u.HashFallback, u.HashFallbackHeader, u.HashFallbackQueryArg, u.HashFallbackURICapture)},
		Cookie:     u.HashOnCookie,
		CookiePath: u.HashOnCookiePath,
		Slots:      u.Slots,
	})
	if err != nil {
		c.fail(ue.Path+".algorithm", "%v", err)
		return nil, false
	}
	return upstream.WithThreshold(b, c.lease.Gate(u.Name)), true
}

// hostBalancer balances a service that names its host directly. An IP (or
// any host when there is no resolver) is its one target. A DNS name is
// Kong's DNS-based load balancing: round-robin over the name's addresses,
// equal for A and AAAA records, by weight for SRV ones; while the name has
// no address every pick fails with upstream.ErrNameResolution.
func (c *compiler) hostBalancer(s *config.Service, scheme string, tlsConf *tls.Config) upstream.Balancer {
	eps, err := c.expand(s.Host, s.Port, 100)
	if len(eps) == 0 {
		return upstream.NewUnresolved(err)
	}
	targets := make([]*upstream.Target, len(eps))
	for i, ep := range eps {
		addr := upstream.JoinHostPort(ep.host, ep.port)
		targets[i] = upstream.NewTarget(ep.host, ep.port, ep.weight, c.pool(scheme, addr, tlsConf))
		targets[i].Origin = upstream.JoinHostPort(s.Host, s.Port)
	}
	if len(targets) == 1 {
		return upstream.NewSingle(targets[0])
	}
	return upstream.NewRoundRobin(targets)
}

// hashInputName picks, of Kong's per-kind hash fields (hash_on_header,
// hash_on_query_arg, hash_on_uri_capture or their fallback twins), the one
// the kind reads; the cookie name is passed on its own because Kong has a
// single hash_on_cookie for both inputs.
func hashInputName(kind, header, queryArg, uriCapture string) string {
	switch kind {
	case upstream.HashHeader:
		return header
	case upstream.HashQueryArg:
		return queryArg
	case upstream.HashURICapture:
		return uriCapture
	}
	return ""
}

func hostWithPort(host string, port int, scheme string) string {
	if (scheme == "http" && port == 80) || (scheme == "https" && port == 443) {
		return host
	}
	return upstream.JoinHostPort(host, port)
}
