package config

import "reflect"

// Raw is a YAML/JSON value kept undecoded, together with the field path it
// was found at, so that its final type can be chosen later (a plugin's
// `config` is decoded by the plugin that owns it) while errors still point
// into the original document. The zero Raw is "not set"; an explicit null is
// treated as not set too, as Kong does.
type Raw struct {
	node *value
	path string
}

// IsSet reports whether the value was present and not null.
func (r Raw) IsSet() bool { return r.node != nil }

// Path is the field path the value came from, e.g.
// "services[0].plugins[1].config".
func (r Raw) Path() string { return r.path }

// Line is the value's line in the source document, or 0 if not set.
func (r Raw) Line() int {
	if r.node == nil {
		return 0
	}
	return r.node.line
}

// Value returns the value as plain Go data (map[string]any, []any, string,
// int64, float64, bool or nil), e.g. for echoing a config back.
func (r Raw) Value() any { return r.node.plain() }

// Decode strictly decodes the value into the struct, map, slice or scalar
// that into points to. SetDefaults is called on into (and on every struct
// value created below it) first, so an unset Raw still yields defaults.
// Unknown fields and wrong types are reported with full field paths.
func (r Raw) Decode(into any) Errors { return r.decode(into, false) }

// DecodeWritten is Decode with vault references left as written, not
// resolved: what the admin API shows, as Kong does.
func (r Raw) DecodeWritten(into any) Errors { return r.decode(into, true) }

func (r Raw) decode(into any, asWritten bool) Errors {
	rv := reflect.ValueOf(into)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return Errors{{Path: r.path, Message: "cannot decode into non-pointer " + reflect.TypeOf(into).String()}}
	}
	elem := rv.Elem()
	applyDefaults(elem)
	if r.node == nil {
		return nil
	}
	d := decoder{errs: &ErrorList{}, asWritten: asWritten}
	d.decode(r.node, elem, r.path)
	return d.errs.Errors()
}

// ParseRaw parses a YAML or JSON document into a Raw located at path, for
// values that do not come from a declarative config file (the admin API,
// tests). Environment variables are not expanded.
func ParseRaw(data []byte, path string) (Raw, error) {
	n, err := parseTree(data, 0)
	if err != nil {
		return Raw{}, err
	}
	if bad := invalidUTF8Lines(data); bad != nil {
		return Raw{}, utf8Errors(n, bad).Prefix(path)
	}
	if n.kind == kindNull {
		return Raw{path: path}, nil
	}
	return Raw{node: n, path: path}, nil
}
