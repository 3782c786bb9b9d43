package istio

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// httpConv converts one VirtualService http route: a Kong service (its
// destinations), a Kong route per match, and the route's plugins.
type httpConv struct {
	c     *conv
	vs    *virtualService
	hr    *httpRoute
	field string
	hosts []string
	b     binding
	base  string
	index int
}

// hostLabels is a DNS name (or an IPv4 address): dot-separated labels of
// letters, digits and inner hyphens.
var hostLabels = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

func validHost(h string) bool { return len(h) <= 253 && hostLabels.MatchString(h) }

// maxWeight is Kong's largest target weight; weights are bounded before
// they are added, so that no sum overflows.
const maxWeight = 65535

// istioRetries is Istio's retry count when a route sets none.
const istioRetries = 2

func (r *httpConv) run() {
	ms := slices.DeleteFunc(r.matches(), func(m match) bool { return r.c.shadowed(r.vs, r.field, m) })
	if len(ms) == 0 {
		return
	}
	plugins, answers, ok := r.plugins()
	if !ok {
		return
	}
	groups := make([][]hostGroup, len(ms))
	open := false
	for j, m := range ms {
		groups[j] = r.hostGroups(m)
		open = open || slices.ContainsFunc(groups[j], func(g hostGroup) bool { return !g.auth.deny })
	}
	tags := r.vs.tags()
	var svc *importer.Service
	if !answers && open {
		if svc = r.service(); svc == nil {
			return
		}
	}
	for j, m := range ms {
		name := r.base
		if len(ms) > 1 {
			name += "." + strconv.Itoa(j)
			if m.name != "" {
				name = r.base + "." + importer.Slug(m.name)
			}
		}
		for _, g := range groups[j] {
			rt := r.route(m, g, name, plugins, svc != nil)
			rt.Tags = tags
			for _, p := range rt.Plugins {
				p.Tags = tags
			}
			if svc == nil {
				r.c.cfg.Routes = append(r.c.cfg.Routes, rt)
			} else {
				svc.Routes = append(svc.Routes, rt)
			}
		}
	}
}

// hostGroup are the hosts of a match that share a client certificate check.
type hostGroup struct {
	hosts []string
	auth  clientAuth
}

// hostGroups splits a match's hosts by the client certificate check of
// the servers that take them: each group becomes a route of its own.
func (r *httpConv) hostGroups(m match) []hostGroup {
	if len(m.hosts) == 0 {
		return []hostGroup{{auth: r.c.clientAuthFor(r.vs, r.b, "*")}}
	}
	var out []hostGroup
	for _, h := range m.hosts {
		a := r.c.clientAuthFor(r.vs, r.b, h)
		if i := slices.IndexFunc(out, func(g hostGroup) bool { return g.auth.same(a) }); i >= 0 {
			out[i].hosts = append(out[i].hosts, h)
		} else {
			out = append(out, hostGroup{hosts: []string{h}, auth: a})
		}
	}
	return out
}

// route is the Kong route of one match's host group.
func (r *httpConv) route(m match, g hostGroup, name string, plugins []*importer.Plugin, proxied bool) *importer.Route {
	rt := &importer.Route{
		Name:         r.c.cfg.UniqueName(importer.KindRoute, name),
		Hosts:        g.hosts,
		Paths:        m.paths,
		Methods:      m.methods,
		Headers:      m.headers,
		StripPath:    importer.Bool(false),
		PreserveHost: importer.Bool(r.hr.Rewrite == nil || r.hr.Rewrite.Authority == ""),
		Plugins:      plugins,
	}
	if strings.HasPrefix(m.paths[0], "~") {
		// Istio takes the first http route that matches; Kong orders
		// regex paths by regex_priority.
		rt.RegexPriority = importer.Int(len(r.vs.Spec.HTTP) - r.index)
	}
	if r.b.httpsOnly {
		rt.Fields = importer.Fields{"protocols": []any{"https"}, "https_redirect_status_code": 301}
	}
	switch {
	case g.auth.deny:
		rt.Plugins = []*importer.Plugin{importer.DenyAll()}
		return rt
	case len(g.auth.ids) > 0:
		// Istio verifies the certificate and passes no identity on, so
		// no consumer is looked up.
		rt.Plugins = append(slices.Clip(plugins), &importer.Plugin{Name: "mtls-auth", Config: map[string]any{
			"ca_certificates": importer.Anys(g.auth.ids), "skip_consumer_lookup": true}})
	}
	if rw := r.hr.Rewrite; rw != nil && rw.URI != "" && proxied {
		if m.prefix && !strings.HasPrefix(m.paths[0], "~") {
			rt.StripPath = importer.Bool(true)
		} else {
			rt.Plugins = withURI(rt.Plugins, rw.URI)
		}
	}
	return rt
}

// service builds the Kong service of the route's destinations: one
// destination is the service's host; several, or a DestinationRule, are
// an upstream with weighted targets.
func (r *httpConv) service() *importer.Service {
	if len(r.hr.Route) == 0 {
		r.c.ws.Add(r.vs.id(), r.field, "no route, redirect or fault abort: not imported")
		return nil
	}
	// Istio splits evenly when no destination has a weight; otherwise an
	// unweighted one gets none.
	weighted := slices.ContainsFunc(r.hr.Route, func(d destWeight) bool { return d.Weight != nil })
	weights := map[string]int{}
	var hosts []string
	port := 0
	for k, d := range r.hr.Route {
		f := fmt.Sprintf("%s.route[%d].destination", r.field, k)
		host, p := r.destination(d.Destination, f)
		if host == "" {
			r.c.ws.Add(r.vs.id(), f+".host", "not a host name: route not imported")
			return nil
		}
		target := host + ":" + strconv.Itoa(p)
		w := 100
		if d.Weight != nil {
			w = min(max(*d.Weight, 0), maxWeight)
		} else if weighted {
			w = 0
		}
		weights[target] = min(weights[target]+w, maxWeight)
		if !slices.Contains(hosts, host) {
			hosts = append(hosts, host)
		}
		port = p
		if d.Headers != nil {
			r.c.ws.Add(r.vs.id(), fmt.Sprintf("%s.route[%d].headers", r.field, k), "per-destination header rules are not imported")
		}
	}
	svc := &importer.Service{Name: r.c.cfg.UniqueName(importer.KindService, r.base), Protocol: "http", Fields: importer.Fields{}, Tags: r.vs.tags()}
	svc.Fields["retries"] = istioRetries
	r.retries(svc)
	rule := r.c.rule(hosts, r.vs, r.field)
	if len(weights) == 1 && rule == nil {
		svc.Host, svc.Port = hosts[0], port
	} else {
		up := &importer.Upstream{Name: svc.Name + ".upstream", Fields: importer.Fields{}, Tags: svc.Tags}
		for _, t := range slices.Sorted(maps.Keys(weights)) {
			up.Targets = append(up.Targets, importer.Target{Target: t, Weight: importer.Int(weights[t])})
		}
		svc.Host, svc.Port = up.Name, port
		if rule != nil {
			r.c.applyRule(rule, svc, up)
		}
		r.c.cfg.Upstreams = append(r.c.cfg.Upstreams, up)
	}
	if r.hr.Rewrite != nil && r.hr.Rewrite.URI != "" {
		svc.Path = r.hr.Rewrite.URI
	}
	r.c.cfg.Services = append(r.c.cfg.Services, svc)
	return svc
}

// destination resolves a destination's host and port; host is "" when
// it is no host name.
func (r *httpConv) destination(d destination, f string) (string, int) {
	host := fqdn(d.Host, r.vs.ns(), r.c.opts.ServiceDomain)
	if !validHost(host) {
		return "", 0
	}
	p := d.Port.Number
	if p < 0 || p > 65535 {
		return "", 0
	}
	if p == 0 {
		p = 80
		r.c.ws.Add(r.vs.id(), f+".port", "no port number (Istio takes the Service's only port, unknown here): 80 assumed")
	}
	if d.Subset != "" {
		r.c.ws.Add(r.vs.id(), f+".subset", "subset %q: pod labels cannot be resolved without a cluster, the traffic goes to every endpoint of %s", d.Subset, host)
	}
	return host, p
}

// retries maps retries and timeout. Kong's timeouts apply per attempt, as
// perTryTimeout does; an overall timeout without perTryTimeout becomes
// the per-attempt one (a request may then take retries+1 times longer).
// Kong retries connection failures and timeouts only.
func (r *httpConv) retries(svc *importer.Service) {
	per := ""
	if rt := r.hr.Retries; rt != nil {
		if rt.Attempts != nil {
			svc.Fields["retries"] = max(*rt.Attempts, 0)
		}
		per = rt.PerTryTimeout
		for _, kind := range strings.Split(rt.RetryOn, ",") {
			switch k := strings.TrimSpace(kind); k {
			case "", "connect-failure", "reset", "refused-stream", "reset-before-request":
			default:
				r.c.ws.Add(r.vs.id(), r.field+".retries.retryOn", "%q: Kong retries connection failures and timeouts only", k)
			}
		}
		if rt.RetryRemoteLocalities != nil {
			r.c.ws.Add(r.vs.id(), r.field+".retries.retryRemoteLocalities", "not imported")
		}
	}
	field := r.field + ".retries.perTryTimeout"
	if per == "" {
		per, field = r.hr.Timeout, r.field+".timeout"
	}
	if per == "" {
		return
	}
	ms, long, ok := millis(per)
	if !ok {
		r.c.ws.Add(r.vs.id(), field, "%q is not a duration: not imported", per)
		return
	}
	if long {
		r.c.ws.Add(r.vs.id(), field, "%s", longWarning(per))
	}
	if ms == 0 {
		return // Istio's 0s: no timeout; Kong's default stays
	}
	svc.Fields["read_timeout"] = ms
	svc.Fields["write_timeout"] = ms
	if r.hr.Timeout != "" && r.hr.Retries != nil && r.hr.Retries.PerTryTimeout != "" {
		r.c.ws.Add(r.vs.id(), r.field+".timeout", "Kong has no overall request timeout: perTryTimeout is used per attempt")
	}
}

// millis parses a protobuf/Go duration as milliseconds (a positive one
// is at least 1); long reports one past Kong's largest timeout, which ms
// then is.
func millis(s string) (ms int, long, ok bool) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, false, false
	}
	n := d.Milliseconds()
	if d > 0 && n == 0 {
		n = 1
	}
	return int(min(n, importer.MaxTimeout)), n > importer.MaxTimeout, true
}

// longWarning is the warning of a duration millis clamped.
func longWarning(s string) string {
	return fmt.Sprintf("%q is longer than Kong's longest timeout: %d ms", s, importer.MaxTimeout)
}
