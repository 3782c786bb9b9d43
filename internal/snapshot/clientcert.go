package snapshot

import (
	"crypto/x509"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// ClientCertPolicy says on which server names (SNI) the TLS listener asks
// clients for a certificate, and which CA names the request carries. It
// follows Kong's map of SNIs for mtls-auth: the names in the `snis` of
// every route an instance whose plugin.TLSNeeds ask for a client
// certificate applies to (globally, by service or by route), and every name at all as
// soon as such a route has no snis, since it can then be reached under
// any name. Other handshakes are not asked, so browsers on routes without
// mtls-auth are never prompted for a certificate.
//
// The CA names (send_ca_dn) of a name are those of the instances on routes
// with that name, plus those of instances on routes without snis.
type ClientCertPolicy struct {
	// exact, suffix ("*.example.com" as ".example.com") and prefix
	// ("example.*" as "example.") map lower-case names to their CA names
	// (nil: none).
	exact  map[string]*x509.CertPool
	suffix map[string]*x509.CertPool
	prefix map[string]*x509.CertPool
	// all asks on every other name too, with anyCAs.
	all    bool
	anyCAs *x509.CertPool
}

// Request reports whether a handshake for serverName asks for a client
// certificate, and the CAs to name in the request (nil: none). A nil
// policy asks nobody.
func (p *ClientCertPolicy) Request(serverName string) (bool, *x509.CertPool) {
	if p == nil {
		return false, nil
	}
	name := strings.ToLower(strings.TrimSuffix(serverName, "."))
	if cas, ok := p.exact[name]; ok {
		return true, cas
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if cas, ok := p.suffix[name[i:]]; ok {
			return true, cas
		}
	}
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if cas, ok := p.prefix[name[:i+1]]; ok {
			return true, cas
		}
	}
	if p.all {
		return true, p.anyCAs
	}
	return false, nil
}

// clientCertificates builds the snapshot's ClientCertPolicy from the
// compiled chains.
func (c *compiler) clientCertificates() {
	if c.snap.Router == nil {
		return
	}
	byName := map[string][]*x509.Certificate{}
	var all bool
	var anyCAs []*x509.Certificate
	for i, re := range c.m.Routes {
		chain := c.snap.Routes[i].Chain
		if chain == nil || !RouteEnabled(re) {
			continue
		}
		needed := false
		var cas []*x509.Certificate
		for _, st := range chain.Access {
			for _, inst := range stepInstances(&st) {
				if u, ok := inst.(plugin.TLSUser); ok {
					if n := u.TLSNeeds(); n.ClientCertificate {
						needed = true
						cas = append(cas, n.ClientCAs...)
					}
				}
			}
		}
		if !needed {
			continue
		}
		if len(re.Route.SNIs) == 0 {
			all = true
			anyCAs = append(anyCAs, cas...)
			continue
		}
		for _, sni := range re.Route.SNIs {
			name := strings.ToLower(strings.TrimSuffix(sni, "."))
			byName[name] = append(byName[name], cas...)
		}
	}
	if !all && len(byName) == 0 {
		return
	}
	p := &ClientCertPolicy{
		exact: map[string]*x509.CertPool{}, suffix: map[string]*x509.CertPool{}, prefix: map[string]*x509.CertPool{},
		all: all, anyCAs: certPool(anyCAs),
	}
	for name, cas := range byName {
		pool := certPool(append(cas, anyCAs...))
		switch {
		case strings.HasPrefix(name, "*."):
			p.suffix[name[1:]] = pool
		case strings.HasSuffix(name, ".*"):
			p.prefix[name[:len(name)-1]] = pool
		default:
			p.exact[name] = pool
		}
	}
	c.snap.ClientCerts = p
}

// stepInstances lists a step's instances: the base one and the
// consumer-specific ones.
func stepInstances(st *Step) []plugin.Instance {
	out := make([]plugin.Instance, 0, 1+len(st.ByConsumer))
	if st.Base != nil {
		out = append(out, st.Base)
	}
	for _, inst := range st.ByConsumer {
		out = append(out, inst)
	}
	return out
}

// certPool pools certs (CertPool keeps one of duplicates); nil when there
// are none.
func certPool(certs []*x509.Certificate) *x509.CertPool {
	if len(certs) == 0 {
		return nil
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}
