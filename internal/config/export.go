package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// Object is a map that keeps its keys in order: an entity or a value of
// the flat form, so that a rewritten file lists fields (and a logging
// plugin's log_format, whose order is the shape of its lines) as written.
type Object struct {
	Keys []string
	Vals []any
}

// Get returns the value under k.
func (o *Object) Get(k string) (any, bool) {
	for i, key := range o.Keys {
		if key == k {
			return o.Vals[i], true
		}
	}
	return nil, false
}

// Set replaces the value under k, or appends it.
func (o *Object) Set(k string, v any) {
	for i, key := range o.Keys {
		if key == k {
			o.Vals[i] = v
			return
		}
	}
	o.Keys, o.Vals = append(o.Keys, k), append(o.Vals, v)
}

// Delete removes k.
func (o *Object) Delete(k string) {
	for i, key := range o.Keys {
		if key == k {
			o.Keys = append(o.Keys[:i:i], o.Keys[i+1:]...)
			o.Vals = append(o.Vals[:i:i], o.Vals[i+1:]...)
			return
		}
	}
}

// MarshalJSON writes o as a JSON object with its keys in order, so that a
// document holding entities of the flat form can be sent as JSON too.
func (o *Object) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, k := range o.Keys {
		key, _ := json.Marshal(k)
		val, err := json.Marshal(o.Vals[i])
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, key...), ':'), val...)
	}
	return append(b, '}'), nil
}

// String returns the value under k when it is a string.
func (o *Object) String(k string) string {
	v, _ := o.Get(k)
	s, _ := v.(string)
	return s
}

// Flat is a configuration in Kong's flat declarative form, the shape
// `kong config db_export` writes: every entity at the top level with its
// id, and references by id. Values are as the document wrote them
// (`${NAME}` and vault references unresolved), so rewriting a file never
// writes a secret that came from the environment.
type Flat struct {
	// Head is the document's keys that are not entity lists
	// (_format_version, _info, _transform, _comment, vaults).
	Head *Object
	// Lists holds the entities by their key in the document ("services",
	// "keyauth_credentials").
	Lists map[string][]*Object
	// Credentials are the credential kinds' keys, in the order they are
	// written, between consumers and plugins.
	Credentials []string
}

// SNIID is an SNI's id: configured, or a stable one from its name (which
// is unique).
func SNIID(s *SNI) string {
	if s.ID != "" {
		return s.ID
	}
	return EntityID("snis", "", s.Name)
}

// CACertID is a CA certificate's id: configured, or a stable one from its
// digest.
func CACertID(ce *CACertEntry) string {
	if ce.CACert.ID != "" {
		return ce.CACert.ID
	}
	return EntityID("ca_certificates", "", ce.Digest)
}

// flatKinds are the entity lists config knows, in the order Render writes
// them: what is referenced before what references it.
var flatKinds = []string{"ca_certificates", "certificates", "snis", "upstreams", "targets", "services", "routes", "consumers"}

// Export turns m into the flat form. credentialKinds are the declared
// kinds' names (Options.Credentials), which are lists at the top level and
// in consumers.
func Export(m *Model, credentialKinds []string) (*Flat, error) {
	root, err := parseTree(m.Source, -1)
	if err != nil {
		return nil, err
	}
	if root.kind == kindNull {
		root = &value{kind: kindMap}
	}
	if root.kind != kindMap {
		return nil, errors.New("the configuration in force is not a map")
	}
	f := &Flat{Head: &Object{}, Lists: map[string][]*Object{}, Credentials: credentialKinds}
	lists := map[string]bool{"services": true, "routes": true, "consumers": true, "plugins": true, "upstreams": true,
		"targets": true, "certificates": true, "ca_certificates": true, "snis": true}
	for _, k := range credentialKinds {
		lists[k] = true
	}
	f.Head.Set("_format_version", "3.0")
	for i, k := range root.keys {
		if !lists[k] && k != "_format_version" {
			f.Head.Set(k, ordered(root.vals[i]))
		}
	}
	migrated := m.FormatVersion != "3.0"
	nested := map[string]bool{"routes": true, "plugins": true, "targets": true}
	for _, k := range credentialKinds {
		nested[k] = true
	}
	e := exporter{root: root, f: f, nested: nested}
	e.certificates(m)
	for _, ue := range m.Upstreams {
		f.add("upstreams", e.entity(ue.Path, ue.ID))
		for _, te := range ue.Targets {
			t := e.entity(te.Path, te.ID)
			t.Set("upstream", ue.ID)
			f.add("targets", t)
		}
	}
	for _, se := range m.Services {
		f.add("services", e.service(se))
	}
	for _, re := range m.Routes {
		r := e.entity(re.Path, re.ID)
		r.Delete("service")
		if re.Service != nil {
			r.Delete("url")
			r.Set("service", re.Service.ID)
		}
		if migrated {
			paths := make([]any, len(re.Route.Paths))
			for i, p := range re.Route.Paths {
				paths[i] = p
			}
			r.Set("paths", paths)
		}
		f.add("routes", r)
	}
	for _, ce := range m.Consumers {
		f.add("consumers", e.entity(ce.Path, ce.ID))
	}
	for _, ce := range m.Credentials {
		c := e.entity(ce.Path, ce.ID)
		c.Set("consumer", ce.Consumer.ID)
		f.add(ce.Kind, c)
	}
	for _, pe := range m.Plugins {
		p := e.entity(pe.Path, pe.ID)
		for _, fk := range [...]struct{ field, id string }{{"service", entryID(pe.Service)}, {"route", routeEntryID(pe.Route)}, {"consumer", consumerEntryID(pe.Consumer)}} {
			p.Delete(fk.field)
			if fk.id != "" {
				p.Set(fk.field, fk.id)
			}
		}
		f.add("plugins", p)
	}
	return f, nil
}

func entryID(e *ServiceEntry) string {
	if e == nil {
		return ""
	}
	return e.ID
}

func routeEntryID(e *RouteEntry) string {
	if e == nil {
		return ""
	}
	return e.ID
}

func consumerEntryID(e *ConsumerEntry) string {
	if e == nil {
		return ""
	}
	return e.ID
}

func (f *Flat) add(kind string, o *Object) { f.Lists[kind] = append(f.Lists[kind], o) }

// Kinds lists the entity lists in the order Render writes them.
func (f *Flat) Kinds() []string {
	out := append([]string{}, flatKinds...)
	out = append(out, f.Credentials...)
	return append(out, "plugins")
}

// Render writes the flat form as a YAML document.
func (f *Flat) Render() []byte {
	doc := &Object{Keys: append([]string{}, f.Head.Keys...), Vals: append([]any{}, f.Head.Vals...)}
	for _, k := range f.Kinds() {
		if list := f.Lists[k]; len(list) > 0 {
			items := make([]any, len(list))
			for i, o := range list {
				items[i] = o
			}
			doc.Set(k, items)
		}
	}
	var b bytes.Buffer
	emitObject(&b, doc, 0, false)
	return b.Bytes()
}

// certificates exports the CA certificates, the certificates and their
// SNIs (nested and top-level ones alike, at the top level).
func (e *exporter) certificates(m *Model) {
	for _, ce := range m.CACerts {
		e.f.add("ca_certificates", e.entity(ce.Path, CACertID(ce)))
	}
	byName := map[string]*value{}
	if list := e.root.get("snis"); list != nil && list.kind == kindSeq {
		for _, sn := range list.items {
			byName[sniName(sn)] = sn
		}
	}
	for _, ce := range m.Certificates {
		e.f.add("certificates", e.entity(ce.Path, ce.ID))
		if list := e.at(ce.Path).get("snis"); list != nil && list.kind == kindSeq {
			for _, sn := range list.items {
				byName[sniName(sn)] = sn
			}
		}
	}
	for _, ce := range m.Certificates {
		for _, s := range ce.SNIs {
			e.f.add("snis", sniObject(byName[s.Name], s, ce.ID))
		}
	}
}

// service exports a service. Its url (or, for the implicit service of a
// route's url, the route's) becomes its parts, as Kong stores them: a
// write of one of them (a PATCH of the port) must not be overridden by
// it. A url from the environment stays a reference.
func (e *exporter) service(se *ServiceEntry) *Object {
	svc := &Object{Keys: []string{"id"}, Vals: []any{se.ID}}
	if !se.Implicit {
		svc = e.entity(se.Path, se.ID)
	}
	u := svc.String("url")
	if se.Implicit || u != "" && !strings.Contains(u, "${") && !strings.Contains(u, "{vault://") {
		s := se.Service
		svc.Delete("url")
		svc.Set("protocol", s.Protocol)
		svc.Set("host", s.Host)
		svc.Set("port", int64(s.Port))
		if s.Path != "" {
			svc.Set("path", s.Path)
		}
	}
	return svc
}

// exporter copies entities out of the parsed source.
type exporter struct {
	root *value
	f    *Flat
	// nested are the keys of entities nested in others, which the flat
	// form lists at the top level instead.
	nested map[string]bool
}

// at finds the value at an entry's path ("services[0].routes[1]").
func (e *exporter) at(path string) *value {
	v := e.root
	for _, seg := range strings.Split(path, ".") {
		name, rest, _ := strings.Cut(seg, "[")
		v = v.get(name)
		for rest != "" {
			idx, tail, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(idx)
			if err != nil || v == nil || v.kind != kindSeq || i < 0 || i >= len(v.items) {
				return nil
			}
			v = v.items[i]
			rest = strings.TrimPrefix(tail, "[")
		}
	}
	return v
}

// entity copies the entity at path without the entities nested in it,
// with its id first.
func (e *exporter) entity(path, id string) *Object {
	o := &Object{}
	if id != "" {
		o.Set("id", id)
	}
	v := e.at(path)
	if v == nil || v.kind != kindMap {
		return o
	}
	for i, k := range v.keys {
		if k == "id" || e.nested[k] || k == "snis" && strings.HasPrefix(path, "certificates") {
			continue
		}
		o.Set(k, ordered(v.vals[i]))
	}
	return o
}

// sniName is the name of an SNI written as a name or an entity.
func sniName(v *value) string {
	if v.kind == kindString {
		return v.str
	}
	if n := v.get("name"); n != nil {
		return n.str
	}
	return ""
}

// sniObject is an SNI as written (v), with its id and its certificate's.
// Without v (its name a vault reference, which the document does not
// have as the name in force) it is the SNI in force.
func sniObject(v *value, s *SNI, certID string) *Object {
	o := &Object{Keys: []string{"id"}, Vals: []any{SNIID(s)}}
	switch {
	case v == nil:
		o.Set("name", s.Name)
		if len(s.Tags) > 0 {
			tags := make([]any, len(s.Tags))
			for i, t := range s.Tags {
				tags[i] = t
			}
			o.Set("tags", tags)
		}
	case v.kind == kindString:
		o.Set("name", v.str)
	case v.kind == kindMap:
		for i, k := range v.keys {
			if k != "id" {
				o.Set(k, ordered(v.vals[i]))
			}
		}
	}
	o.Set("certificate", certID)
	return o
}

// ParseOrdered parses a YAML or JSON value (an admin API body) into
// Objects, slices and scalars, bounded as a config's values are.
func ParseOrdered(data []byte, maxValues int) (any, error) {
	v, err := parseTree(data, maxValues)
	if err != nil {
		return nil, err
	}
	if bad := invalidUTF8Lines(data); bad != nil {
		return nil, errors.New("the body is not valid UTF-8")
	}
	return ordered(v), nil
}

// ordered converts a parsed value.
func ordered(v *value) any {
	switch v.kind {
	case kindMap:
		o := &Object{Keys: make([]string, 0, len(v.keys)), Vals: make([]any, 0, len(v.keys))}
		for i, k := range v.keys {
			o.Keys, o.Vals = append(o.Keys, k), append(o.Vals, ordered(v.vals[i]))
		}
		return o
	case kindSeq:
		s := make([]any, len(v.items))
		for i, it := range v.items {
			s[i] = ordered(it)
		}
		return s
	}
	return v.plain()
}
