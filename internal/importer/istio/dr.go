package istio

import (
	"crypto/tls"
	"fmt"
	"maps"
	"slices"

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
		for _, k := range slices.Sorted(maps.Keys(cp.TCP)) {
			if k != "connectTimeout" {
				warn("spec.trafficPolicy.connectionPool.tcp."+k, "no Kong equivalent: not imported")
				continue
			}
			if s, _ := cp.TCP[k].(string); s != "" {
				if ms, long, ok := millis(s); ok && ms > 0 {
					if long {
						warn("spec.trafficPolicy.connectionPool.tcp.connectTimeout", "%s", longWarning(s))
					}
					svc.Fields["connect_timeout"] = ms
					continue
				}
			}
			warn("spec.trafficPolicy.connectionPool.tcp.connectTimeout", "not a duration: not imported")
		}
		for _, k := range slices.Sorted(maps.Keys(cp.HTTP)) {
			warn("spec.trafficPolicy.connectionPool.http."+k, "no Kong equivalent: not imported")
		}
	}
	if t := tp.TLS; t != nil {
		c.upstreamTLS(r, t, svc, warn)
	}
}

// upstreamTLS maps the rule's TLS toward the upstream onto the service:
// https, verified against the credential Secret's ca.crt, with its
// tls.crt and tls.key as the client certificate for MUTUAL. Files on the
// proxy's disk (caCertificates, clientCertificate, privateKey) are not
// in the input.
func (c *conv) upstreamTLS(r *destinationRule, t *clientTLS, svc *importer.Service, warn func(string, string, ...any)) {
	const f = "spec.trafficPolicy.tls"
	switch t.Mode {
	case "DISABLE", "":
		return
	case "SIMPLE", "MUTUAL":
	default:
		warn(f+".mode", "%s: the mesh's own certificates are not imported, plain HTTP is used", t.Mode)
		return
	}
	svc.Protocol = "https"
	if t.SNI != "" {
		warn(f+".sni", "the upstream's SNI is its host name: not imported")
	}
	if len(t.SubjectAltNames) > 0 {
		warn(f+".subjectAltNames", "not imported: the certificate is checked against the host name")
	}
	if t.CACrl != "" {
		warn(f+".caCrl", "not imported: the certificate is not checked for revocation")
	}
	for _, file := range []struct{ name, path string }{{"caCertificates", t.CACertificates}, {"clientCertificate", t.ClientCertificate}, {"privateKey", t.PrivateKey}} {
		if file.path != "" {
			warn(f+"."+file.name, "a file on the proxy: not imported (use credentialName)")
		}
	}
	var sec *secret
	if t.CredentialName != "" {
		if sec = c.objs.secrets[r.ns()+"/"+t.CredentialName]; sec == nil {
			warn(f+".credentialName", "Secret %s/%s is not in the input: not imported", r.ns(), t.CredentialName)
		}
	}
	if sec != nil {
		if ca, ok := sec.value("ca.crt"); ok {
			ids, err := c.cfg.AddCACertificates(ca, sec.tags())
			if err != nil {
				warn(f+".credentialName", "%s ca.crt: %v: the upstream's certificate is not verified", sec.id(), err)
			} else {
				svc.Fields["tls_verify"] = true
				svc.Fields["ca_certificates"] = importer.Anys(ids)
			}
		}
	}
	if t.InsecureSkipVerify != nil && *t.InsecureSkipVerify {
		svc.Fields["tls_verify"] = false
		delete(svc.Fields, "ca_certificates")
	}
	if t.Mode != "MUTUAL" {
		return
	}
	crt, ok1 := "", false
	key, ok2 := "", false
	if sec != nil {
		crt, ok1 = sec.value("tls.crt")
		key, ok2 = sec.value("tls.key")
	}
	if !ok1 || !ok2 || crt == "" || key == "" {
		warn(f+".mode", "MUTUAL: no tls.crt and tls.key in the credentialName Secret of the input: no client certificate is sent")
		return
	}
	if _, err := tls.X509KeyPair([]byte(crt), []byte(key)); err != nil {
		warn(f+".credentialName", "%s tls.crt and tls.key: %v: no client certificate is sent", sec.id(), err)
		return
	}
	svc.Fields["client_certificate"] = map[string]any{"id": importer.CertificateID(c.clientCertificate(crt, key, sec.tags()))}
}

// clientCertificate is the certificate entity of a client certificate
// (one per pair: several services may send the same).
func (c *conv) clientCertificate(crt, key string, tags []string) *importer.Certificate {
	for _, have := range c.cfg.Certificates {
		if have.Cert == crt && have.Key == key {
			return have
		}
	}
	cert := &importer.Certificate{Cert: crt, Key: key, Tags: tags}
	c.cfg.Certificates = append(c.cfg.Certificates, cert)
	return cert
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
