package ingress

import (
	"maps"
	"slices"
	"strings"

	netv1 "k8s.io/api/networking/v1"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// authTLSOthers are the auth-tls annotations read with auth-tls-secret,
// with why they are not imported (verify-client and match-cn are read).
var authTLSOthers = map[string]string{
	"auth-tls-verify-client":                "",
	"auth-tls-match-cn":                     "",
	"auth-tls-verify-depth":                 "not imported: the chain is verified to a CA of the Secret, whatever its depth",
	"auth-tls-pass-certificate-to-upstream": "not imported: the certificate is not sent in ssl-client-cert (mtls-auth's inject_client_cert_details sends it in X-Client-Cert)",
	"auth-tls-error-page":                   "not imported: a refused certificate is answered by mtls-auth (401), not redirected to the page",
}

// clientCertHeaders are the headers ingress-nginx sets (overwriting a
// client's) on the requests of an Ingress with auth-tls-secret, whatever
// auth-tls-verify-client says: an upstream may trust them, so a client
// must not be able to send them through the gateway.
var clientCertHeaders = []any{"ssl-client-cert", "ssl-client-issuer-dn", "ssl-client-subject-dn", "ssl-client-verify"}

// stripClientCertHeaders adds clientCertHeaders to the remove.headers of
// the routes' request-transformer (a copy of it: a KongPlugin's config is
// shared between Ingresses), or adds a request-transformer that does only
// that. The transformer removes before it renames, replaces or adds, so
// the other config of the same plugin still applies.
func (s *settings) stripClientCertHeaders() {
	i := slices.IndexFunc(s.tmpl.Plugins, func(p *importer.Plugin) bool { return p.Name == "request-transformer" })
	if i < 0 {
		s.addPlugin(&importer.Plugin{Name: "request-transformer", Config: map[string]any{"remove": map[string]any{"headers": clientCertHeaders}}})
		return
	}
	p := *s.tmpl.Plugins[i]
	p.Config = maps.Clone(p.Config)
	remove, _ := p.Config["remove"].(map[string]any)
	remove = maps.Clone(remove)
	if remove == nil {
		remove = map[string]any{}
	}
	headers, _ := remove["headers"].([]any)
	headers = slices.Clone(headers)
	for _, h := range clientCertHeaders {
		if !slices.Contains(headers, h) {
			headers = append(headers, h)
		}
	}
	remove["headers"] = headers
	p.Config["remove"] = remove
	s.tmpl.Plugins[i] = &p
}

// authTLS maps auth-tls-secret (the ca.crt of a Secret, "ns/name"):
// client certificates are required and verified against it on the
// routes, as auth-tls-verify-client "on" (its default) does, by an
// mtls-auth plugin that looks up no consumer. ingress-nginx denies the
// location (503) when the Secret cannot be read; so does the import, with
// a request-termination, rather than leave the routes open.
func (c *converter) authTLS(in *netv1.Ingress, s *settings) {
	obj := objName(in)
	a := func(name string) string { return in.Annotations[nginxPrefix+name] }
	const field = nginxPrefix + "auth-tls-secret"
	ref := a("auth-tls-secret")
	deny := func(format string, args ...any) {
		c.ws.Add(obj, field, format+": the routes answer 503, as ingress-nginx denies the location", args...)
		s.addPlugin(importer.DenyAll())
	}
	switch cn := a("auth-tls-match-cn"); {
	case strings.Contains(cn, "CN="):
		// NGINX matches the regex against the subject DN, for every
		// verify-client value; mtls-auth's consumer lookup matches names
		// exactly, and SANs before the CN, so it cannot stand in.
		c.ws.Add(obj, nginxPrefix+"auth-tls-match-cn", "%q: the subject of a client certificate cannot be matched: the routes answer 503 (ingress-nginx lets only the certificates it matches through)", cn)
		s.addPlugin(importer.DenyAll())
		return
	case cn != "":
		c.ws.Add(obj, nginxPrefix+"auth-tls-match-cn", "%q has no CN=: ignored, as ingress-nginx does", cn)
	}
	switch v := a("auth-tls-verify-client"); v {
	case "", "on":
	case "off":
		return
	case "optional", "optional_no_ca":
		c.ws.Add(obj, nginxPrefix+"auth-tls-verify-client", "%q is not imported (on and off are): client certificates are not asked for", v)
		return
	default:
		// ingress-nginx replaces a value it does not know by its default.
		c.ws.Add(obj, nginxPrefix+"auth-tls-verify-client", "%q is not on, off, optional or optional_no_ca: on, as ingress-nginx takes it", v)
	}
	for _, n := range slices.Sorted(maps.Keys(authTLSOthers)) {
		if why := authTLSOthers[n]; why != "" && a(n) != "" {
			c.ws.Add(obj, nginxPrefix+n, "%s", why)
		}
	}
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		ns, name = in.Namespace, ref
	}
	sec := c.o.secrets[key(ns, name)]
	if sec == nil {
		deny("Secret %s/%s is not in the input", ns, name)
		return
	}
	bundle := string(sec.Data["ca.crt"])
	if bundle == "" {
		deny("Secret %s/%s has no ca.crt", ns, name)
		return
	}
	ids, err := c.cfg.AddCACertificates(bundle, tagsOf(sec.TypeMeta, sec.ObjectMeta))
	if err != nil {
		deny("Secret %s/%s ca.crt: %v", ns, name, err)
		return
	}
	caIDs := make([]any, len(ids))
	for i, id := range ids {
		caIDs[i] = id
	}
	s.addPlugin(&importer.Plugin{Name: "mtls-auth", Config: map[string]any{"ca_certificates": caIDs, "skip_consumer_lookup": true}})
}
