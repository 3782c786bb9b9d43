package snapshot

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"maps"

	"github.com/turnpikegw/turnpike/internal/config"
)

// entityIndex holds the entities plugin builds look up: a configuration's
// `certificates` and `ca_certificates` by id, for plugin.Env.Certificates,
// and its named services' ids, for plugin.Env.ServiceIDs.
type entityIndex struct {
	certs    map[string]*config.CertificateEntry
	cas      map[string]*config.CACertEntry
	services map[string]string
}

// depKind is the kind of entity a dep's id names.
type depKind uint8

const (
	depCertificate depKind = iota // a `certificates` entity, by id
	depCACert                     // a `ca_certificates` entity, by id
	depService                    // a service, by name
)

// entityDep is an entity a plugin build looked up, and its digest then
// ("" when it was not found). A service's digest is its id, so a kept
// instance never holds an id its name no longer has.
type entityDep struct {
	kind   depKind
	id     string
	digest string
}

// digest identifies the content of the entity dep names in cs.
func (cs *entityIndex) digest(d entityDep) string {
	switch d.kind {
	case depService:
		return cs.services[d.id]
	case depCACert:
		if e := cs.cas[d.id]; e != nil {
			return e.Digest
		}
		return ""
	}
	e := cs.certs[d.id]
	if e == nil {
		return ""
	}
	c := e.Certificate
	sum := sha256.Sum256([]byte(c.Cert + "\x00" + c.Key + "\x00" + c.CertAlt + "\x00" + c.KeyAlt))
	return hex.EncodeToString(sum[:])
}

// entityLookups is the plugin.Certificates and plugin.ServiceIDs one
// build sees: it notes what the build looked up.
type entityLookups struct {
	from *entityIndex
	deps []entityDep
}

func (l *entityLookups) note(d entityDep) {
	d.digest = l.from.digest(d)
	l.deps = append(l.deps, d)
}

// ServiceID is the id of the service called name.
func (l *entityLookups) ServiceID(name string) (string, bool) {
	l.note(entityDep{kind: depService, id: name})
	id, ok := l.from.services[name]
	return id, ok
}

// Certificate is the key pair of a `certificates` entity (its cert and
// key; cert_alt is for the TLS listener).
func (l *entityLookups) Certificate(id string) (*tls.Certificate, bool) {
	l.note(entityDep{kind: depCertificate, id: id})
	e := l.from.certs[id]
	if e == nil {
		return nil, false
	}
	pair, err := tls.X509KeyPair([]byte(e.Certificate.Cert), []byte(e.Certificate.Key))
	if err != nil {
		return nil, false
	}
	return &pair, true
}

// CACertificate is a `ca_certificates` entity that validated.
func (l *entityLookups) CACertificate(id string) (*x509.Certificate, bool) {
	l.note(entityDep{kind: depCACert, id: id})
	if e := l.from.cas[id]; e != nil {
		return e.X509, true
	}
	return nil, false
}

// indexEntities indexes the configuration's certificates and service
// names for plugins (plugin.Env.Certificates, plugin.Env.ServiceIDs). An
// instance is reused across reloads when its plugin, scope and config
// are unchanged; one whose build looked up a certificate that changed
// under the same id (or appeared, or went), or a name that now has
// another id, is built anew, so that a replaced CA stops being trusted.
func (c *compiler) indexEntities() {
	cs := &entityIndex{
		certs:    make(map[string]*config.CertificateEntry, len(c.m.Certificates)),
		cas:      make(map[string]*config.CACertEntry, len(c.m.CACerts)),
		services: make(map[string]string, len(c.m.Services)),
	}
	for _, e := range c.m.Services {
		if e.Service.Name != "" {
			cs.services[e.Service.Name] = e.ID
		}
	}
	for _, e := range c.m.Certificates {
		if e.Certificate.ID != "" {
			cs.certs[e.Certificate.ID] = e
		}
	}
	for _, e := range c.m.CACerts {
		if e.CACert.ID != "" && e.X509 != nil {
			cs.cas[e.CACert.ID] = e
		}
	}
	c.snap.entities = cs
	prev := c.d.Previous
	if prev == nil {
		return
	}
	var stale []string
	for key, deps := range prev.entityDeps {
		for _, d := range deps {
			if cs.digest(d) != d.digest {
				stale = append(stale, key)
				break
			}
		}
	}
	if len(stale) == 0 {
		return
	}
	reusable := maps.Clone(prev.instanceByKey)
	for _, key := range stale {
		delete(reusable, key)
	}
	// Only this compile's view of the previous snapshot changes: the
	// snapshot itself is in force and read by requests.
	view := *prev
	view.instanceByKey = reusable
	c.d.Previous = &view
}
