package admin

import (
	"reflect"

	"github.com/goccy/go-yaml"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// The entity kinds served read-only, in the order Kong lists them.
var kinds = []string{"services", "routes", "consumers", "plugins", "upstreams", "targets", "certificates", "snis", "ca_certificates"}

// entity is one rendered entity with what lists filter it by.
type entity struct {
	id string
	// key is the endpoint key Kong also looks entities up by: name,
	// username, instance_name, target or a credential's key.
	key string
	// consumerKey is a credential's key among its consumer's credentials
	// of its kind (/consumers/{c}/{endpoint}/{key}): key, or for a
	// PerConsumer kind, whose keys are not unique across consumers, its
	// key where key is empty.
	consumerKey string
	tags        []string
	body        map[string]any
	// Foreign keys (ids) for the nested lists.
	service, route, consumer, upstream, certificate string
	// pe is a plugin entity's entry, which its running instance is
	// looked up by: deriving the id again would cost a hash per entry.
	pe *config.PluginEntry
}

// index is every entity of one snapshot, rendered once: a snapshot never
// changes, so lists and lookups are served from this until the next swap.
type index struct {
	snap   *snapshot.Snapshot
	byKind map[string][]*entity
	tags   tagIndex
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
	ix := buildIndex(snap, a.src.Registry, a.kinds, snap.Created())
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

// buildIndex renders the model with Kong's field names and defaults, from
// the entity types' field tags (render). Ids are the ones config assigned
// when it built the model (configured or derived), the same the proxy
// hands plugins and logs, so the ids an operator sees survive reloads.
// kinds orders the /tags rows (api.kinds).
func buildIndex(snap *snapshot.Snapshot, reg *plugin.Registry, kinds []string, created int64) *index {
	m := snap.Model
	ix := &index{snap: snap, byKind: map[string][]*entity{}}

	for _, ce := range m.Certificates {
		c := ce.Certificate
		id := ce.ID
		body := render(c, created)
		body["id"], body["snis"] = id, snapshot.ListOrNull(ce.SNINames())
		ix.add("certificates", &entity{id: id, tags: c.Tags, body: body})
		ix.addSNIs(ce, created)
	}
	ix.addCACerts(m.CACerts, created)

	for _, ue := range m.Upstreams {
		u := ue.Upstream
		id := ue.ID
		body := render(u, created)
		body["id"] = id
		ix.add("upstreams", &entity{id: id, key: u.Name, tags: u.Tags, body: body})
		for _, te := range ue.Targets {
			t := te.Target
			tid := te.ID
			body := render(t, created)
			// Kong replaces a target rather than update it, so it was last
			// updated when it was created.
			body["id"], body["upstream"], body["updated_at"] = tid, map[string]any{"id": id}, body["created_at"]
			ix.add("targets", &entity{id: tid, key: t.Target, tags: t.Tags, upstream: id, body: body})
		}
	}

	for _, se := range m.Services {
		s := se.Service
		ix.add("services", &entity{id: se.ID, key: s.Name, tags: s.Tags, body: snapshot.ServiceBody(se, created)})
	}

	for _, re := range m.Routes {
		r := re.Route
		svcID := ""
		if re.Service != nil {
			svcID = re.Service.ID
		}
		ix.add("routes", &entity{id: re.ID, key: r.Name, tags: r.Tags, service: svcID, body: snapshot.RouteBody(re, created)})
	}

	for _, ce := range m.Consumers {
		c := ce.Consumer
		body := render(c, created)
		body["id"] = ce.ID
		ix.add("consumers", &entity{id: ce.ID, key: c.Username, tags: c.Tags, body: body})
	}

	for _, pe := range m.Plugins {
		p := pe.Plugin
		e := &entity{key: p.InstanceName, tags: p.Tags, pe: pe}
		fk := func(id string) any {
			if id == "" {
				return nil
			}
			return map[string]any{"id": id}
		}
		if pe.Service != nil {
			e.service = pe.Service.ID
		}
		if pe.Route != nil {
			e.route = pe.Route.ID
		}
		if pe.Consumer != nil {
			e.consumer = pe.Consumer.ID
		}
		e.id = pe.ID
		e.body = render(p, created)
		e.body["id"], e.body["config"] = e.id, pluginConfig(reg, pe)
		e.body["service"], e.body["route"], e.body["consumer"] = fk(e.service), fk(e.route), fk(e.consumer)
		ix.add("plugins", e)
	}
	ix.addCredentials(reg, created)
	ix.tags = newTagIndex(ix, kinds)
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
				if v := plainOrdered(cfg); v != nil {
					return showAllFields(v, reflect.TypeOf(cfg))
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

// plainOrdered is plain keeping the order of maps, as JSON shows it (a
// plugin config's: the logging plugin's log_format is the shape of its
// lines, and its fields come in Kong's schema order).
func plainOrdered(v any) any {
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if err := yaml.UnmarshalWithOptions(b, &out, yaml.UseOrderedMap()); err != nil {
		return nil
	}
	return plugin.OrderedFrom(out)
}

func ref(r *config.Ref) any {
	if r == nil || r.Key() == "" {
		return nil
	}
	return map[string]any{"id": r.Key()}
}
