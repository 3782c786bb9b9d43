package kube

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// endpoints index the cluster's Services with the ready pod addresses of
// each service port, as the gateway's targets.
type endpoints struct {
	services map[svcKey]*service
}

type svcKey struct{ namespace, name string }

type service struct {
	// externalName is an ExternalName Service's DNS name.
	externalName string
	// pods are the targets ("ip:port", "[ip6]:port"), sorted, by service
	// port (spec.ports[].port); every TCP port has an entry, nil when no
	// pod serves it.
	pods map[int][]string
	// only is the Service's port when it has just one.
	only int
}

// newEndpoints indexes the ready endpoints of services' EndpointSlices
// as kube-proxy picks them: ready (or of unknown readiness) endpoints;
// when a port has none, its serving terminating ones, so that a rollout
// that ends every old pod at once still drains to them.
func newEndpoints(services []*corev1.Service, eslices []*discoveryv1.EndpointSlice) *endpoints {
	eps := &endpoints{services: make(map[svcKey]*service, len(services))}
	ports := map[svcKey][]corev1.ServicePort{}
	for _, s := range services {
		if s == nil {
			continue
		}
		k := svcKey{s.Namespace, s.Name}
		sv := &service{pods: map[int][]string{}}
		eps.services[k] = sv
		if s.Spec.Type == corev1.ServiceTypeExternalName {
			sv.externalName = strings.TrimSuffix(s.Spec.ExternalName, ".")
			continue
		}
		for _, p := range s.Spec.Ports {
			if isTCP(p.Protocol) && p.Port > 0 {
				ports[k] = append(ports[k], p)
				sv.pods[int(p.Port)] = nil
			}
		}
		if len(sv.pods) == 1 {
			sv.only = int(ports[k][0].Port)
		}
	}
	type found struct{ ready, draining map[string]bool }
	byPort := map[svcKey]map[int]*found{}
	for _, sl := range eslices {
		if sl == nil || sl.AddressType != discoveryv1.AddressTypeIPv4 && sl.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		k := svcKey{sl.Namespace, sl.Labels[discoveryv1.LabelServiceName]}
		for _, sp := range ports[k] {
			podPort := slicePort(sl.Ports, sp.Name)
			if podPort == 0 {
				continue
			}
			if byPort[k] == nil {
				byPort[k] = map[int]*found{}
			}
			f := byPort[k][int(sp.Port)]
			if f == nil {
				f = &found{ready: map[string]bool{}, draining: map[string]bool{}}
				byPort[k][int(sp.Port)] = f
			}
			for _, e := range sl.Endpoints {
				t, ok := endpointTarget(e, sl.AddressType, podPort)
				if !ok {
					continue
				}
				c := e.Conditions
				switch {
				case c.Ready == nil || *c.Ready:
					f.ready[t] = true
				case (c.Serving == nil || *c.Serving) && c.Terminating != nil && *c.Terminating:
					f.draining[t] = true
				}
			}
		}
	}
	for k, fs := range byPort {
		for port, f := range fs {
			set := f.ready
			if len(set) == 0 {
				set = f.draining
			}
			if len(set) > 0 {
				eps.services[k].pods[port] = slices.Sorted(maps.Keys(set))
			}
		}
	}
	return eps
}

func isTCP(p corev1.Protocol) bool { return p == "" || p == corev1.ProtocolTCP }

// slicePort is the pod port of a slice's port named name (the unnamed
// one for ""), 0 when the slice has none.
func slicePort(ports []discoveryv1.EndpointPort, name string) uint16 {
	for _, p := range ports {
		pn := ""
		if p.Name != nil {
			pn = *p.Name
		}
		if pn != name || p.Protocol != nil && !isTCP(*p.Protocol) || p.Port == nil {
			continue
		}
		if *p.Port > 0 && *p.Port <= 65535 {
			return uint16(*p.Port)
		}
	}
	return 0
}

// endpointTarget is an endpoint's first address (the others are
// fungible, the API says) with port, when it is an address of the
// slice's family that a pod can have. The API server already refuses
// link-local, unspecified, multicast and loopback addresses in
// EndpointSlices; the first three are refused here too, in depth (a
// link-local one is the node's metadata service, 169.254.169.254).
// Loopback is kept: the API server's own refusal is what keeps it out of
// a cluster, and the tests' pods (real servers behind a fake API) listen
// on it.
func endpointTarget(e discoveryv1.Endpoint, family discoveryv1.AddressType, port uint16) (string, bool) {
	if len(e.Addresses) == 0 {
		return "", false
	}
	a, err := netip.ParseAddr(e.Addresses[0])
	if err != nil || a.Zone() != "" || (family == discoveryv1.AddressTypeIPv4) != a.Is4() {
		return "", false
	}
	if u := a.Unmap(); u.IsLinkLocalUnicast() || u.IsUnspecified() || u.IsMulticast() {
		return "", false
	}
	return netip.AddrPortFrom(a, port).String(), true
}

// lookup finds the Service a host names: NAME.NAMESPACE.<domain>, or
// NAME.NAMESPACE.svc (which a pod's DNS search path completes the same).
func (e *endpoints) lookup(host, domain string) (*service, svcKey) {
	sv, k := e.lookupOnce(host, domain)
	if sv != nil && sv.externalName != "" {
		// An ExternalName naming another Service of the cluster (one in
		// another namespace, commonly) is that Service's pods; one hop
		// only, so that two naming each other end.
		if to, _ := e.lookupOnce(sv.externalName, domain); to != nil && to.externalName == "" {
			return to, k
		}
	}
	return sv, k
}

func (e *endpoints) lookupOnce(host, domain string) (*service, svcKey) {
	host = strings.ToLower(host)
	rest, ok := strings.CutSuffix(host, "."+domain)
	if !ok {
		rest, ok = strings.CutSuffix(host, ".svc")
	}
	name, ns, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || name == "" || ns == "" || strings.Contains(ns, ".") {
		return nil, svcKey{}
	}
	k := svcKey{ns, name}
	return e.services[k], k
}

// targets are the pod targets of a service port. A port 80 the Service
// does not have, when it has one port only, is that port: Istio's rule
// for a destination without a port, for which the importer writes 80.
func (s *service) targets(port int) []string {
	if _, ok := s.pods[port]; !ok && port == 80 && s.only != 0 {
		port = s.only
	}
	return s.pods[port]
}

// podTargets points the backends that are cluster Services
// (NAME.NAMESPACE.<domain>) at their pods: a Kong service's host becomes
// an upstream of the Service's pods, named as Kong's controller names it;
// an upstream's target becomes the pods, sharing its weight. An
// ExternalName Service becomes its DNS name; a host naming no Service of
// the cluster stays as it is.
func podTargets(cfg *importer.Config, eps *endpoints, domain string) {
	domain = strings.ToLower(domain)
	named := make(map[string]bool, len(cfg.Upstreams))
	for _, u := range cfg.Upstreams {
		named[u.Name] = true
		eps.split(u, domain)
	}
	made := map[string]*importer.Upstream{}
	for _, s := range cfg.Services {
		if named[s.Host] {
			continue
		}
		sv, k := eps.lookup(s.Host, domain)
		if sv == nil {
			continue
		}
		if sv.externalName != "" {
			s.Host = sv.externalName
			continue
		}
		port := s.Port
		if port == 0 {
			port = 80
		}
		key := s.Host + ":" + strconv.Itoa(port)
		u := made[key]
		if u == nil {
			// host_header keeps the Host and TLS server name the
			// backend got through DNS, rather than the upstream's name.
			name := unique(named, fmt.Sprintf("%s.%s.%d.svc", k.name, k.namespace, port))
			named[name] = true
			u = &importer.Upstream{Name: name, Fields: importer.Fields{"host_header": s.Host}}
			for _, t := range sv.targets(port) {
				u.Targets = append(u.Targets, importer.Target{Target: t})
			}
			made[key] = u
			cfg.Upstreams = append(cfg.Upstreams, u)
		}
		s.Host = u.Name
	}
}

// unique is base, or base-2, base-3... the first not in used (as
// importer.Config.UniqueName, which would gather the names anew each
// time: quadratic in a cluster of thousands of Services).
func unique(used map[string]bool, base string) string {
	name := base
	for i := 2; used[name]; i++ {
		name = base + "-" + strconv.Itoa(i)
	}
	return name
}

// Kong's bounds of a target's weight, and the factor that turns a
// target's weight into its pods' (w*weightScale/n each for n pods): the
// largest with which a weight of 100 on one pod stays within them, so
// that a share of 1% is still exact over 655 pods.
const (
	maxWeight     = 65535
	defaultWeight = 100
	weightScale   = maxWeight / defaultWeight
)

// split replaces u's targets that are cluster Services by their pods,
// each Service's weight shared by its pods so that the Services' shares
// stay what they were; the other targets keep their share too.
func (e *endpoints) split(u *importer.Upstream, domain string) {
	type part struct {
		targets []string
		weight  int
	}
	parts := make([]part, 0, len(u.Targets))
	changed, pods := false, false
	for _, t := range u.Targets {
		w := defaultWeight
		if t.Weight != nil {
			w = *t.Weight
		}
		p := part{targets: []string{t.Target}, weight: w}
		if i := strings.LastIndexByte(t.Target, ':'); i > 0 {
			port, err := strconv.Atoi(t.Target[i+1:])
			if sv, _ := e.lookup(t.Target[:i], domain); sv != nil && err == nil {
				changed = true
				if sv.externalName != "" {
					p.targets = []string{sv.externalName + t.Target[i:]}
				} else {
					p.targets, pods = sv.targets(port), true
				}
			}
		}
		parts = append(parts, p)
	}
	if !changed {
		return
	}
	k := 1
	if pods {
		k = weightScale
		for _, p := range parts {
			if n := len(p.targets); p.weight > 0 && n > 0 && p.weight*k > maxWeight*n {
				k = max(1, maxWeight*n/p.weight)
			}
		}
	}
	weights := map[string]int{}
	for _, p := range parts {
		for _, t := range p.targets {
			weights[t] = min(weights[t]+share(p.weight, k, len(p.targets)), maxWeight)
		}
	}
	u.Targets = u.Targets[:0]
	for _, t := range slices.Sorted(maps.Keys(weights)) {
		u.Targets = append(u.Targets, importer.Target{Target: t, Weight: importer.Int(weights[t])})
	}
}

// share is one of n pods' part of weight w scaled by k: rounded, at
// least 1 unless w is 0 (a disabled target stays disabled).
func share(w, k, n int) int {
	if w <= 0 {
		return 0
	}
	return min(max(1, (w*k+n/2)/n), maxWeight)
}
