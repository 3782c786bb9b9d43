package ingress

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	netv1 "k8s.io/api/networking/v1"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// canary is a canary Ingress's backend for one host and path of the main
// Ingress (ingress-nginx pairs them by host and path).
type canary struct {
	in      *netv1.Ingress
	field   string
	backend netv1.IngressBackend
	weight  int // of 100; -1 when canary-weight is not set
	header  string
	value   string
	used    bool
}

var canaryAnnotations = map[string]bool{"canary": true, "canary-weight": true, "canary-weight-total": true,
	"canary-by-header": true, "canary-by-header-value": true}

func canaryKey(ns, host string, p netv1.HTTPIngressPath) string {
	pt := ""
	if p.PathType != nil {
		pt = string(*p.PathType)
	}
	return ns + "|" + host + "|" + p.Path + "|" + pt
}

func (c *converter) canaries(ins []*netv1.Ingress) map[string]*canary {
	out := map[string]*canary{}
	for _, in := range ins {
		obj := objName(in)
		a := func(n string) string { return in.Annotations[nginxPrefix+n] }
		w := -1
		if v := a("canary-weight"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 100 {
				c.ws.Add(obj, nginxPrefix+"canary-weight", "%q is not a number from 0 to 100: canary skipped", v)
				continue
			}
			w = n
		}
		if a("canary-weight-total") != "" && a("canary-weight-total") != "100" {
			c.ws.Add(obj, nginxPrefix+"canary-weight-total", "only 100 is imported: canary skipped")
			continue
		}
		for _, full := range slices.Sorted(maps.Keys(in.Annotations)) {
			switch name, ok := strings.CutPrefix(full, nginxPrefix); {
			case !ok, canaryAnnotations[name]:
			case name == "canary-by-cookie" || name == "canary-by-header-pattern":
				c.ws.Add(obj, full, "not imported: the canary gets its weight and header only")
			default:
				c.ws.Add(obj, full, "ingress-nginx ignores the other annotations of a canary Ingress: ignored")
			}
		}
		for i, rule := range in.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for j, p := range rule.HTTP.Paths {
				out[canaryKey(in.Namespace, rule.Host, p)] = &canary{in: in, field: fmt.Sprintf("spec.rules[%d].http.paths[%d].backend", i, j),
					backend: p.Backend, weight: w, header: a("canary-by-header"), value: a("canary-by-header-value")}
			}
		}
	}
	return out
}

// applyCanary sends the canary's share of route r's traffic to the
// canary's backend: the weight through an upstream with both targets,
// behind a service of r's own (the main service may carry other hosts'
// and paths' routes, and other canaries, whose weights must not mix),
// the header through a route of its own matching it.
func (c *converter) applyCanary(cn *canary, main *importer.Service, r *importer.Route) {
	obj := objName(cn.in)
	if cn.weight >= 0 && !cn.used {
		if cn.backend.Service == nil {
			c.ws.Add(obj, cn.field, "no service: canary skipped")
			return
		}
		port, ok := c.port(cn.in.Namespace, obj, cn.field, cn.backend.Service)
		if !ok {
			return
		}
		u := c.upstream(c.ownService(main, r))
		u.Targets[0].Weight = importer.Int(100 - cn.weight)
		u.Targets = append(u.Targets, importer.Target{
			Target: fmt.Sprintf("%s.%s.%s:%d", cn.backend.Service.Name, cn.in.Namespace, c.opts.ServiceDomain, port),
			Weight: importer.Int(cn.weight)})
	}
	cn.used = true
	if cn.header == "" {
		return
	}
	svc := c.service(cn.in, cn.field, cn.backend, svcSettings{})
	if svc == nil {
		return
	}
	value := "always"
	if cn.value != "" {
		value = cn.value
	}
	hr := *r
	hr.Name = c.cfg.UniqueName(importer.KindRoute, r.Name+".canary")
	hr.Headers = map[string][]string{}
	for k, v := range r.Headers {
		if strings.EqualFold(k, cn.header) {
			// The canary's value must win, or the canary route matches
			// only what the main route does and never takes traffic.
			c.ws.Add(obj, nginxPrefix+"canary-by-header", "the main route also matches %s (%s): the canary route matches %q only", k, strings.Join(v, ", "), value)
			continue
		}
		hr.Headers[k] = v
	}
	hr.Headers[cn.header] = []string{value}
	svc.Routes = append(svc.Routes, &hr)
}

// ownService moves route r out of main into a copy of main of its own,
// named after r, and returns it; an upstream main is behind (hashing) is
// copied too, so the copy's targets are its own.
func (c *converter) ownService(main *importer.Service, r *importer.Route) *importer.Service {
	own := *main
	own.Name = c.cfg.UniqueName(importer.KindService, r.Name)
	own.Fields = maps.Clone(main.Fields)
	own.Plugins = slices.Clone(main.Plugins)
	own.Routes = []*importer.Route{r}
	main.Routes = slices.DeleteFunc(main.Routes, func(x *importer.Route) bool { return x == r })
	for _, u := range c.cfg.Upstreams {
		if u.Name == main.Host {
			cp := *u
			cp.Name = c.cfg.UniqueName(importer.KindUpstream, own.Name+".upstream")
			cp.Fields = maps.Clone(u.Fields)
			cp.Targets = slices.Clone(u.Targets[:1])
			c.cfg.Upstreams = append(c.cfg.Upstreams, &cp)
			own.Host = cp.Name
			break
		}
	}
	c.cfg.Services = append(c.cfg.Services, &own)
	c.emptied = append(c.emptied, main)
	return &own
}

// pruneEmptied drops the services that lost every route to ownService
// and gained none after, with the upstreams only they used.
func (c *converter) pruneEmptied() {
	for _, s := range c.emptied {
		if len(s.Routes) > 0 || !slices.Contains(c.cfg.Services, s) {
			continue
		}
		c.cfg.Services = slices.DeleteFunc(c.cfg.Services, func(x *importer.Service) bool { return x == s })
		if !slices.ContainsFunc(c.cfg.Services, func(x *importer.Service) bool { return x.Host == s.Host }) {
			c.cfg.Upstreams = slices.DeleteFunc(c.cfg.Upstreams, func(u *importer.Upstream) bool { return u.Name == s.Host })
		}
	}
}
