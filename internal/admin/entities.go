package admin

import (
	"github.com/goccy/go-yaml"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// The entity kinds served read-only, in the order Kong lists them.
var kinds = []string{"services", "routes", "consumers", "plugins", "upstreams", "targets", "certificates"}

// entity is one rendered entity with what lists filter it by.
type entity struct {
	id string
	// key is the endpoint key Kong also looks entities up by: name,
	// username, instance_name or target.
	key  string
	tags []string
	body map[string]any
	// Foreign keys (ids) for the nested lists.
	service, route, consumer, upstream string
}

// index is every entity of one snapshot, rendered once: a snapshot never
// changes, so lists and lookups are served from this until the next swap.
type index struct {
	snap   *snapshot.Snapshot
	byKind map[string][]*entity
}

// entities returns the index of the snapshot in force (nil before the
// first load), building it on the first request after a swap.
func (a *api) entities() *index {
	snap := a.snapshot()
	if snap == nil {
		return nil
	}
	if ix := a.index.Load(); ix != nil && ix.snap == snap {
		return ix
	}
	// The time of the load that put the configuration in force, which a
	// DNS recompile of the same configuration keeps; the echo of
	// request-termination shows the same.
	ix := buildIndex(snap, a.src.Registry, snap.Created())
	a.index.Store(ix)
	return ix
}

// find looks an entity up by id, then by endpoint key, as Kong does.
func (ix *index) find(kind, idOrKey string) *entity {
	for _, e := range ix.byKind[kind] {
		if e.id == idOrKey {
			return e
		}
	}
	for _, e := range ix.byKind[kind] {
		if e.key != "" && e.key == idOrKey {
			return e
		}
	}
	return nil
}

// buildIndex renders the model with Kong's field names and defaults.
// Service and route ids are taken from the compiled snapshot (what the
// proxy hands plugins and logs), consumer ids from config.ConsumerID;
// other entities without an id get a stable name-based one, so the ids
// an operator sees survive reloads.
func buildIndex(snap *snapshot.Snapshot, reg *plugin.Registry, created int64) *index {
	m := snap.Model
	ix := &index{snap: snap, byKind: map[string][]*entity{}}
	ts := func(v int64) int64 {
		if v != 0 {
			return v
		}
		return created
	}

	for _, ce := range m.Certificates {
		c := ce.Certificate
		// Certificates have no name; the PEM itself is the stable key.
		id := config.CertificateID(ce)
		ix.add("certificates", &entity{id: id, tags: c.Tags, body: map[string]any{
			"id": id, "cert": c.Cert, "cert_alt": snapshot.OrNull(c.CertAlt), "snis": snapshot.ListOrNull(ce.SNINames),
			"tags": snapshot.ListOrNull(c.Tags), "created_at": ts(c.CreatedAt), "updated_at": ts(c.UpdatedAt),
		}})
	}

	upIDs := map[*config.UpstreamEntry]string{}
	for _, ue := range m.Upstreams {
		u := ue.Upstream
		id := config.UpstreamID(ue)
		upIDs[ue] = id
		ix.add("upstreams", &entity{id: id, key: u.Name, tags: u.Tags, body: map[string]any{
			"id": id, "name": u.Name, "algorithm": u.Algorithm,
			"hash_on": u.HashOn, "hash_fallback": u.HashFallback,
			"hash_on_header": snapshot.OrNull(u.HashOnHeader), "hash_fallback_header": snapshot.OrNull(u.HashFallbackHeader),
			"hash_on_cookie": snapshot.OrNull(u.HashOnCookie), "hash_on_cookie_path": u.HashOnCookiePath,
			"hash_on_query_arg": snapshot.OrNull(u.HashOnQueryArg), "hash_fallback_query_arg": snapshot.OrNull(u.HashFallbackQueryArg),
			"hash_on_uri_capture": snapshot.OrNull(u.HashOnURICapture), "hash_fallback_uri_capture": snapshot.OrNull(u.HashFallbackURICapture),
			"slots": u.Slots, "healthchecks": plain(u.Healthchecks), "host_header": snapshot.OrNull(u.HostHeader),
			"client_certificate": ref(u.ClientCert), "use_srv_name": u.UseSRVName,
			"tags": snapshot.ListOrNull(u.Tags), "created_at": ts(u.CreatedAt), "updated_at": ts(u.UpdatedAt),
		}})
		for _, te := range ue.Targets {
			t := te.Target
			tid := config.TargetID(ue, te)
			// Kong's target timestamps are fractional seconds.
			at := t.CreatedAt
			if at == 0 {
				at = float64(created)
			}
			ix.add("targets", &entity{id: tid, key: t.Target, tags: t.Tags, upstream: id, body: map[string]any{
				"id": tid, "target": t.Target, "weight": t.Weight, "upstream": map[string]any{"id": id},
				"tags": snapshot.ListOrNull(t.Tags), "created_at": at, "updated_at": at,
			}})
		}
	}

	svcIDs := map[*config.ServiceEntry]string{}
	for _, se := range m.Services {
		s := se.Service
		id := config.ServiceID(se)
		svcIDs[se] = id
		ix.add("services", &entity{id: id, key: s.Name, tags: s.Tags, body: snapshot.ServiceBody(se, created)})
	}

	routeIDs := map[*config.RouteEntry]string{}
	for _, re := range m.Routes {
		r := re.Route
		id := config.RouteID(re)
		routeIDs[re] = id
		svcID := ""
		if re.Service != nil {
			svcID = svcIDs[re.Service]
		}
		ix.add("routes", &entity{id: id, key: r.Name, tags: r.Tags, service: svcID, body: snapshot.RouteBody(re, created)})
	}

	consIDs := map[*config.ConsumerEntry]string{}
	for _, ce := range m.Consumers {
		c := ce.Consumer
		id := config.ConsumerID(c)
		consIDs[ce] = id
		ix.add("consumers", &entity{id: id, key: c.Username, tags: c.Tags, body: map[string]any{
			"id": id, "username": snapshot.OrNull(c.Username), "custom_id": snapshot.OrNull(c.CustomID),
			"tags": snapshot.ListOrNull(c.Tags), "created_at": ts(c.CreatedAt), "updated_at": ts(c.UpdatedAt),
		}})
	}

	for _, pe := range m.Plugins {
		p := pe.Plugin
		e := &entity{key: p.InstanceName, tags: p.Tags}
		fk := func(id string) any {
			if id == "" {
				return nil
			}
			return map[string]any{"id": id}
		}
		if pe.Service != nil {
			e.service = svcIDs[pe.Service]
		}
		if pe.Route != nil {
			e.route = routeIDs[pe.Route]
		}
		if pe.Consumer != nil {
			e.consumer = consIDs[pe.Consumer]
		}
		e.id = config.PluginID(pe)
		e.body = map[string]any{
			"id": e.id, "name": p.Name, "instance_name": snapshot.OrNull(p.InstanceName),
			"service": fk(e.service), "route": fk(e.route), "consumer": fk(e.consumer),
			"config": pluginConfig(reg, pe), "protocols": p.Protocols, "enabled": p.Enabled,
			"tags": snapshot.ListOrNull(p.Tags), "created_at": ts(p.CreatedAt), "updated_at": ts(p.UpdatedAt),
		}
		ix.add("plugins", e)
	}
	ix.addCredentials(reg, created)
	return ix
}

func (ix *index) add(kind string, e *entity) { ix.byKind[kind] = append(ix.byKind[kind], e) }

// pluginConfig is the plugin's config with its defaults filled in, as Kong
// shows it; the config as written when the plugin is not in this binary
// (possible for a disabled entry, which is never compiled).
func pluginConfig(reg *plugin.Registry, pe *config.PluginEntry) any {
	if reg != nil {
		if r, ok := reg.Lookup(pe.Plugin.Name); ok {
			cfg := r.NewConfig()
			if errs := pe.Plugin.Config.DecodeWritten(cfg); len(errs) == 0 {
				if v := plain(cfg); v != nil {
					return v
				}
			}
		}
	}
	if !pe.Plugin.Config.IsSet() {
		return map[string]any{}
	}
	return pe.Plugin.Config.Value()
}

// plain converts a config struct to untyped data through its yaml tags,
// which carry Kong's field names (the structs have no json tags).
func plain(v any) any {
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		return nil
	}
	return out
}

func ref(r *config.Ref) any {
	if r == nil || r.Key() == "" {
		return nil
	}
	return map[string]any{"id": r.Key()}
}
