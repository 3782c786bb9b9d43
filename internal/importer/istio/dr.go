package istio

import (
	"fmt"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// rule is the DestinationRule of the route's destination hosts; an
// upstream takes one, so with several hosts the first host's applies.
func (c *conv) rule(hosts []string, vs *virtualService, field string) *destinationRule {
	var found *destinationRule
	for _, h := range hosts {
		r := c.objs.rules[h]
		if r == nil {
			continue
		}
		if found == nil {
			found = r
			continue
		}
		if r != found {
			c.ws.Add(vs.id(), field+".route", "one Kong upstream for several hosts: %s applies, %s does not", found.id(), r.id())
		}
	}
	return found
}

// applyRule maps a DestinationRule's traffic policy onto the upstream
// (balancing, passive health checks) and the service (TLS, connect
// timeout). Each rule's warnings are given once, on its first use.
func (c *conv) applyRule(r *destinationRule, svc *importer.Service, up *importer.Upstream) {
	host := fqdn(r.Spec.Host, r.ns(), c.opts.ServiceDomain)
	warn := func(field, format string, args ...any) {
		if !c.used[host] {
			c.ws.Add(r.id(), field, format, args...)
		}
	}
	defer func() { c.used[host] = true }()
	for i, s := range r.Spec.Subsets {
		if s.TrafficPolicy != nil {
			warn(fmt.Sprintf("spec.subsets[%d].trafficPolicy", i), "subsets cannot be resolved without a cluster: not imported")
		}
	}
	tp := r.Spec.TrafficPolicy
	if tp == nil {
		return
	}
	if tp.PortLevelSettings != nil || tp.Tunnel != nil || tp.ProxyProtocol != nil {
		warn("spec.trafficPolicy", "portLevelSettings, tunnel and proxyProtocol are not imported")
	}
	if lb := tp.LoadBalancer; lb != nil {
		c.loadBalancer(lb, up, warn)
	}
	if od := tp.OutlierDetection; od != nil {
		c.outlier(r, up, warn)
	}
	if cp := tp.ConnectionPool; cp != nil {
		for _, k := range sortedKeys(cp.TCP) {
			if k != "connectTimeout" {
				warn("spec.trafficPolicy.connectionPool.tcp."+k, "no Kong equivalent: not imported")
				continue
			}
			if s, _ := cp.TCP[k].(string); s != "" {
				if ms, ok := millis(s); ok && ms > 0 {
					svc.Fields["connect_timeout"] = ms
					continue
				}
			}
			warn("spec.trafficPolicy.connectionPool.tcp.connectTimeout", "not a duration: not imported")
		}
		for _, k := range sortedKeys(cp.HTTP) {
			warn("spec.trafficPolicy.connectionPool.http."+k, "no Kong equivalent: not imported")
		}
	}
	if t := tp.TLS; t != nil {
		switch t.Mode {
		case "SIMPLE":
			svc.Protocol = "https"
			if t.SNI != "" {
				warn("spec.trafficPolicy.tls.sni", "the upstream's SNI is its host name: not imported")
			}
		case "DISABLE", "":
		default:
			warn("spec.trafficPolicy.tls.mode", "%s: client certificates to the upstream are not imported, plain HTTP is used", t.Mode)
		}
	}
}

func (c *conv) loadBalancer(lb *lbPolicy, up *importer.Upstream, warn func(string, string, ...any)) {
	const f = "spec.trafficPolicy.loadBalancer"
	switch lb.Simple {
	case "", "UNSPECIFIED":
	case "ROUND_ROBIN":
		up.Fields["algorithm"] = "round-robin"
	case "LEAST_REQUEST", "LEAST_CONN":
		up.Fields["algorithm"] = "least-connections"
	case "RANDOM":
		up.Fields["algorithm"] = "round-robin"
		warn(f+".simple", "RANDOM: Kong has no random balancer, round-robin used")
	default:
		warn(f+".simple", "%s: not imported", lb.Simple)
	}
	ch := lb.ConsistentHash
	if lb.LocalityLbSetting != nil || lb.WarmupDurationSecs != nil {
		warn(f, "localityLbSetting and warmupDurationSecs are not imported")
	}
	if ch == nil {
		return
	}
	if ch.RingHash != nil || ch.Maglev != nil || ch.MinimumRingSize != nil {
		warn(f+".consistentHash", "the ring parameters are not imported (Kong's ring is fixed per upstream slots)")
	}
	switch {
	case ch.HTTPHeaderName != "":
		up.Fields["hash_on"], up.Fields["hash_on_header"] = "header", ch.HTTPHeaderName
	case ch.HTTPCookie != nil && ch.HTTPCookie.Name != "":
		up.Fields["hash_on"], up.Fields["hash_on_cookie"] = "cookie", ch.HTTPCookie.Name
		if ch.HTTPCookie.Path != "" {
			up.Fields["hash_on_cookie_path"] = ch.HTTPCookie.Path
		}
		if ch.HTTPCookie.TTL != "" {
			warn(f+".consistentHash.httpCookie.ttl", "Kong's hash cookie is a session cookie: not imported")
		}
	case ch.UseSourceIP:
		up.Fields["hash_on"] = "ip"
	case ch.HTTPQueryParameterName != "":
		up.Fields["hash_on"], up.Fields["hash_on_query_arg"] = "query_arg", ch.HTTPQueryParameterName
	default:
		warn(f+".consistentHash", "no hash key: not imported")
		return
	}
	up.Fields["algorithm"] = "consistent-hashing"
}

// outlier maps outlier detection to Kong's passive health checks. Kong
// brings an unhealthy target back only through active checks (or a
// reload), where Istio ejects for baseEjectionTime: warned.
func (c *conv) outlier(r *destinationRule, up *importer.Upstream, warn func(string, string, ...any)) {
	od := r.Spec.TrafficPolicy.OutlierDetection
	const f = "spec.trafficPolicy.outlierDetection"
	unhealthy := map[string]any{}
	switch {
	case od.Consecutive5xxErrors != nil:
		unhealthy["http_failures"] = min(max(*od.Consecutive5xxErrors, 0), 255)
		unhealthy["http_statuses"] = []any{500, 501, 502, 503, 504, 505}
	case od.ConsecutiveErrors != nil:
		unhealthy["http_failures"] = min(max(*od.ConsecutiveErrors, 0), 255)
		unhealthy["http_statuses"] = []any{502, 503, 504}
	case od.ConsecutiveGatewayErrors != nil:
		unhealthy["http_failures"] = min(max(*od.ConsecutiveGatewayErrors, 0), 255)
		unhealthy["http_statuses"] = []any{502, 503, 504}
	}
	if n := od.ConsecutiveLocalOriginFailures; n != nil {
		unhealthy["tcp_failures"] = min(max(*n, 0), 255)
		unhealthy["timeouts"] = min(max(*n, 0), 255)
	}
	if len(unhealthy) == 0 {
		warn(f, "no failure count: not imported")
		return
	}
	up.Fields["healthchecks"] = map[string]any{"passive": map[string]any{"type": "http", "unhealthy": unhealthy}}
	warn(f, "imported as passive health checks: an ejected target comes back only with active checks or a reload (interval, baseEjectionTime, maxEjectionPercent and minHealthPercent are not imported)")
}
