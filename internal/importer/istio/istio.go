// Package istio imports Istio's networking.istio.io Gateway,
// VirtualService and DestinationRule objects (v1, v1beta1, v1alpha3) and
// the TLS Secrets their Gateways name: the edge traffic an Istio ingress
// gateway serves becomes Kong services, routes, upstreams, certificates
// and plugins. Mesh-only routing (VirtualServices bound to no Gateway) is
// east-west traffic an edge gateway never sees: it is warned and left out.
package istio

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v4"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// Options tune an import.
type Options struct {
	// ServiceDomain completes a destination's short host name:
	// NAME.NAMESPACE.<ServiceDomain> (default svc.cluster.local).
	ServiceDomain string
}

type objects struct {
	gateways map[string]*gateway // by namespace/name
	// clientAuth is how a MUTUAL server verifies client certificates, by
	// gateway namespace/name and server index.
	clientAuth map[string]map[int]clientAuth
	services   []*virtualService
	rules      map[string]*destinationRule // by the FQDN of their host
	secrets    map[string]*secret          // by namespace/name
}

// Import adds to cfg the edge routing the documents describe. Documents
// of other kinds are warned and skipped; a document that is not YAML is
// an error.
func Import(docs []importer.Document, opts Options, cfg *importer.Config, ws *importer.Warnings) error {
	if opts.ServiceDomain == "" {
		opts.ServiceDomain = "svc.cluster.local"
	}
	objs, err := read(docs, opts, ws)
	if err != nil {
		return err
	}
	c := &conv{opts: opts, objs: objs, cfg: cfg, ws: ws, used: map[string]bool{}}
	c.run()
	return nil
}

func read(docs []importer.Document, opts Options, ws *importer.Warnings) (*objects, error) {
	objs := &objects{gateways: map[string]*gateway{}, clientAuth: map[string]map[int]clientAuth{}, rules: map[string]*destinationRule{}, secrets: map[string]*secret{}}
	parsed, err := parse(docs)
	if err != nil {
		return nil, err
	}
	if len(parsed) == 0 {
		return nil, errors.New("no Istio object in the input")
	}
	virtualServices := map[string]bool{}
	for _, p := range parsed {
		m := p.meta
		group, _, _ := strings.Cut(m.APIVersion, "/")
		key := m.ns() + "/" + m.Metadata.Name
		switch {
		case m.Kind == "Secret" && m.APIVersion == "v1":
			var s secret
			if err := p.node.Decode(&s); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", p.d.Where(), m.id(), err)
			}
			if objs.secrets[key] != nil {
				ws.Add(m.id(), "metadata.name", "the input already has this object: this copy is ignored")
				continue
			}
			objs.secrets[key] = &s
		case group != "networking.istio.io":
			ws.Add(m.id(), "", "not an Istio networking object (%s): not imported", m.APIVersion)
		case !slices.Contains([]string{"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"}, m.APIVersion):
			ws.Add(m.id(), "apiVersion", "%s is not v1, v1beta1 or v1alpha3: not imported", m.APIVersion)
		case m.Kind == "Gateway":
			var g gateway
			if err := p.decode(&g, ws); err != nil {
				return nil, err
			}
			if objs.gateways[key] != nil {
				ws.Add(m.id(), "metadata.name", "the input already has this object: this copy is ignored")
				continue
			}
			objs.gateways[key] = &g
		case m.Kind == "VirtualService":
			var v virtualService
			if err := p.decode(&v, ws); err != nil {
				return nil, err
			}
			if virtualServices[key] {
				ws.Add(m.id(), "metadata.name", "the input already has this object: this copy is ignored")
				continue
			}
			virtualServices[key] = true
			objs.services = append(objs.services, &v)
		case m.Kind == "DestinationRule":
			var r destinationRule
			if err := p.decode(&r, ws); err != nil {
				return nil, err
			}
			host := fqdn(r.Spec.Host, r.ns(), opts.ServiceDomain)
			if prev, ok := objs.rules[host]; ok {
				ws.Add(r.id(), "spec.host", "%s already has %s: not imported", host, prev.id())
				continue
			}
			objs.rules[host] = &r
		default:
			ws.Add(m.id(), "kind", "not imported: an edge gateway has no use for it")
		}
	}
	// Oldest first (what two claim goes to the older), then by namespace
	// and name.
	slices.SortFunc(objs.services, func(a, b *virtualService) int {
		return cmp.Or(cmp.Compare(a.Metadata.CreationTimestamp, b.Metadata.CreationTimestamp), cmp.Compare(a.ns(), b.ns()), cmp.Compare(a.Metadata.Name, b.Metadata.Name))
	})
	return objs, nil
}

// parsed is one object of the input: its document, its YAML tree
// (parsed once; the typed and the raw decodings walk it) and its envelope.
type parsed struct {
	d    importer.Document
	node *yaml.Node
	raw  any
	meta meta
}

// parse parses every document once; each `kind: List` (what `kubectl get
// -o yaml` writes) is replaced by its items, each an object at the List's
// place.
func parse(docs []importer.Document) ([]parsed, error) {
	var out []parsed
	for _, d := range docs {
		var doc yaml.Node
		if err := yaml.Unmarshal(d.Data, &doc); err != nil {
			return nil, fmt.Errorf("%s: not YAML or JSON: %w", d.Where(), err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		p, err := newParsed(d, doc.Content[0])
		if err != nil {
			return nil, err
		}
		if !strings.HasSuffix(p.meta.Kind, "List") {
			out = append(out, p)
			continue
		}
		for i, item := range listItems(doc.Content[0]) {
			ip, err := newParsed(d, item)
			if err != nil {
				return nil, fmt.Errorf("%s: items[%d]: %w", d.Where(), i, err)
			}
			out = append(out, ip)
		}
	}
	return out, nil
}

func newParsed(d importer.Document, n *yaml.Node) (parsed, error) {
	p := parsed{d: d, node: n}
	if err := n.Decode(&p.raw); err != nil {
		return p, fmt.Errorf("%s: not YAML or JSON: %w", d.Where(), err)
	}
	m, _ := p.raw.(map[string]any)
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	md, _ := m["metadata"].(map[string]any)
	p.meta.APIVersion, p.meta.Kind = str(m, "apiVersion"), str(m, "kind")
	p.meta.Metadata.Name, p.meta.Metadata.Namespace, p.meta.Metadata.UID = str(md, "name"), str(md, "namespace"), str(md, "uid")
	return p, nil
}

// listItems are the nodes of a mapping's `items` sequence.
func listItems(n *yaml.Node) []*yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "items" && n.Content[i+1].Kind == yaml.SequenceNode {
			return n.Content[i+1].Content
		}
	}
	return nil
}

// fqdn completes a short service name as Istio does: relative to the
// namespace of the object that names it.
func fqdn(host, ns, domain string) string {
	if host == "" || strings.Contains(host, ".") {
		return host
	}
	return host + "." + ns + "." + domain
}

type conv struct {
	opts Options
	objs *objects
	cfg  *importer.Config
	ws   *importer.Warnings
	used map[string]bool // DestinationRules applied, by host
	// earlier are the prefix matches of the VirtualService's http routes
	// imported so far, in order (see shadowed).
	earlier []match
}

func (c *conv) run() {
	for _, key := range slices.Sorted(maps.Keys(c.objs.gateways)) {
		c.gateway(c.objs.gateways[key])
	}
	for _, vs := range c.objs.services {
		c.virtualService(vs)
	}
	for _, host := range slices.Sorted(maps.Keys(c.objs.rules)) {
		r := c.objs.rules[host]
		if !c.used[host] {
			c.ws.Add(r.id(), "spec.host", "no imported route sends traffic to %s: not imported", host)
		}
	}
}

// gateway imports the servers' certificates; the ports are the gateway's
// listeners, set in turnpike's own configuration.
func (c *conv) gateway(g *gateway) {
	for i, s := range g.Spec.Servers {
		field := fmt.Sprintf("spec.servers[%d]", i)
		switch strings.ToUpper(s.Port.Protocol) {
		case "HTTP", "HTTPS", "HTTP2", "":
		default:
			c.ws.Add(g.id(), field+".port.protocol", "%s: only HTTP servers are imported", s.Port.Protocol)
			continue
		}
		if s.TLS == nil || s.TLS.HTTPSRedirect {
			continue
		}
		switch s.TLS.Mode {
		case "SIMPLE", "MUTUAL", "":
		default:
			c.ws.Add(g.id(), field+".tls.mode", "%s: only SIMPLE and MUTUAL are imported", s.TLS.Mode)
			continue
		}
		c.certificate(g, field, s)
		if s.TLS.Mode == "MUTUAL" {
			c.clientCA(g, i, field, s)
		}
	}
}

func (c *conv) certificate(g *gateway, field string, s server) {
	if s.TLS.CredentialName == "" {
		c.ws.Add(g.id(), field+".tls", "no credentialName (file-mounted certificates are not in the input): no certificate imported")
		return
	}
	sec := c.objs.secrets[g.ns()+"/"+s.TLS.CredentialName]
	if sec == nil {
		c.ws.Add(g.id(), field+".tls.credentialName", "Secret %s/%s is not in the input: no certificate imported", g.ns(), s.TLS.CredentialName)
		return
	}
	crt, ok1 := sec.value("tls.crt")
	key, ok2 := sec.value("tls.key")
	if !ok1 || !ok2 || crt == "" || key == "" {
		c.ws.Add(sec.id(), "data", "no tls.crt and tls.key (base64): no certificate imported")
		return
	}
	if _, err := tls.X509KeyPair([]byte(crt), []byte(key)); err != nil {
		c.ws.Add(sec.id(), "data", "tls.crt and tls.key: %v: no certificate imported", err)
		return
	}
	var same *importer.Certificate
	claimed := map[string]bool{}
	for _, have := range c.cfg.Certificates {
		if have.Cert == crt && have.Key == key {
			same = have
			continue
		}
		for _, n := range have.SNIs {
			claimed[n] = true
		}
	}
	var snis []string
	for _, h := range s.Hosts {
		_, h = splitNS(h)
		switch {
		case h == "*" || slices.Contains(snis, h) || same != nil && slices.Contains(same.SNIs, h):
		case claimed[h] || !validHost(strings.TrimPrefix(h, "*.")):
			c.ws.Add(g.id(), field+".hosts", "%s: served by another certificate, or not a server name: not an SNI of %s", h, s.TLS.CredentialName)
		default:
			snis = append(snis, h)
		}
	}
	if same != nil {
		same.SNIs = append(same.SNIs, snis...)
		return
	}
	c.cfg.Certificates = append(c.cfg.Certificates, &importer.Certificate{Cert: crt, Key: key, SNIs: snis, Tags: sec.tags()})
}

// clientAuth is a MUTUAL server's client certificate check: the
// ca_certificates ids a certificate must chain to, or deny when the CA is
// not known and the server's routes must answer 503.
type clientAuth struct {
	ids  []string
	deny bool
}

func (a clientAuth) same(b clientAuth) bool {
	return a.deny == b.deny && slices.Equal(slices.Sorted(slices.Values(a.ids)), slices.Sorted(slices.Values(b.ids)))
}

// clientCA imports the CA a MUTUAL server verifies client certificates
// with. Istio reads it from the credential Secret's ca.crt (or cacert),
// or from a Secret of the same name with -cacert appended; the routes of
// the VirtualServices the server takes then require a client certificate
// that chains to it (an mtls-auth plugin, see bind). Istio does not serve
// a MUTUAL server without a CA it can load: neither do the routes of the
// import, which answer 503 rather than take requests without a certificate.
func (c *conv) clientCA(g *gateway, i int, field string, s server) {
	key := g.ns() + "/" + g.Metadata.Name
	if c.objs.clientAuth[key] == nil {
		c.objs.clientAuth[key] = map[int]clientAuth{}
	}
	deny := func(f, format string, args ...any) {
		c.ws.Add(g.id(), field+f, format+": the routes of its hosts answer 503, as Istio does not serve it", args...)
		c.objs.clientAuth[key][i] = clientAuth{deny: true}
	}
	if s.TLS.CredentialName == "" {
		deny(".tls.mode", "MUTUAL without a credentialName (file-mounted CAs are not in the input)")
		return
	}
	var (
		bundle, from string
		tags         []string
	)
	for _, name := range []string{s.TLS.CredentialName, s.TLS.CredentialName + "-cacert"} {
		sec := c.objs.secrets[g.ns()+"/"+name]
		if sec == nil {
			continue
		}
		for _, k := range []string{"ca.crt", "cacert"} {
			if v, ok := sec.value(k); ok && bundle == "" {
				bundle, from, tags = v, sec.id()+" "+k, sec.tags()
			}
		}
	}
	if bundle == "" {
		deny(".tls.credentialName", "MUTUAL: no ca.crt in Secret %s/%s nor in Secret %s/%s-cacert of the input",
			g.ns(), s.TLS.CredentialName, g.ns(), s.TLS.CredentialName)
		return
	}
	ids, err := c.cfg.AddCACertificates(bundle, tags)
	if err != nil {
		deny(".tls.credentialName", "MUTUAL: %s: %v", from, err)
		return
	}
	c.objs.clientAuth[key][i] = clientAuth{ids: ids}
}

// splitNS splits a Gateway host "ns/host" (ns may be "." or "*").
func splitNS(h string) (string, string) {
	if ns, host, ok := strings.Cut(h, "/"); ok {
		return ns, host
	}
	return "*", h
}
