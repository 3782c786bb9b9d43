package admin

import (
	"reflect"
	"strings"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Schemas are described from the Go types the configuration decodes into,
// so that they cannot drift from what Turnpike accepts: a field is listed
// by its yaml name (Kong's), typed from its Go kind, nested structs are
// records, and its default is what the admin API shows for the field of
// a value that has only its defaults (shown). decK fills an entity's or a
// plugin's absent fields from these defaults and compares the result
// with what the admin API shows, so a default that differed from the
// shown value would be a change decK finds on every diff.

// fieldAttrs is one field's description, as Kong's schema JSON has it.
type fieldAttrs = map[string]any

var (
	rawType     = reflect.TypeFor[config.Raw]()
	orderedType = reflect.TypeFor[plugin.Ordered]()
)

// describeFields lists the fields of the struct type t in Kong's shape,
// one {name: attributes} object per field, in declaration order. shown is
// what the admin API shows for a value of t with only its defaults (a
// map[string]any or a *plugin.Ordered; nil: no defaults).
func describeFields(t reflect.Type, shown any) []any {
	out := []any{}
	eachField(t, func(name string, ft reflect.Type) {
		v, ok := lookupShown(shown, name)
		out = append(out, map[string]any{name: describeType(ft, v, ok)})
	})
	return out
}

// eachField calls f with the name and type of each field of the struct
// type t the configuration decoder fills, by the decoder's rule
// (config.collectFields: the yaml name, else the lower-cased Go name;
// an inline struct's fields are its parent's). Names starting with "_"
// are the file's own keys, not entity fields.
func eachField(t reflect.Type, f func(name string, ft reflect.Type)) {
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") && sf.Type.Kind() == reflect.Struct {
			eachField(sf.Type, f)
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		if !strings.HasPrefix(name, "_") {
			f(name, sf.Type)
		}
	}
}

// describeType describes a value of type t; shown is the admin API's
// showing of its default (present: has is true).
func describeType(t reflect.Type, shown any, has bool) fieldAttrs {
	optional := t.Kind() == reflect.Pointer
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	a := fieldAttrs{}
	switch k := t.Kind(); {
	case t == rawType:
		// A plugin entity's config: its shape is the plugin's, described
		// at /schemas/plugins/{name}.
		return fieldAttrs{"type": "record", "abstract": true}
	case t == refType.Elem():
		return fieldAttrs{"type": "foreign"}
	case t == orderedType:
		a["type"] = "map"
		a["keys"] = fieldAttrs{"type": "string"}
		a["values"] = fieldAttrs{"type": "json"}
	case k == reflect.Struct:
		a["type"] = "record"
		// A struct is always there, with its fields' defaults: Kong's
		// records of defaults are required, which is also what makes
		// go-kong fill their fields rather than set them to null. One
		// behind a pointer is there when given.
		if !optional {
			a["required"] = true
		}
		// A record given (behind a pointer, in a list or a map) gets the
		// defaults a fresh one has.
		if shown == nil {
			shown = plainOrdered(freshValue(t))
		}
		a["fields"] = describeFields(t, shown)
		return a
	case k == reflect.Slice || k == reflect.Array:
		a["type"] = "array"
		a["elements"] = elementType(t.Elem())
	case k == reflect.Map:
		a["type"] = "map"
		a["keys"] = fieldAttrs{"type": "string"}
		a["values"] = elementType(t.Elem())
	case k == reflect.String:
		a["type"] = "string"
	case k == reflect.Bool:
		a["type"] = "boolean"
	case k >= reflect.Int && k <= reflect.Uint64:
		a["type"] = "integer"
	case k == reflect.Float32 || k == reflect.Float64:
		a["type"] = "number"
	default:
		// Several shapes are accepted (a string or a list of them); the
		// plugin's check says which.
		a["type"] = jsonType(shown)
	}
	if has && shown != nil {
		a["default"] = shown
	}
	return a
}

// elementType describes the elements of a list or the values of a map,
// which are there only when given.
func elementType(t reflect.Type) fieldAttrs {
	a := describeType(t, nil, false)
	delete(a, "required")
	return a
}

// jsonType is Kong's type of a value of a field that takes several
// shapes, from its default; "json" (any JSON value) without one.
func jsonType(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "json"
}

// lookupShown is the value under name of a shown map.
func lookupShown(shown any, name string) (any, bool) {
	switch m := shown.(type) {
	case map[string]any:
		v, ok := m[name]
		return v, ok
	case *plugin.Ordered:
		for i, k := range m.Keys {
			if k == name {
				return m.Values[i], true
			}
		}
	}
	return nil, false
}

// fieldOf finds the attributes of the field name in a fields list.
func fieldOf(fields []any, name string) fieldAttrs {
	for _, f := range fields {
		if a, ok := f.(map[string]any)[name]; ok {
			return a.(fieldAttrs)
		}
	}
	return nil
}

// showAllFields is a plugin config as the admin API shows it (shown, from
// plainOrdered) with a null for each field of its struct type t that
// shown leaves out (yaml's omitempty), nested records included, in the
// type's order: Kong shows every field of a config, and decK compares a
// config filled from the schema with the shown one key by key, so a key
// missing on one side is a change on every diff.
func showAllFields(shown any, t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if list, ok := shown.([]any); ok && t.Kind() == reflect.Slice {
		// go-kong fills each record of a list.
		for i, v := range list {
			list[i] = showAllFields(v, t.Elem())
		}
		return list
	}
	o, ok := shown.(*plugin.Ordered)
	if !ok || t.Kind() != reflect.Struct || t == orderedType {
		return shown
	}
	out := &plugin.Ordered{Keys: make([]string, 0, len(o.Keys)), Values: make([]any, 0, len(o.Keys))}
	seen := make(map[string]bool, len(o.Keys))
	eachField(t, func(name string, ft reflect.Type) {
		v, _ := lookupShown(o, name)
		out.Set(name, showAllFields(v, ft))
		seen[name] = true
	})
	for i, k := range o.Keys {
		if !seen[k] {
			out.Set(k, o.Values[i])
		}
	}
	return out
}
