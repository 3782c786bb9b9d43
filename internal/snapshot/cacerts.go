package snapshot

import (
	"crypto/x509"
	"maps"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// caCertificates lets plugins find the configuration's `ca_certificates`
// by id (plugin.Env.CACertificate). An instance is reused across reloads
// when its plugin, scope and config are unchanged; one that trusts CA
// certificates (plugin.CACertificateUser) is also rebuilt when one of them
// changed under the same id, so a replaced CA stops being trusted.
func (c *compiler) caCertificates() {
	byID := make(map[string]*config.CACertEntry, len(c.m.CACerts))
	for _, e := range c.m.CACerts {
		if e.CACert.ID != "" && e.X509 != nil {
			byID[e.CACert.ID] = e
		}
	}
	c.d.Env.CACertificate = func(id string) (*x509.Certificate, bool) {
		if e, ok := byID[id]; ok {
			return e.X509, true
		}
		return nil, false
	}
	prev := c.d.Previous
	if prev == nil || prev.Model == nil {
		return
	}
	before := make(map[string]string, len(prev.Model.CACerts))
	for _, e := range prev.Model.CACerts {
		before[e.CACert.ID] = e.Digest
	}
	var stale []string
	for key, inst := range prev.instanceByKey {
		u, ok := inst.(plugin.CACertificateUser)
		if !ok {
			continue
		}
		for _, id := range u.CACertificateIDs() {
			if e := byID[id]; e == nil || e.Digest != before[id] {
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
