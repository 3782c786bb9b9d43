package admin

import (
	"strconv"

	"github.com/turnpikegw/turnpike/internal/config"
)

// place puts o at position i of its kind's list (-1: appended), after
// resolving its foreign keys to ids (the nested path's parent wins) and
// checking its unique fields; it answers Kong's error otherwise.
func (ed *edit) place(i int, parent *entity, o *config.Object) map[string]any {
	kind := ed.kind.kind
	for _, ref := range ed.wm.fks(kind) {
		if parent != nil && ref.parent == ed.parentKind {
			o.Set(ref.field, parent.id)
			continue
		}
		v, ok := o.Get(ref.field)
		if !ok || v == nil {
			continue
		}
		id, given := ed.resolve(ref.parent, v)
		if id == "" {
			return foreignKeyViolation(ref.field, ref.parent, given)
		}
		o.Set(ref.field, id)
	}
	ed.id = o.String("id")
	if err := ed.unique(o); err != nil {
		return err
	}
	if snis, ok := o.Get("snis"); ok && kind == "certificates" {
		if err := ed.certificateSNIs(o, snis); err != nil {
			return err
		}
	}
	if i < 0 {
		ed.flat.Lists[kind] = append(ed.flat.Lists[kind], o)
	} else {
		ed.flat.Lists[kind][i] = o
	}
	return nil
}

// certificateSNIs makes the snis a certificate is written with its whole
// set of SNIs, listed at the top level as the flat form has them. An SNI
// the certificate has under a listed name stays as it is, id and tags, as
// Kong's update_list keeps it (kong/db/dao/snis.lua): decK's certificate
// update lists the names of the SNIs it keeps.
func (ed *edit) certificateSNIs(cert *config.Object, snis any) map[string]any {
	cert.Delete("snis")
	had := map[string]*config.Object{}
	for _, s := range ed.flat.Lists["snis"] {
		if s.String("certificate") == ed.id {
			had[s.String("name")] = s
		}
	}
	ed.dropChildren("snis", "certificate", ed.id)
	list, _ := snis.([]any)
	for i, v := range list {
		s, ok := v.(*config.Object)
		if !ok {
			name, _ := v.(string)
			if s = had[name]; s == nil {
				s = &config.Object{Keys: []string{"name"}, Vals: []any{name}}
			}
		}
		if s.String("id") == "" {
			s.Set("id", config.SNIID(&config.SNI{Name: s.String("name")}))
		}
		s.Set("certificate", ed.id)
		for _, other := range ed.flat.Lists["snis"] {
			if other.String("name") == s.String("name") {
				return violation(config.Errors{{Path: "snis[" + strconv.Itoa(i) + "]", Message: "duplicate name '" + s.String("name") + "'"}}, "")
			}
		}
		ed.flat.Lists["snis"] = append(ed.flat.Lists["snis"], s)
	}
	return nil
}

// resolve finds the entity of kind a foreign key names (an id, an
// endpoint key, or {"id": ...} / {"name": ...}) and returns its id, or ""
// and the key as given.
func (ed *edit) resolve(kind string, v any) (string, string) {
	var key string
	switch t := v.(type) {
	case string:
		key = t
	case *config.Object:
		if key = t.String("id"); key == "" {
			key = t.String("name")
			if key == "" {
				key = t.String("username")
			}
		}
	}
	if key == "" {
		return "", ""
	}
	keyField := ""
	if wk := ed.wm.kinds[kind]; wk != nil {
		keyField = wk.keyField
	}
	for _, o := range ed.flat.Lists[kind] {
		if o.String("id") == key {
			return key, key
		}
	}
	for _, o := range ed.flat.Lists[kind] {
		if keyField != "" && o.String(keyField) == key {
			return o.String("id"), key
		}
	}
	return "", key
}

// unique refuses o when another entity of its kind has one of its unique
// fields' values (within the same scope for a scoped kind).
func (ed *edit) unique(o *config.Object) map[string]any {
	wk := ed.kind
	id := o.String("id")
	if wk.kind == "plugins" {
		scope := map[string]string{"service": o.String("service"), "route": o.String("route"), "consumer": o.String("consumer")}
		for _, other := range ed.flat.Lists["plugins"] {
			if other.String("id") != id && other.String("name") == o.String("name") && other.String("service") == scope["service"] &&
				other.String("route") == scope["route"] && other.String("consumer") == scope["consumer"] {
				return pluginViolation(o.String("name"), scope)
			}
		}
	}
	for _, field := range wk.uniques {
		v, ok := o.Get(field)
		if !ok || v == nil {
			continue
		}
		for _, other := range ed.flat.Lists[wk.kind] {
			if other.String("id") == id {
				continue
			}
			if ov, ok := other.Get(field); ok && ov == v && (wk.scoped == "" || other.String(wk.scoped) == o.String(wk.scoped)) {
				return uniqueViolation(field, v)
			}
		}
	}
	return nil
}

// remove deletes the entity of kind with id and, as Kong's on_delete
// cascade, the entities that reference it; an entity that others
// reference without cascade (a service its routes name) is kept, with
// Kong's error.
func (ed *edit) remove(kind, id string) map[string]any {
	for _, ref := range ed.wm.refs {
		if ref.parent != kind || ref.cascade {
			continue
		}
		for _, o := range ed.flat.Lists[ref.child] {
			if o.String(ref.field) == id {
				return referencedBy(kind, ref.child)
			}
		}
	}
	ed.drop(kind, id)
	return nil
}

func (ed *edit) drop(kind, id string) {
	list := ed.flat.Lists[kind]
	for i, o := range list {
		if o.String("id") == id {
			ed.flat.Lists[kind] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	for _, ref := range ed.wm.refs {
		if ref.parent != kind || !ref.cascade {
			continue
		}
		ed.dropChildren(ref.child, ref.field, id)
	}
}

// dropChildren drops the entities of kind whose field is id.
func (ed *edit) dropChildren(kind, field, id string) {
	var children []string
	for _, o := range ed.flat.Lists[kind] {
		if o.String(field) == id {
			children = append(children, o.String("id"))
		}
	}
	for _, c := range children {
		ed.drop(kind, c)
	}
}
