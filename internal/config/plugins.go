package config

import "strings"

// scope is the kind of entity a plugin is nested in.
type scope int

const (
	scopeNone scope = iota
	scopeService
	scopeRoute
	scopeConsumer
)

var scopeNames = map[scope]string{scopeService: "service", scopeRoute: "route", scopeConsumer: "consumer"}

// pendingPlugin is a plugin whose own foreign keys are resolved only once
// every route, service and consumer is known.
type pendingPlugin struct {
	entry  *PluginEntry
	nested scope
}

// pluginsOf makes entries for plugins nested in an entity; the parent's
// foreign key is implied. Kong gives a plugin nested in a route nested in a
// service only the route, so parents are not inherited further up.
func (b *builder) pluginsOf(ps []Plugin, path string, nested scope, svc *ServiceEntry, route *RouteEntry, cons *ConsumerEntry) []pendingPlugin {
	out := make([]pendingPlugin, 0, len(ps))
	for i := range ps {
		e := &PluginEntry{Path: at(path, i), Plugin: &ps[i], Service: svc, Route: route, Consumer: cons}
		out = append(out, pendingPlugin{entry: e, nested: nested})
	}
	return out
}

func (b *builder) resolvePlugins(ps []pendingPlugin) {
	type scopeKey struct {
		name     string
		service  *ServiceEntry
		route    *RouteEntry
		consumer *ConsumerEntry
	}
	seen := map[scopeKey]string{}
	instances := index[*PluginEntry]{}
	for _, pp := range ps {
		if b.cp.stop() {
			return
		}
		e, p, path := pp.entry, pp.entry.Plugin, pp.entry.Path
		b.checkID(p.ID, path)
		if p.Name == "" {
			b.err(JoinPath(path, "name"), "required field missing")
		}
		for j, proto := range p.Protocols {
			if !pluginProtocols[proto] {
				b.errf(at(JoinPath(path, "protocols"), j), "expected one of: %s", strings.Join(PluginProtocolList, ", "))
			}
		}
		refs := []struct {
			s   scope
			ref *Ref
		}{{scopeService, p.Service}, {scopeRoute, p.Route}, {scopeConsumer, p.Consumer}}
		ok := true
		for _, r := range refs {
			if r.ref == nil {
				continue
			}
			rpath := JoinPath(path, scopeNames[r.s])
			if pp.nested == r.s {
				id, key := e.parentKeys(r.s)
				ok = b.checkNestedRef(rpath, scopeNames[r.s], r.ref.ID, r.ref.Name, id, key) && ok
				continue
			}
			if !b.resolvePluginRef(e, r.s, r.ref, rpath) {
				ok = false
			}
		}
		b.m.Plugins = append(b.m.Plugins, e)
		register(b, &instances, "instance_name", p.InstanceName, path, e)
		if !ok || p.Name == "" {
			continue
		}
		// Kong's cache key is (name, route, service, consumer): one instance
		// per plugin per scope; instance_name does not relax it.
		k := scopeKey{name: p.Name, service: e.Service, route: e.Route, consumer: e.Consumer}
		if first, dup := seen[k]; dup {
			b.dupf(path, first, false, "duplicate plugin '%s' for the same service, route and consumer", p.Name)
			b.refusedKey(path)
			continue
		}
		seen[k] = path
	}
}

// parentKeys are the id and endpoint key of the entity of scope s that the
// plugin is nested in.
func (e *PluginEntry) parentKeys(s scope) (id, key string) {
	switch s {
	case scopeService:
		return e.Service.Service.ID, e.Service.Service.Name
	case scopeRoute:
		return e.Route.Route.ID, e.Route.Route.Name
	case scopeConsumer:
		return e.Consumer.Consumer.ID, e.Consumer.Consumer.Username
	}
	return "", ""
}

func (b *builder) resolvePluginRef(e *PluginEntry, s scope, ref *Ref, path string) bool {
	key := ref.Key()
	if key == "" {
		b.err(path, "must set 'id' or 'name'")
		return false
	}
	switch s {
	case scopeService:
		e.Service = b.resolveService(ref, path)
		return e.Service != nil
	case scopeRoute:
		r, ok := b.routes.lookup(key)
		if !ok {
			b.errf(path, "route '%s' not found", key)
			return false
		}
		e.Route = r
	case scopeConsumer:
		c, ok := b.consumers.lookup(key)
		if !ok {
			b.errf(path, "consumer '%s' not found", key)
			return false
		}
		e.Consumer = c
	}
	return true
}

// PluginProtocolList are the protocols a plugin may run on (the admin
// API's schemas list them).
var PluginProtocolList = []string{"grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss"}

var pluginProtocols = setOf(PluginProtocolList...)

func setOf(vals ...string) map[string]bool {
	m := make(map[string]bool, len(vals))
	for _, v := range vals {
		m[v] = true
	}
	return m
}
