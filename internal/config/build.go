package config

import (
	"context"
	"fmt"
	"strconv"
)

// builder validates a decoded Config and flattens it into a Model.
type builder struct {
	// ctx ends the slow work (a kind's Finish: password hashing) of an
	// abandoned load.
	ctx   context.Context
	cfg   *Config
	lines map[string]int
	m     *Model
	// errs holds the errors of the whole load, decoding's first.
	errs *ErrorList
	// decodeErrs is where decoding found errors: see covered.
	decodeErrs map[string]bool
	// cp stops the loops over entities of an abandoned load.
	cp checkpoint
	// dupKeys are the paths of entities refused for a duplicate key: see
	// claimID.
	dupKeys map[string]bool
	// kinds are the declared credential kinds (Options.Credentials).
	kinds []*CredentialKind

	services  index[*ServiceEntry]
	routes    index[*RouteEntry]
	consumers index[*ConsumerEntry]
	// customIDs is kept apart from consumers: custom_id is unique but is
	// not a key that plugins may refer to.
	customIDs index[*ConsumerEntry]
	upstreams index[*UpstreamEntry]
	certs     index[*CertificateEntry]
	caCerts   index[*CACertEntry]
}

// index finds entities by id or by their endpoint key (name, username) and
// remembers where each key was first defined, for duplicate errors. Ids and
// keys are kept apart and a reference is looked up as an id first, as Kong
// does: an entity named like another's id must not take references meant
// for that one.
type index[T any] struct {
	byID  map[string]T
	byKey map[string]T
	where map[string]string
}

// add indexes v under its id for lookups without checking that it is
// unique: ids are, once every id is known (checkEntityIDs). The first
// entity keeps the id. The id is written or derived: Kong finds a reference
// written as the id it derived from a name too.
func (ix *index[T]) add(id string, v T) {
	if id == "" {
		return
	}
	if ix.byID == nil {
		ix.byID = map[string]T{}
	}
	if _, ok := ix.byID[id]; !ok {
		ix.byID[id] = v
	}
}

func (ix *index[T]) lookup(key string) (T, bool) {
	if v, ok := ix.byID[key]; ok {
		return v, true
	}
	return ix.named(key)
}

// named finds an entity by its endpoint key only: a service's host names an
// upstream, never its id.
func (ix *index[T]) named(key string) (T, bool) {
	v, ok := ix.byKey[key]
	return v, ok
}

// newBuilder makes a builder for cfg, which decoding filled with the errors
// already in errs; the builder adds its own.
func newBuilder(ctx context.Context, cfg *Config, lines map[string]int, errs *ErrorList) *builder {
	b := &builder{ctx: ctx, cfg: cfg, lines: lines, m: &Model{FormatVersion: cfg.FormatVersion},
		errs: errs, cp: checkpoint{ctx: ctx}}
	for _, e := range errs.errs {
		if e.Path != "" {
			if b.decodeErrs == nil {
				b.decodeErrs = map[string]bool{}
			}
			b.decodeErrs[e.Path] = true
		}
	}
	return b
}

// covered reports whether decoding found an error at path or at a field
// above it. A field that failed to decode also fails validation (a host of
// the wrong type is then missing); only the first, more precise, error is
// worth reporting. Each ancestor is looked up once, so filtering costs the
// depth of a path, not the number of errors.
func (b *builder) covered(path string) bool {
	if b.decodeErrs == nil {
		return false
	}
	if b.decodeErrs[path] {
		return true
	}
	for i := len(path) - 1; i > 0; i-- {
		if (path[i] == '.' || path[i] == '[') && b.decodeErrs[path[:i]] {
			return true
		}
	}
	return false
}

func (b *builder) err(path, msg string) { b.add(FieldError{Path: path, Message: msg}) }

// add adds e, with its line, unless decoding found an error there (see
// covered).
func (b *builder) add(e FieldError) {
	if b.covered(e.Path) {
		return
	}
	if !b.errs.Full() {
		e.Line = lineOf(b.lines, e.Path)
	}
	b.errs.Add(e)
}

// errf is err with a formatted message (see sprintf).
func (b *builder) errf(path, format string, args ...any) { b.err(path, b.sprintf(format, args...)) }

// dupf reports at path a key or id that the entity at first had before
// (see Duplicate), its message formatted as errf's.
func (b *builder) dupf(path, first string, firstDerived bool, format string, args ...any) {
	if b.errs.Full() {
		b.err(path, format)
		return
	}
	b.add(Duplicate(path, b.sprintf(format, args...), first, firstDerived))
}

// sprintf formats an error's message. Strings from the document are
// shortened first, and nothing is formatted once errors are only counted:
// a long value repeated by aliases would otherwise be copied into every
// message.
func (b *builder) sprintf(format string, args ...any) string {
	if b.errs.Full() {
		return format
	}
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = Shorten(s, maxQuoted)
		}
	}
	return fmt.Sprintf(format, args...)
}

// warn records a warning at path (see Model.Warnings).
func (b *builder) warn(path, msg string) {
	b.m.Warnings = append(b.m.Warnings, FieldError{Path: path, Message: msg, Line: lineOf(b.lines, path)})
}

// register adds key to ix unless it is empty or taken; kind names the key in
// the duplicate error ("name", "username").
func register[T any](b *builder, ix *index[T], kind, key, path string, v T) {
	if key == "" {
		return
	}
	if ix.byKey == nil {
		ix.byKey, ix.where = map[string]T{}, map[string]string{}
	}
	if first, ok := ix.where[key]; ok {
		b.dupf(JoinPath(path, kind), first, false, "duplicate %s '%s'", kind, key)
		b.refusedKey(path)
		return
	}
	ix.byKey[key], ix.where[key] = v, path
}

// refusedKey notes that the entity at path was refused for a duplicate key.
func (b *builder) refusedKey(path string) {
	if b.dupKeys == nil {
		b.dupKeys = map[string]bool{}
	}
	b.dupKeys[path] = true
}

func at(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// build runs the stages in dependency order: entities that others refer to
// (upstreams, certificates) first, plugins last.
//
// Model order is the order a reader meets entities in the file: services in
// order (implicit services of `url:` routes appended as they are met),
// routes nested in services in file order followed by top-level routes, and
// plugins as met walking services (with their routes), top-level routes,
// consumers, then top-level plugins. The router breaks priority ties by
// route id, and by this order only among the paths of one route.
func (b *builder) build() {
	b.checkFormatVersion()
	b.buildVaults()
	b.buildCACertificates()
	b.buildCertificates()
	b.buildUpstreams()

	var nested []pendingPlugin
	// All services are indexed before any route so that a route may refer
	// to a service declared after it.
	entries := make([]*ServiceEntry, len(b.cfg.Services))
	for i := range b.cfg.Services {
		if b.cp.stop() {
			return
		}
		entries[i] = b.addService(&b.cfg.Services[i], at("services", i))
	}
	for i, entry := range entries {
		svc := &b.cfg.Services[i]
		path := at("services", i)
		nested = append(nested, b.pluginsOf(svc.Plugins, JoinPath(path, "plugins"), scopeService, entry, nil, nil)...)
		for j := range svc.Routes {
			if b.cp.stop() {
				return
			}
			rpath := at(JoinPath(path, "routes"), j)
			r := b.addRoute(&svc.Routes[j], rpath, entry)
			nested = append(nested, b.pluginsOf(svc.Routes[j].Plugins, JoinPath(rpath, "plugins"), scopeRoute, nil, r, nil)...)
		}
	}
	for i := range b.cfg.Routes {
		if b.cp.stop() {
			return
		}
		path := at("routes", i)
		r := b.addRoute(&b.cfg.Routes[i], path, nil)
		nested = append(nested, b.pluginsOf(b.cfg.Routes[i].Plugins, JoinPath(path, "plugins"), scopeRoute, nil, r, nil)...)
	}
	consumers := make([]*ConsumerEntry, len(b.cfg.Consumers))
	for i := range b.cfg.Consumers {
		if b.cp.stop() {
			return
		}
		path := at("consumers", i)
		c := b.addConsumer(&b.cfg.Consumers[i], path)
		consumers[i] = c
		nested = append(nested, b.pluginsOf(b.cfg.Consumers[i].Plugins, JoinPath(path, "plugins"), scopeConsumer, nil, nil, c)...)
	}
	b.buildCredentials(consumers)
	nested = append(nested, b.pluginsOf(b.cfg.Plugins, "plugins", scopeNone, nil, nil, nil)...)
	b.resolvePlugins(nested)
	b.checkEntityIDs()
}

func (b *builder) checkFormatVersion() {
	switch v := b.cfg.FormatVersion; v {
	case "3.0":
	case "1.1", "2.1":
		b.migratePaths()
	case "":
		b.err("_format_version", "required field missing")
	default:
		b.errf("_format_version", "unsupported _format_version '%s' (expected one of: 1.1, 2.1, 3.0)", v)
	}
}

// migratePaths applies Kong's 2.x → 3.0 migration: in older formats every
// path was a regex, so a path using anything beyond the characters of a
// plain URL path is marked as a regex with `~`, and a plain one is
// normalised.
func (b *builder) migratePaths() {
	migrate := func(r *Route) {
		for i, p := range r.Paths {
			if isPlainPath(p) {
				r.Paths[i] = normalizePath(p)
			} else {
				r.Paths[i] = "~" + p
			}
		}
	}
	for i := range b.cfg.Routes {
		migrate(&b.cfg.Routes[i])
	}
	for i := range b.cfg.Services {
		for j := range b.cfg.Services[i].Routes {
			migrate(&b.cfg.Services[i].Routes[j])
		}
	}
}

func isPlainPath(p string) bool {
	for _, c := range p {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == '_', c == '~', c == '/', c == '%':
		default:
			return false
		}
	}
	return true
}

// addService validates an explicit service and indexes it by name and id.
func (b *builder) addService(s *Service, path string) *ServiceEntry {
	e := &ServiceEntry{Path: path, Service: s}
	b.checkID(s.ID, path)
	b.checkService(s, path, s.URL != "")
	if u, ok := b.upstreams.named(s.Host); ok && s.Host != "" {
		e.Upstream = u
	}
	e.ID = serviceID(e)
	b.m.Services = append(b.m.Services, e)
	b.services.add(e.ID, e)
	register(b, &b.services, "name", s.Name, path, e)
	return e
}

func (b *builder) addRoute(r *Route, path string, parent *ServiceEntry) *RouteEntry {
	e := &RouteEntry{Path: path, Route: r, Service: parent}
	b.checkID(r.ID, path)
	b.checkRoute(r, path)
	switch {
	case parent != nil && r.URL != "":
		b.err(JoinPath(path, "url"), "cannot be set on a route nested in a service")
	case parent != nil && r.Service != nil:
		b.checkNestedRef(JoinPath(path, "service"), "service", r.Service.ID, r.Service.Name, parent.Service.ID, parent.Service.Name)
	case r.URL != "" && r.Service != nil:
		b.err(JoinPath(path, "url"), "'url' and 'service' cannot both be set")
	case r.URL != "":
		e.Service = b.implicitService(r, path)
	case r.Service != nil:
		e.Service = b.resolveService(r.Service, JoinPath(path, "service"))
	}
	e.ID = routeID(e)
	b.m.Routes = append(b.m.Routes, e)
	b.routes.add(e.ID, e)
	register(b, &b.routes, "name", r.Name, path, e)
	return e
}

// implicitService turns a route's `url:` into a service of its own, named
// after the route. It is not indexed by name: plugins and routes can only
// refer to services the file declares.
func (b *builder) implicitService(r *Route, path string) *ServiceEntry {
	s := &Service{}
	s.SetDefaults()
	s.Name = r.Name
	s.URL = r.URL
	b.checkService(s, path, true)
	e := &ServiceEntry{Path: path, Service: s, Implicit: true}
	e.ID = serviceID(e)
	if u, ok := b.upstreams.named(s.Host); ok && s.Host != "" {
		e.Upstream = u
	}
	b.m.Services = append(b.m.Services, e)
	return e
}

func (b *builder) resolveService(ref *Ref, path string) *ServiceEntry {
	if ref.Key() == "" {
		b.err(path, "must set 'id' or 'name'")
		return nil
	}
	s, ok := b.services.lookup(ref.Key())
	if !ok || s.Implicit {
		b.errf(path, "service '%s' not found", ref.Key())
		return nil
	}
	return s
}

func (b *builder) addConsumer(c *Consumer, path string) *ConsumerEntry {
	e := &ConsumerEntry{Path: path, Consumer: c}
	b.checkID(c.ID, path)
	if c.Username == "" && c.CustomID == "" {
		b.err(path, "at least one of these fields must be non-empty: 'custom_id', 'username'")
	}
	e.ID = ConsumerID(c)
	b.m.Consumers = append(b.m.Consumers, e)
	b.consumers.add(e.ID, e)
	register(b, &b.consumers, "username", c.Username, path, e)
	register(b, &b.customIDs, "custom_id", c.CustomID, path, e)
	return e
}
