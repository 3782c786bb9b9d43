package importer

import (
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// UnknownFields walks raw (a decoded YAML or JSON tree: map[string]any,
// []any, scalars) along the Go type t and calls unknown with the path of
// every map key t has no field for, so that an importer warns each one
// rather than dropping it silently (encoding/json's strict mode stops at
// the first). tag is the struct tag that names the fields, "json" or
// "yaml"; maps with string keys in t (labels, headers) take any key. The
// top-level metadata is not walked: kubectl's uid, managedFields... are no
// configuration.
func UnknownFields(raw any, t reflect.Type, tag string, unknown func(path string)) {
	walkFields(raw, t, tag, "", unknown)
}

func walkFields(raw any, t reflect.Type, tag, path string, unknown func(string)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			return
		}
		fields := map[string]reflect.Type{}
		structFields(t, tag, fields)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ft, ok := fields[k]
			if !ok {
				unknown(joinPath(path, k))
				continue
			}
			if path == "" && k == "metadata" {
				continue
			}
			walkFields(m[k], ft, tag, joinPath(path, k), unknown)
		}
	case reflect.Slice, reflect.Array:
		list, ok := raw.([]any)
		if !ok {
			return
		}
		for i, item := range list {
			walkFields(item, t.Elem(), tag, path+"["+strconv.Itoa(i)+"]", unknown)
		}
	case reflect.Map:
		m, ok := raw.(map[string]any)
		if !ok {
			return
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			walkFields(m[k], t.Elem(), tag, joinPath(path, k), unknown)
		}
	}
}

// structFields maps the keys t's fields take to their types, inlined and
// embedded structs' included.
func structFields(t reflect.Type, tag string, into map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get(tag), ",")
		switch {
		case name == "-":
		case name == "" && (f.Anonymous || strings.Contains(opts, "inline")):
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				structFields(ft, tag, into)
			}
		case !f.IsExported():
		case name == "":
			into[f.Name] = f.Type
		default:
			into[name] = f.Type
		}
	}
}

// joinPath appends a key, or a list index written "[i]", to a path.
func joinPath(path, k string) string {
	if path == "" || k[0] == '[' {
		return path + k
	}
	return path + "." + k
}
