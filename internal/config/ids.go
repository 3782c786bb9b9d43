package config

import (
	"crypto/sha1"
	"strings"

	"github.com/turnpikegw/turnpike/internal/ident"
)

// Entities without an id get the one Kong's DB-less loader gives them
// (kong/db/schema/others/declarative_lua, generate_ids): a version 5
// UUID of a per-kind namespace, itself the version 5 UUID of the kind's name
// under Kong's fixed root namespace, and a key: the name for services and
// routes, the username for consumers, the cache key for plugins. Kong gives
// an entity without such a key (a route with no name, a consumer with only
// a custom_id, a plugin nested in one of those) a random id on every load;
// here it gets a stable one derived from its place in the file instead
// (EntityID), so that it survives reloads and is the same on every node.

// kongRootNS is the namespace under which Kong derives one per entity kind.
var kongRootNS = ident.MustParse("fd02801f-0957-4a15-a55a-c8d9606f30b5")

// kongNS holds the per-kind namespaces of config's own kinds, computed
// once; a credential kind's (declared by its plugin) is computed when used.
var kongNS = func() map[string]ident.UUID {
	out := map[string]ident.UUID{}
	for _, kind := range []string{"services", "routes", "consumers", "plugins", "upstreams", "targets"} {
		out[kind] = ident.V5(kongRootNS, kind)
	}
	return out
}()

// KongID is the id Kong derives for an entity of kind (its table name, such
// as "routes") from key.
func KongID(kind, key string) string {
	ns, ok := kongNS[kind]
	if !ok {
		ns = ident.V5(kongRootNS, kind)
	}
	return ident.V5(ns, key).String()
}

// ConsumerID is the id of a consumer: its configured id, Kong's id from its
// username, or a stable one from its custom_id (Kong's is random).
func ConsumerID(co *Consumer) string {
	return namedID("consumers", co.ID, co.Username, "custom_id:"+co.CustomID)
}

// namedID is id, else Kong's id of kind from name, else Turnpike's stable
// one from fallback (where Kong's is random).
func namedID(kind, id, name, fallback string) string {
	switch {
	case id != "":
		return id
	case name != "":
		return KongID(kind, name)
	}
	return EntityID(kind, "", fallback)
}

// serviceID derives a service's id: its configured one, Kong's from its name, or
// a stable one from its place in the file (Kong's is random).
func serviceID(se *ServiceEntry) string {
	return namedID("services", se.Service.ID, se.Service.Name, "|"+se.Path)
}

// routeID derives a route's id, as serviceID.
func routeID(re *RouteEntry) string {
	return namedID("routes", re.Route.ID, re.Route.Name, "|"+re.Path)
}

// pluginID derives a plugin's id: its configured one, Kong's from its cache key,
// or, where Kong's would be random, a stable one from its name and scope (a
// plugin name appears once per scope).
func pluginID(pe *PluginEntry) string {
	if pe.Plugin.ID != "" {
		return pe.Plugin.ID
	}
	if key, ok := pluginCacheKey(pe); ok {
		return KongID("plugins", key)
	}
	var svc, route, consumer string
	if pe.Service != nil {
		svc = pe.Service.ID
	}
	if pe.Route != nil {
		route = pe.Route.ID
	}
	if pe.Consumer != nil {
		consumer = pe.Consumer.ID
	}
	return EntityID("plugins", "", pe.Plugin.Name+"|"+svc+"|"+route+"|"+consumer)
}

// pluginCacheKey is the key Kong derives a plugin's id from: "plugins", the
// workspace ("*" without one), the name, then route, service and consumer,
// each as the file gives it: the reference as written (a name or an id),
// the id of the entity the plugin is nested in, or "" when unset. A
// reference written as a mapping ({id: ...}) adds no part at all, as in
// Kong. It is not ok when the plugin is nested in an entity whose own id
// Kong would not know yet (random): Kong's plugin id is random then too.
func pluginCacheKey(pe *PluginEntry) (string, bool) {
	p := pe.Plugin
	parts := []string{"plugins", "*", p.Name}
	add := func(ref *Ref, nested bool, parentID func() (string, bool)) bool {
		switch {
		case ref != nil:
			if ref.Name != "" {
				parts = append(parts, ref.Name)
			}
		case nested:
			id, ok := parentID()
			if !ok {
				return false
			}
			parts = append(parts, id)
		default:
			parts = append(parts, "")
		}
		return true
	}
	ok := add(p.Route, pe.Route != nil, func() (string, bool) {
		r := pe.Route.Route
		return pe.Route.ID, r.ID != "" || r.Name != ""
	}) && add(p.Service, pe.Service != nil, func() (string, bool) {
		s := pe.Service.Service
		return pe.Service.ID, s.ID != "" || s.Name != ""
	}) && add(p.Consumer, pe.Consumer != nil, func() (string, bool) {
		c := pe.Consumer.Consumer
		return pe.Consumer.ID, c.ID != "" || c.Username != ""
	})
	return strings.Join(parts, ":"), ok
}

// upstreamID derives an upstream's id: its configured one or Kong's from its
// name (which every upstream has).
func upstreamID(ue *UpstreamEntry) string {
	if id := ue.Upstream.ID; id != "" {
		return id
	}
	return KongID("upstreams", ue.Upstream.Name)
}

// targetID derives the id of target te of upstream ue: its configured one or
// Kong's from its cache key, "targets", the workspace, the upstream (as a
// top-level target names it, or the id of the upstream it is nested in)
// and the target as written.
func targetID(ue *UpstreamEntry, te *TargetEntry) string {
	t := te.Target
	if t.ID != "" {
		return t.ID
	}
	up := ue.ID
	if t.Upstream != nil {
		if t.Upstream.Name == "" {
			return KongID("targets", "targets:*:"+t.Target)
		}
		up = t.Upstream.Name
	}
	return KongID("targets", "targets:*:"+up+":"+t.Target)
}

// certificateID derives a certificate's id: its configured one or a stable one
// from its place in the file (it has no name; Kong's is random). Not from
// its PEM: the same certificate may be given twice, for other SNIs.
func certificateID(ce *CertificateEntry) string {
	return EntityID("certificates", ce.Certificate.ID, "|"+ce.Path)
}

// EntityID returns id, or a name-based UUID (version 5 layout) of kind and
// key when id is empty: Turnpike's own derivation, for entities Kong gives
// a random id.
func EntityID(kind, id, key string) string {
	if id != "" {
		return id
	}
	return ident.V5Layout(sha1.Sum([]byte("turnpike:" + kind + ":" + key))).String()
}

// Label names a service in messages: its name, or else its id.
func (se *ServiceEntry) Label() string {
	if se.Service.Name != "" {
		return se.Service.Name
	}
	return se.ID
}
