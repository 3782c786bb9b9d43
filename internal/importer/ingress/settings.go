package ingress

import (
	"fmt"
	"maps"
	"slices"

	netv1 "k8s.io/api/networking/v1"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// settings are what an Ingress's annotations make of its routes and
// services.
type settings struct {
	tmpl        importer.Route // every route's fields but name, hosts and paths
	regex       bool           // paths are regexes (use-regex, rewrite-target)
	forceSSL    bool
	sslRedirect bool // redirect the hosts with TLS (NGINX's default)
	svc         svcSettings
}

// svcSettings are the annotations that change the Kong service; backends
// shared by Ingresses with different ones get a service each.
type svcSettings struct {
	protocol string
	path     string
	timeouts [3]int // connect, read, write in ms; 0 when unset
	hash     importer.Fields
}

func (ss svcSettings) key() string {
	return fmt.Sprint(ss.protocol, "|", ss.path, "|", ss.timeouts, "|", ss.hash)
}

var timeoutFields = [3]string{"connect_timeout", "read_timeout", "write_timeout"}

func (ss svcSettings) apply(c *converter, s *importer.Service) {
	if ss.protocol != "" {
		s.Protocol = ss.protocol
	}
	if ss.path != "" {
		s.Path = ss.path
	}
	for i, t := range ss.timeouts {
		if t > 0 {
			s.Fields[timeoutFields[i]] = t
		}
	}
	if ss.hash != nil {
		u := c.upstream(s)
		maps.Copy(u.Fields, ss.hash)
	}
}

// upstream moves s's host behind an upstream of its own (for hashing or
// canary weights) and returns it.
func (c *converter) upstream(s *importer.Service) *importer.Upstream {
	for _, u := range c.cfg.Upstreams {
		if u.Name == s.Host {
			return u
		}
	}
	name := c.cfg.UniqueName(importer.KindUpstream, s.Name+".upstream")
	u := &importer.Upstream{Name: name, Fields: importer.Fields{}, Tags: s.Tags,
		Targets: []importer.Target{{Target: fmt.Sprintf("%s:%d", s.Host, s.Port), Weight: importer.Int(100)}}}
	c.cfg.Upstreams = append(c.cfg.Upstreams, u)
	s.Host = name
	return u
}

func (c *converter) settings(in *netv1.Ingress) *settings {
	s := &settings{sslRedirect: true, tmpl: importer.Route{
		StripPath:    importer.Bool(ingressClass(in) == "kong"),
		PreserveHost: importer.Bool(true),
		Fields:       importer.Fields{},
	}}
	c.nginx(in, s)
	c.kong(in, s)
	if in.Annotations[nginxPrefix+"auth-tls-secret"] != "" {
		s.stripClientCertHeaders()
	}
	return s
}

// route is a new route with the Ingress's settings.
func (s *settings) route(name string) *importer.Route {
	r := s.tmpl
	r.Name = name
	r.Methods = slices.Clone(s.tmpl.Methods)
	r.Headers = maps.Clone(s.tmpl.Headers)
	r.Fields = maps.Clone(s.tmpl.Fields)
	r.Plugins = slices.Clone(s.tmpl.Plugins)
	return &r
}

func (s *settings) redirect(host string, tlsHosts map[string]bool) bool {
	if _, set := s.tmpl.Fields["protocols"]; set {
		return false // konghq.com/protocols decides
	}
	return s.forceSSL || (s.sslRedirect && hostCovered(host, tlsHosts))
}

// addPlugin puts p on the routes, replacing one of the same name (Kong
// allows one per name and scope): the later annotation wins.
func (s *settings) addPlugin(p *importer.Plugin) {
	s.tmpl.Plugins = slices.DeleteFunc(s.tmpl.Plugins, func(q *importer.Plugin) bool { return q.Name == p.Name })
	s.tmpl.Plugins = append(s.tmpl.Plugins, p)
}
