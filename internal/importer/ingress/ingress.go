// Package ingress imports Kubernetes networking.k8s.io/v1 Ingresses, with
// their NGINX (nginx.ingress.kubernetes.io/*) and Kong (konghq.com/*)
// annotations, the Services, TLS and htpasswd Secrets they name, and
// Kong's KongPlugin, KongClusterPlugin and KongConsumer resources.
//
// The work is split in two: decode (documents to typed objects) and
// convert (objects to a Config), so that a controller can run convert on
// its informers' caches.
package ingress

import (
	"crypto/tls"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	netv1 "k8s.io/api/networking/v1"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// Options are `turnpike import ingress`'s flags.
type Options struct {
	// ServiceDomain follows NAME.NAMESPACE. in upstream hosts ("svc").
	ServiceDomain string
	// IngressClass, when set, is the only class imported.
	IngressClass string
}

// Import converts the Kubernetes objects in docs into cfg.
func Import(docs []importer.Document, opts Options, cfg *importer.Config, ws *importer.Warnings) error {
	o, err := decode(docs, ws)
	if err != nil {
		return err
	}
	if opts.ServiceDomain == "" {
		opts.ServiceDomain = "svc"
	}
	c := &converter{opts: opts, o: o, cfg: cfg, ws: ws, services: map[string]*importer.Service{},
		certs: map[string]*importer.Certificate{}, snis: map[string]string{}, authGroups: map[string]bool{},
		basicUsers: map[string]string{}}
	c.convert()
	return nil
}

type converter struct {
	opts     Options
	o        *objects
	cfg      *importer.Config
	ws       *importer.Warnings
	services map[string]*importer.Service // by backend and service settings
	certs    map[string]*importer.Certificate
	snis     map[string]string // SNI -> the secret that serves it
	// authGroups are the htpasswd Secrets already turned into consumers;
	// basicUsers the basic-auth usernames taken, by the secret that has them.
	authGroups map[string]bool
	basicUsers map[string]string
	// emptied are services a weighted canary took a route from.
	emptied []*importer.Service
}

func (c *converter) convert() {
	var canaries []*netv1.Ingress
	var mains []*netv1.Ingress
	for _, in := range c.o.ingresses {
		if !c.classMatches(in) {
			continue
		}
		if in.Annotations[nginxPrefix+"canary"] == "true" {
			canaries = append(canaries, in)
		} else {
			mains = append(mains, in)
		}
	}
	cans := c.canaries(canaries)
	for _, in := range mains {
		c.ingress(in, cans)
	}
	for _, k := range slices.Sorted(maps.Keys(cans)) {
		if cn := cans[k]; !cn.used {
			c.ws.Add(objName(cn.in), cn.field, "no other Ingress routes this host and path: canary skipped")
		}
	}
	c.pruneEmptied()
	c.consumers()
	for _, name := range slices.Sorted(maps.Keys(c.o.clusterPlugins)) {
		// KIC applies a KongClusterPlugin labelled global to every request.
		if kp := c.o.clusterPlugins[name]; kp.Labels["global"] == "true" {
			if p := c.plugin(kp, ""); p != nil {
				c.cfg.Plugins = append(c.cfg.Plugins, p)
			}
		}
	}
}

func objName(in *netv1.Ingress) string { return "Ingress " + in.Namespace + "/" + in.Name }

func ingressClass(in *netv1.Ingress) string {
	if in.Spec.IngressClassName != nil {
		return *in.Spec.IngressClassName
	}
	return in.Annotations["kubernetes.io/ingress.class"]
}

func (c *converter) classMatches(in *netv1.Ingress) bool {
	if c.opts.IngressClass == "" {
		return true
	}
	if cl := ingressClass(in); cl != c.opts.IngressClass {
		c.ws.Add(objName(in), "spec.ingressClassName", "class %q is not %q: skipped", cl, c.opts.IngressClass)
		return false
	}
	return true
}

// ingress adds the routes of one Ingress, with its annotations applied.
func (c *converter) ingress(in *netv1.Ingress, cans map[string]*canary) {
	obj := objName(in)
	s := c.settings(in)
	tags := tagsOf(in.TypeMeta, in.ObjectMeta)
	for _, p := range s.tmpl.Plugins {
		if p.Tags == nil {
			p.Tags = tags // made by the Ingress's annotations
		}
	}
	tlsHosts := c.tls(in)
	n := 0
	addPath := func(host, field string, p netv1.HTTPIngressPath) {
		paths, ok := c.paths(obj, field, p, s)
		if !ok {
			return
		}
		svc := c.service(in, field+".backend", p.Backend, s.svc)
		if svc == nil {
			return
		}
		r := s.route(c.cfg.UniqueName(importer.KindRoute, in.Namespace+"."+in.Name+"."+strconv.Itoa(n)))
		n++
		r.Tags = tags
		r.Paths = paths
		if host != "" {
			r.Hosts = []string{host}
		}
		if s.redirect(host, tlsHosts) {
			r.Fields["protocols"] = []any{"https"}
			if _, set := r.Fields["https_redirect_status_code"]; !set {
				r.Fields["https_redirect_status_code"] = 308
			}
		}
		svc.Routes = append(svc.Routes, r)
		if cn := cans[canaryKey(in.Namespace, host, p)]; cn != nil {
			c.applyCanary(cn, svc, r)
		}
	}
	for i, rule := range in.Spec.Rules {
		field := fmt.Sprintf("spec.rules[%d]", i)
		if rule.HTTP == nil {
			c.ws.Add(obj, field, "no http paths: nothing routed")
			continue
		}
		for j, p := range rule.HTTP.Paths {
			addPath(rule.Host, fmt.Sprintf("%s.http.paths[%d]", field, j), p)
		}
	}
	if b := in.Spec.DefaultBackend; b != nil {
		pt := netv1.PathTypeImplementationSpecific
		addPath("", "spec.defaultBackend", netv1.HTTPIngressPath{Path: "/", PathType: &pt, Backend: *b})
	}
}

var regexMeta = regexp.MustCompile(`[.+*?()|\[\]{}^$\\]`)

// paths are Kong's paths for an Ingress path, as the controllers read
// pathType: Exact is the path and nothing more, Prefix matches whole
// segments (the path itself or anything under path/),
// ImplementationSpecific is a plain prefix; a regex under NGINX's
// use-regex or rewrite-target.
func (c *converter) paths(obj, field string, p netv1.HTTPIngressPath, s *settings) ([]string, bool) {
	path := p.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		c.ws.Add(obj, field+".path", "%q does not start with /: path skipped", path)
		return nil, false
	}
	pt := netv1.PathTypeImplementationSpecific
	if p.PathType != nil {
		pt = *p.PathType
	}
	if s.regex {
		if pt == netv1.PathTypeExact {
			path += "$"
		}
		// The router compiles regex paths with Go's RE2 syntax: PCRE's
		// lookarounds and backreferences, which NGINX accepts, do not.
		if _, err := regexp.Compile("^(?:" + path + ")"); err != nil {
			c.ws.Add(obj, field+".path", "%q is not a regular expression the router takes (%v): path skipped", path, err)
			return nil, false
		}
		return []string{"~" + path}, true
	}
	switch pt {
	case netv1.PathTypeExact:
		return []string{"~" + regexMeta.ReplaceAllStringFunc(path, func(m string) string { return `\` + m }) + "$"}, true
	case netv1.PathTypePrefix:
		base := strings.Trim(path, "/")
		if base == "" {
			return []string{"/"}, true
		}
		quoted := regexMeta.ReplaceAllStringFunc(base, func(m string) string { return `\` + m })
		return []string{"~/" + quoted + "$", "/" + base + "/"}, true
	case netv1.PathTypeImplementationSpecific:
		if re, ok := strings.CutPrefix(path, "/~"); ok {
			// Kong's controller reads an ImplementationSpecific path
			// starting with /~ as a regex.
			s2 := *s
			s2.regex = true
			return c.paths(obj, field, netv1.HTTPIngressPath{Path: re, PathType: p.PathType}, &s2)
		}
		return []string{path}, true
	}
	c.ws.Add(obj, field+".pathType", "%q is not Exact, Prefix or ImplementationSpecific: path skipped", pt)
	return nil, false
}

// service finds or adds the Kong service for a backend: one per backend
// Service, port and service-level settings (timeouts, protocol...).
func (c *converter) service(in *netv1.Ingress, field string, b netv1.IngressBackend, ss svcSettings) *importer.Service {
	obj := objName(in)
	if b.Resource != nil {
		c.ws.Add(obj, field+".resource", "resource backends (%s) are not imported: path skipped", b.Resource.Kind)
		return nil
	}
	if b.Service == nil {
		c.ws.Add(obj, field, "no service: path skipped")
		return nil
	}
	port, ok := c.port(in.Namespace, obj, field, b.Service)
	if !ok {
		return nil
	}
	k := key(in.Namespace, b.Service.Name) + ":" + strconv.Itoa(port) + "|" + ss.key()
	if s := c.services[k]; s != nil {
		return s
	}
	base := in.Namespace + "." + b.Service.Name + "." + strconv.Itoa(port)
	host := b.Service.Name + "." + in.Namespace + "." + c.opts.ServiceDomain
	s := &importer.Service{Name: c.cfg.UniqueName(importer.KindService, base), Protocol: "http", Host: host, Port: port, Fields: importer.Fields{},
		Tags: c.serviceTags(in.Namespace, b.Service.Name)}
	c.serviceAnnotations(s, in.Namespace, b.Service.Name)
	ss.apply(c, s)
	c.services[k] = s
	c.cfg.Services = append(c.cfg.Services, s)
	return s
}

// port is the backend's port number; a named port is looked up in the
// Service's ports, which must then be in the input.
func (c *converter) port(ns, obj, field string, b *netv1.IngressServiceBackend) (int, bool) {
	if b.Port.Name == "" {
		if b.Port.Number <= 0 {
			c.ws.Add(obj, field+".service.port", "no port number or name: path skipped")
			return 0, false
		}
		return int(b.Port.Number), true
	}
	svc := c.o.services[key(ns, b.Name)]
	if svc == nil {
		c.ws.Add(obj, field+".service.port.name", "port %q of Service %s/%s: the Service is not in the input: path skipped", b.Port.Name, ns, b.Name)
		return 0, false
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == b.Port.Name {
			return int(p.Port), true
		}
	}
	c.ws.Add(obj, field+".service.port.name", "Service %s/%s has no port named %q: path skipped", ns, b.Name, b.Port.Name)
	return 0, false
}

// tls turns the Ingress's TLS sections into certificates and returns the
// hosts they cover. A Secret serving several Ingresses is one certificate.
func (c *converter) tls(in *netv1.Ingress) map[string]bool {
	obj := objName(in)
	hosts := map[string]bool{}
	for i, t := range in.Spec.TLS {
		field := fmt.Sprintf("spec.tls[%d]", i)
		for _, h := range t.Hosts {
			hosts[h] = true
		}
		if t.SecretName == "" {
			c.ws.Add(obj, field+".secretName", "no secret: the hosts get the gateway's default certificate")
			continue
		}
		k := key(in.Namespace, t.SecretName)
		sec := c.o.secrets[k]
		if sec == nil {
			c.ws.Add(obj, field+".secretName", "Secret %s is not in the input: no certificate for %s", k, strings.Join(t.Hosts, ", "))
			continue
		}
		crt, key := sec.Data["tls.crt"], sec.Data["tls.key"]
		if len(crt) == 0 || len(key) == 0 {
			c.ws.Add(obj, field+".secretName", "Secret %s (type %s) has no tls.crt and tls.key: no certificate", k, sec.Type)
			continue
		}
		if _, err := tls.X509KeyPair(crt, key); err != nil {
			c.ws.Add(obj, field+".secretName", "Secret %s: tls.crt and tls.key: %v: no certificate", k, err)
			continue
		}
		if len(t.Hosts) == 0 {
			c.ws.Add(obj, field+".hosts", "no hosts: the certificate of Secret %s is not served (Kong selects certificates by SNI)", k)
			continue
		}
		cert := c.certs[k]
		if cert == nil {
			cert = &importer.Certificate{Cert: string(crt), Key: string(key), Tags: tagsOf(sec.TypeMeta, sec.ObjectMeta)}
			c.certs[k] = cert
			c.cfg.Certificates = append(c.cfg.Certificates, cert)
		}
		for _, h := range t.Hosts {
			switch owner := c.snis[h]; {
			case owner == "":
				c.snis[h] = k
				cert.SNIs = append(cert.SNIs, h)
			case owner != k:
				c.ws.Add(obj, field+".hosts", "%s is already served by Secret %s: kept", h, owner)
			}
		}
	}
	return hosts
}

// hostCovered tells whether a TLS section covers host, wildcards included.
func hostCovered(host string, tlsHosts map[string]bool) bool {
	if tlsHosts[host] {
		return true
	}
	if i := strings.IndexByte(host, '.'); i > 0 && tlsHosts["*"+host[i:]] {
		return true
	}
	return false
}
