package snapshot

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/router"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// Deps are what compiling needs besides the model.
type Deps struct {
	Registry *plugin.Registry
	Pools    *upstream.Pools
	// States keeps target state (health, latency) across reloads; nil
	// gives every target fresh state.
	States *upstream.States
	// Health gates each upstream's balancers by its threshold; nil: no
	// gate (dry runs).
	Health *upstream.HealthCheckers
	// Resolver resolves DNS names of targets and service hosts from its
	// cache (names it has not seen are looked up while compiling, bounded
	// by its timeout); nil dials names as they are (dry runs).
	Resolver *upstream.Resolver
	Env      plugin.Env
	// MaxResponseHeaderBytes bounds the response heads of HTTP/2 (gRPC)
	// upstreams, as the proxy bounds HTTP/1.1 ones (0: net/http's default).
	MaxResponseHeaderBytes int
	// Previous is the snapshot in force, whose plugin instances are kept
	// where nothing about them changed.
	Previous *Snapshot
}

// Compile turns a validated model into a snapshot. Plugin configs are
// decoded and validated here (config does not know the plugins), so the
// error is a config.Errors with field paths like the loader's.
func Compile(m *config.Model, d Deps) (*Snapshot, error) {
	return CompileContext(context.Background(), m, d)
}

// CompileContext is Compile that gives up, with config.Abandoned's error,
// once ctx is done.
func CompileContext(ctx context.Context, m *config.Model, d Deps) (*Snapshot, error) {
	c := &compiler{ctx: ctx, m: m, d: d, caKeys: map[*tls.Config]string{}, snap: &Snapshot{Hash: m.Hash, Summary: m.Summary(), PoolKeys: map[string]bool{}, StateKeys: map[string]bool{}, Model: m,
		instanceByKey: map[string]plugin.Instance{}, instanceByEntry: map[*config.PluginEntry]plugin.Instance{}}}
	c.snap.created = createdAt(m, d.Previous)
	c.caCertificates()
	c.services()
	c.routes()
	c.plugins()
	c.chains()
	c.certificates()
	c.clientCertificates()
	if err := config.Abandoned(ctx); err != nil {
		Release(c.snap, d.Previous)
		return nil, err
	}
	if c.errs.Len() > 0 {
		// Instances built for this attempt will never serve a request.
		Release(c.snap, d.Previous)
		return nil, m.Redact(c.errs.Errors())
	}
	var prevDir *Directory
	if d.Previous != nil {
		prevDir, _ = d.Previous.Directory.(*Directory)
	}
	c.snap.Directory = NewDirectory(m, time.Now(), prevDir, d.Registry.CredentialKinds())
	c.snap.Counts = Counts{
		Services: len(m.Services), Routes: len(m.Routes), Plugins: len(m.Plugins),
		Consumers: len(m.Consumers), Upstreams: len(m.Upstreams), Certificates: len(m.Certificates),
	}
	return c.snap, nil
}

type compiler struct {
	// ctx ends the loops over entities of an abandoned load.
	ctx  context.Context
	m    *config.Model
	d    Deps
	snap *Snapshot
	errs config.ErrorList
	// caKeys identifies the CA set of each upstream TLS config by the PEM
	// it was built from, for pool keys.
	caKeys map[*tls.Config]string
	// servicesByEntry maps model services to compiled ones.
	servicesByEntry map[*config.ServiceEntry]*Service
	// instances of every enabled plugin entry, by entry
	instances map[*config.PluginEntry]plugin.Instance
	regs      map[*config.PluginEntry]*plugin.Registration
}

// fail adds an error; once errors are only counted, it formats nothing.
func (c *compiler) fail(path, format string, args ...any) {
	msg := format
	if !c.errs.Full() {
		msg = fmt.Sprintf(format, args...)
	}
	c.errs.Add(config.FieldError{Path: path, Message: msg})
}

func (c *compiler) services() {
	c.servicesByEntry = map[*config.ServiceEntry]*Service{}
	if c.d.Resolver != nil {
		// Every name at once, so a first load waits for one timeout at
		// most; later loads find them cached.
		c.d.Resolver.Resolve(DNSNames(c.m))
	}
	// HTTP/2 transports by settings: this snapshot's, and the previous
	// one's, which are reused when a service's settings did not change.
	h2s, prevH2 := map[string]*http.Transport{}, map[string]*http.Transport{}
	if prev := c.d.Previous; prev != nil {
		for _, ps := range prev.Services {
			if ps.H2 != nil {
				prevH2[ps.h2Key] = ps.H2
			}
		}
	}
	for _, se := range c.m.Services {
		if c.ctx.Err() != nil {
			return
		}
		s := se.Service
		svc := &Service{
			Info: plugin.ServiceInfo{
				ID: config.ServiceID(se), Name: s.Name, Protocol: s.Protocol,
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
			continue
		}
		hostHeader := s.Host
		if se.Upstream != nil && se.Upstream.Upstream.HostHeader != "" {
			hostHeader = se.Upstream.Upstream.HostHeader
		}
		svc.HostHeader = hostWithPort(hostHeader, s.Port, svc.Scheme)
		var tlsConf *tls.Config
		if svc.Scheme == "https" && !svc.HTTP2 {
			tlsConf = c.upstreamTLS(se, s.Host)
		}
		if svc.HTTP2 {
			var h2TLS *tls.Config
			key := svc.Scheme + "|" + svc.ConnectTimeout.String() + "|" + svc.WriteTimeout.String()
			if svc.Scheme == "https" {
				h2TLS = c.upstreamTLS(se, s.Host)
				key += "|" + h2TLS.ServerName + "|" + strconv.FormatBool(h2TLS.InsecureSkipVerify)
				if h2TLS.RootCAs != nil {
					key += "|ca:" + c.caKeys[h2TLS]
				}
			}
			svc.h2Key = key
			switch tr := h2s[key]; {
			case tr != nil:
				svc.H2 = tr
			case prevH2[key] != nil:
				svc.H2 = prevH2[key]
			default:
				dialer := &net.Dialer{Timeout: svc.ConnectTimeout, KeepAlive: 30 * time.Second}
				tr = &http.Transport{
					DialContext:         dialer.DialContext,
					TLSClientConfig:     h2TLS,
					TLSHandshakeTimeout: svc.ConnectTimeout,
					MaxIdleConnsPerHost: 64,
					IdleConnTimeout:     60 * time.Second,
					DisableCompression:  true,
					HTTP2:               &http.HTTP2Config{WriteByteTimeout: svc.WriteTimeout},
					Protocols:           new(http.Protocols),
				}
				tr.MaxResponseHeaderBytes = int64(c.d.MaxResponseHeaderBytes)
				if h2TLS != nil {
					tr.Protocols.SetHTTP2(true)
				} else {
					tr.Protocols.SetUnencryptedHTTP2(true)
				}
				svc.H2 = tr
			}
			h2s[key] = svc.H2
		}
		if se.Upstream != nil {
			var targets []*upstream.Target
			for _, te := range se.Upstream.Targets {
				// A target named by DNS is one balancer entry per address
				// (none while the name does not resolve: Kong keeps such a
				// target, without addresses).
				eps, _ := c.expand(te.Host, te.Port, te.Target.Weight)
				for _, ep := range eps {
					addr := upstream.JoinHostPort(ep.host, ep.port)
					t := upstream.NewTarget(ep.host, ep.port, ep.weight, c.pool(svc.Scheme, addr, tlsConf))
					t.Origin = upstream.JoinHostPort(te.Host, te.Port)
					if c.d.States != nil {
						key := se.Upstream.Upstream.Name + "|" + addr
						t.State = c.d.States.Get(key)
						c.snap.StateKeys[key] = true
					}
					targets = append(targets, t)
				}
			}
			u := se.Upstream.Upstream
			b, err := upstream.NewBalancer(u.Algorithm, targets, upstream.HashConfig{
				Primary:    upstream.HashInput{On: u.HashOn, Name: hashInputName(u.HashOn, u.HashOnHeader, u.HashOnQueryArg, u.HashOnURICapture)},
				Fallback:   upstream.HashInput{On: u.HashFallback, Name: hashInputName(u.HashFallback, u.HashFallbackHeader, u.HashFallbackQueryArg, u.HashFallbackURICapture)},
				Cookie:     u.HashOnCookie,
				CookiePath: u.HashOnCookiePath,
				Slots:      u.Slots,
			})
			if err != nil {
				c.fail(se.Upstream.Path+".algorithm", "%v", err)
				continue
			}
			svc.Balancer = upstream.WithThreshold(b, c.d.Health.Upstream(u.Name))
		} else {
			svc.Balancer = c.hostBalancer(s, svc.Scheme, tlsConf)
		}
		c.servicesByEntry[se] = svc
		c.snap.Services = append(c.snap.Services, svc)
	}
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

// endpoint is an address a target or service host is dialled at.
type endpoint struct {
	host         string
	port, weight int
}

// expand returns where host is dialled: host itself when it is an IP or
// there is no resolver; else one endpoint per cached DNS address, with the
// port and weight of an SRV answer (a weight of 0 stays 0: the target is
// disabled), and none, with the reason, while the name has no address.
func (c *compiler) expand(host string, port, weight int) ([]endpoint, error) {
	if c.d.Resolver == nil || upstream.IsIPLiteral(host) {
		return []endpoint{{host: host, port: port, weight: weight}}, nil
	}
	addrs, err := c.d.Resolver.Lookup(host)
	eps := make([]endpoint, 0, len(addrs))
	for _, a := range addrs {
		ep := endpoint{host: a.IP.String(), port: port, weight: weight}
		if a.Port != 0 {
			ep.port = a.Port
		}
		if a.Weight != 0 && weight != 0 {
			ep.weight = a.Weight
		}
		eps = append(eps, ep)
	}
	return eps, err
}

// DNSNames are the host names of m that DNS resolves: the targets of
// upstreams a service is balanced over, and the hosts of services that
// name no upstream. IP addresses are not among them.
func DNSNames(m *config.Model) []string {
	seen := map[string]bool{}
	var names []string
	add := func(host string) {
		if host != "" && !seen[host] && !upstream.IsIPLiteral(host) {
			seen[host] = true
			names = append(names, host)
		}
	}
	for _, se := range m.Services {
		if se.Upstream == nil {
			add(se.Service.Host)
			continue
		}
		for _, te := range se.Upstream.Targets {
			add(te.Host)
		}
	}
	sort.Strings(names)
	return names
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

// upstreamTLS verifies upstream certificates unless the service turns it
// off with tls_verify: false (Kong leaves verification off by default;
// Turnpike is secure by default).
func (c *compiler) upstreamTLS(se *config.ServiceEntry, serverName string) *tls.Config {
	conf := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if v := se.Service.TLSVerify; v != nil && !*v {
		conf.InsecureSkipVerify = true
	}
	if len(se.Service.CACertificates) > 0 {
		pool := x509.NewCertPool()
		digest := sha1.New()
		for i, ref := range se.Service.CACertificates {
			found := false
			for _, ca := range c.m.CACerts {
				if ca.CACert.ID == ref {
					pool.AppendCertsFromPEM([]byte(ca.CACert.Cert))
					digest.Write([]byte(ca.CACert.Cert))
					found = true
				}
			}
			if !found {
				c.fail(se.Path+".ca_certificates["+strconv.Itoa(i)+"]", "ca_certificate '%s' not found", ref)
			}
		}
		conf.RootCAs = pool
		c.caKeys[conf] = hex.EncodeToString(digest.Sum(nil)[:12])
	}
	return conf
}

func (c *compiler) pool(scheme, addr string, tlsConf *tls.Config) *upstream.Pool {
	key := scheme + "://" + addr
	if tlsConf != nil {
		key += "|" + tlsConf.ServerName + "|" + strconv.FormatBool(tlsConf.InsecureSkipVerify)
		if tlsConf.RootCAs != nil {
			// Connections verified against one CA set must never serve a
			// service pinned to another, nor survive a CA rotation.
			key += "|ca:" + c.caKeys[tlsConf]
		}
	}
	c.snap.PoolKeys[key] = true
	return c.d.Pools.Get(key, addr, tlsConf)
}

func hostWithPort(host string, port int, scheme string) string {
	if (scheme == "http" && port == 80) || (scheme == "https" && port == 443) {
		return host
	}
	return upstream.JoinHostPort(host, port)
}

func (c *compiler) routes() {
	rr := make([]router.Route, len(c.m.Routes))
	for i, re := range c.m.Routes {
		if c.ctx.Err() != nil {
			return
		}
		r := re.Route
		route := &Route{
			Info: plugin.RouteInfo{
				ID: config.RouteID(re), Name: r.Name, Paths: r.Paths, Entity: c.routeEntity(re),
			},
			HTTPSRedirectStatus: r.HTTPSRedirectStatusCode,
			StripPath:           r.StripPathValue(),
			PreserveHost:        r.PreserveHost,
		}
		for _, p := range r.Protocols {
			switch p {
			case "http":
				route.HTTP = true
			case "https":
				route.HTTPS = true
			case "grpc":
				route.GRPC = true
			case "grpcs":
				route.GRPCS = true
			default:
				c.fail(re.Path+".protocols", "protocol '%s' is not supported by the HTTP proxy", p)
			}
		}
		if re.Service != nil {
			route.Service = c.servicesByEntry[re.Service]
		}
		c.snap.Routes = append(c.snap.Routes, route)
		if !RouteEnabled(re) {
			// Kong leaves the routes of a disabled service out of the
			// router. Here they stay routes without criteria, which never
			// match and keep the indexes of the others (config validation
			// has checked their criteria all the same).
			continue
		}
		headers := make([]router.Header, 0, len(r.Headers))
		names := make([]string, 0, len(r.Headers))
		for name := range r.Headers {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			headers = append(headers, router.Header{Name: name, Values: r.Headers[name]})
		}
		rr[i] = router.Route{
			ID:    route.Info.ID,
			Paths: r.Paths, Hosts: r.Hosts, Methods: r.Methods, Headers: headers,
			SNIs: r.SNIs, RegexPriority: r.RegexPriority,
		}
	}
	rt, err := router.New(rr)
	if err != nil {
		var ce *router.CompileError
		if errors.As(err, &ce) && ce.Route >= 0 && ce.Route < len(c.m.Routes) {
			path := c.m.Routes[ce.Route].Path + "." + ce.Field
			if ce.Index >= 0 {
				path += "[" + strconv.Itoa(ce.Index) + "]"
			}
			c.fail(path, "%s", ce.Msg)
		} else {
			c.fail("routes", "%v", err)
		}
		return
	}
	c.snap.Router = rt
}

// RouteEnabled reports whether a route takes part in routing: not when its
// service has `enabled: false` (Kong treats such routes as absent).
func RouteEnabled(re *config.RouteEntry) bool {
	return re.Service == nil || re.Service.Service.Enabled
}

func (c *compiler) chains() {
	if c.snap.Router == nil {
		return
	}
	consumerIDs := map[*config.ConsumerEntry]string{}
	for _, ce := range c.m.Consumers {
		consumerIDs[ce] = config.ConsumerID(ce.Consumer)
	}
	for i, re := range c.m.Routes {
		type pick struct {
			reg        *plugin.Registration
			base       plugin.Instance
			baseEntry  *config.PluginEntry
			baseRank   int
			byConsumer map[*config.ConsumerEntry]*config.PluginEntry
		}
		picks := map[string]*pick{}
		for _, pe := range c.m.Plugins {
			inst, ok := c.instances[pe]
			if !ok {
				continue
			}
			rk := rank(pe, re)
			if rk == rankNone {
				continue
			}
			p := picks[pe.Plugin.Name]
			if p == nil {
				p = &pick{reg: c.regs[pe], baseRank: rankNone}
				picks[pe.Plugin.Name] = p
			}
			if pe.Consumer == nil {
				if rk < p.baseRank {
					p.base, p.baseEntry, p.baseRank = inst, pe, rk
				}
				continue
			}
			if p.byConsumer == nil {
				p.byConsumer = map[*config.ConsumerEntry]*config.PluginEntry{}
			}
			if prev, ok := p.byConsumer[pe.Consumer]; !ok || rk < rank(prev, re) {
				p.byConsumer[pe.Consumer] = pe
			}
		}
		var steps []*Step
		var regs []*plugin.Registration
		for name, p := range picks {
			st := &Step{Name: name, Base: p.base}
			if p.baseEntry != nil {
				st.BaseScope, st.BaseSource = scopeName(rank(p.baseEntry, re)), p.baseEntry.Path
			}
			for ce, pe := range p.byConsumer {
				if rk := rank(pe, re); rk < p.baseRank {
					if st.ByConsumer == nil {
						st.ByConsumer = map[string]plugin.Instance{}
						st.ConsumerScopes = map[string]string{}
					}
					st.ByConsumer[consumerIDs[ce]] = c.instances[pe]
					st.ConsumerScopes[consumerIDs[ce]] = scopeName(rk) + " (" + pe.Path + ")"
				}
			}
			if st.Base == nil && st.ByConsumer == nil {
				continue
			}
			steps = append(steps, st)
			regs = append(regs, p.reg)
		}
		idx := make([]int, len(steps))
		for k := range idx {
			idx[k] = k
		}
		sort.Slice(idx, func(a, b int) bool {
			ra, rb := regs[idx[a]], regs[idx[b]]
			if ra.Priority != rb.Priority {
				return ra.Priority > rb.Priority
			}
			return ra.Name < rb.Name
		})
		chain := &Chain{}
		for _, k := range idx {
			st := steps[k]
			chain.Names = append(chain.Names, st.Name)
			sample := st.Base
			if sample == nil {
				for _, inst := range st.ByConsumer {
					sample = inst
					break
				}
			}
			if _, ok := sample.(plugin.Accessor); ok {
				chain.Access = append(chain.Access, *st)
			}
			if _, ok := sample.(plugin.HeaderFilter); ok {
				chain.Header = append(chain.Header, *st)
			}
			if _, ok := sample.(plugin.BodyFilter); ok {
				chain.Body = append(chain.Body, *st)
			}
			if _, ok := sample.(plugin.Logger); ok {
				chain.Log = append(chain.Log, *st)
			}
		}
		c.snap.Routes[i].Chain = chain
	}
}
