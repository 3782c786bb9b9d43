package config

import "strings"

// Every entity of a kind must end up with an id of its own, whether the
// file gives it or it is derived (ids.go): the admin API finds entities by
// id, the router breaks priority ties by route id, and rate-limiting keys
// shared counters by plugin id. Kong's DB-less loader refuses the same
// files ("uniqueness violation: ... with primary key set to ... already
// declared"), derived ids included. Ids are compared in lower case: a UUID
// reads the same in either case (ident.Parse), so two spellings are one id.

// idSite is where an id of a kind was first met.
type idSite struct {
	path    string
	derived bool
}

// idSet holds the ids of one kind, in lower case.
type idSet map[string]idSite

// claimID records the id of the entity at path: written is the id the file
// gives ("" for none), id the effective one. A written id is reported at
// its field, a derived one at the entity. An entity already refused for a
// duplicate key (name, username, scope) is not reported again for the id
// derived from that key.
func (b *builder) claimID(ids idSet, written, id, path string) {
	if id == "" {
		return
	}
	derived := written == ""
	if derived && b.dupKeys[path] {
		return
	}
	key := strings.ToLower(id)
	first, dup := ids[key]
	if !dup {
		ids[key] = idSite{path: path, derived: derived}
		return
	}
	what, epath := "duplicate id", JoinPath(path, "id")
	if derived {
		what, epath = "duplicate derived id", path
	}
	b.dupf(epath, first.path, first.derived, what+" '%s'", id)
}

// checkEntityIDs claims the effective id of every entity in the model, one
// set per kind, and sets the ids of the entries whose ids derive from
// others (plugins from their scope, targets from their upstream) or are
// claimed only here (certificates); it runs once every reference is
// resolved. Kinds whose ids are never derived (vaults,
// SNIs, CA certificates) are claimed where they are built.
func (b *builder) checkEntityIDs() {
	m := b.m
	claim := func(n int, each func(ids idSet, i int)) {
		ids := make(idSet, n)
		for i := 0; i < n && !b.cp.stop(); i++ {
			each(ids, i)
		}
	}
	claim(len(m.Services), func(ids idSet, i int) {
		se := m.Services[i]
		path := se.Path
		if se.Implicit {
			// The service a route's url: makes is named after the route,
			// and reported at the url.
			if b.dupKeys[path] {
				return
			}
			path = JoinPath(path, "url")
		}
		b.claimID(ids, se.Service.ID, se.ID, path)
	})
	claim(len(m.Routes), func(ids idSet, i int) {
		re := m.Routes[i]
		b.claimID(ids, re.Route.ID, re.ID, re.Path)
	})
	claim(len(m.Consumers), func(ids idSet, i int) {
		ce := m.Consumers[i]
		b.claimID(ids, ce.Consumer.ID, ce.ID, ce.Path)
	})
	claim(len(m.Plugins), func(ids idSet, i int) {
		pe := m.Plugins[i]
		pe.ID = pluginID(pe)
		b.claimID(ids, pe.Plugin.ID, pe.ID, pe.Path)
	})
	claim(len(m.Upstreams), func(ids idSet, i int) {
		ue := m.Upstreams[i]
		b.claimID(ids, ue.Upstream.ID, ue.ID, ue.Path)
	})
	targets := idSet{}
	for _, ue := range m.Upstreams {
		for _, te := range ue.Targets {
			if b.cp.stop() {
				return
			}
			te.ID = targetID(ue, te)
			b.claimID(targets, te.Target.ID, te.ID, te.Path)
		}
	}
	claim(len(m.Certificates), func(ids idSet, i int) {
		ce := m.Certificates[i]
		ce.ID = certificateID(ce)
		b.claimID(ids, ce.Certificate.ID, ce.ID, ce.Path)
	})
	b.claimCredentialIDs()
}
