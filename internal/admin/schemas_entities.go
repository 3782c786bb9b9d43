package admin

import (
	"maps"
	"math"
	"reflect"
	"slices"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// What the Go types do not say of an entity's fields: which are required,
// the values and ranges the loader accepts (Kong's one_of and between:
// the loader's own lists where it has them, the rest kept equal to its
// checks by TestSchemaEntityConstraints), the fields Kong generates
// (auto) and the nested entity lists that are not fields of the entity. Attributes here are laid over the described ones.
var entityAttrs = map[string]map[string]fieldAttrs{
	"services": {
		"protocol":         {"one_of": anyOf(config.ServiceProtocolList), "required": true},
		"host":             {"required": true},
		"port":             {"between": []any{0, 65535}, "required": true},
		"retries":          {"between": []any{0, 32767}},
		"connect_timeout":  {"between": []any{1, math.MaxInt32 - 1}},
		"write_timeout":    {"between": []any{1, math.MaxInt32 - 1}},
		"read_timeout":     {"between": []any{1, math.MaxInt32 - 1}},
		"tls_verify_depth": {"between": []any{0, 64}},
		"ca_certificates":  {"elements": fieldAttrs{"type": "string", "uuid": true}},
		"enabled":          {"required": true},
	},
	"routes": {
		"protocols":                  {"type": "set", "required": true, "len_min": 1, "elements": fieldAttrs{"type": "string", "one_of": anyOf(config.ServiceProtocolList)}},
		"methods":                    {"type": "set"},
		"snis":                       {"type": "set"},
		"sources":                    {"type": "set"},
		"destinations":               {"type": "set"},
		"https_redirect_status_code": {"one_of": []any{426, 301, 302, 307, 308}, "required": true},
		"strip_path":                 {"required": true},
		"path_handling":              {"one_of": []any{"v0", "v1"}},
	},
	"plugins": {
		"name":      {"required": true},
		"protocols": {"type": "set", "required": true, "elements": fieldAttrs{"type": "string", "one_of": anyOf(config.PluginProtocolList)}},
		"config":    {"required": true},
	},
	"upstreams": {
		"name":          {"required": true},
		"algorithm":     {"one_of": anyOf(config.AlgorithmList)},
		"hash_on":       {"one_of": anyOf(config.HashOnList)},
		"hash_fallback": {"one_of": anyOf(config.HashOnList)},
		"slots":         {"between": []any{10, 1 << 16}},
	},
	"targets": {
		"target":   {"required": true},
		"weight":   {"between": []any{0, 65535}},
		"upstream": {"required": true},
	},
	"certificates":    {"cert": {"required": true}, "key": {"required": true}},
	"snis":            {"name": {"required": true}, "certificate": {"required": true}},
	"ca_certificates": {"cert": {"required": true}, "cert_digest": {"auto": true}},
	"vaults":          {"name": {"required": true}, "prefix": {"required": true, "unique": true}},
}

// anyOf is list as a schema's one_of: the loader's own lists of accepted
// values, so that the schema cannot drift from what a load accepts.
func anyOf(list []string) []any {
	out := make([]any, len(list))
	for i, v := range list {
		out[i] = v
	}
	return out
}

// entityChecks are Kong's entity_checks that hold as Kong has them.
var entityChecks = map[string][]any{
	"consumers": {map[string]any{"at_least_one_of": []any{"custom_id", "username"}}},
	"upstreams": {map[string]any{"mutually_exclusive": []any{"hash_on_header", "hash_on_cookie", "hash_on_query_arg", "hash_on_uri_capture"}}},
}

// nestedLists are fields of the entity types that hold other entities
// (nested in a file: the nestings) or a shorthand of Turnpike's (url),
// not fields of Kong's entity.
var nestedLists = func() map[string][]string {
	m := map[string][]string{"services": {"url"}, "routes": {"url"}}
	for _, n := range nestings {
		m[n.parent] = append(m[n.parent], n.child)
	}
	return m
}()

// credentialAttrs are the credential kinds' required fields, as Kong's
// daos declare them; auto fields are the write model's (autoFields).
var credentialAttrs = map[string]map[string]fieldAttrs{
	"basicauth_credentials": {"username": {"required": true, "unique": true}, "password": {"required": true}},
	"hmacauth_credentials":  {"username": {"required": true, "unique": true}},
	"acls":                  {"group": {"required": true}},
	"oauth2_credentials":    {"name": {"required": true}, "client_type": {"one_of": []any{"confidential", "public"}}},
	"keyauth_credentials":   {"key": {"unique": true}},
	"jwt_secrets":           {"key": {"unique": true}},
}

// timestamps and ids are generated (Kong's auto fields).
var autoAttrs = map[string]fieldAttrs{
	"id":         {"type": "string", "uuid": true, "auto": true},
	"created_at": {"timestamp": true, "auto": true},
	"updated_at": {"timestamp": true, "auto": true},
	"tags":       {"type": "set", "elements": fieldAttrs{"type": "string", "required": true}},
}

// entitySchema describes the kind wk of the write model, as GET
// /schemas/{kind} answers it.
func (wm *writeModel) entitySchema(wk *writeKind) map[string]any {
	var fields []any
	var attrs map[string]fieldAttrs
	if ck := wk.credential; ck != nil {
		fields = []any{
			map[string]any{"id": fieldAttrs{}},
			map[string]any{"created_at": fieldAttrs{"type": "integer"}},
			map[string]any{"consumer": fieldAttrs{"type": "foreign", "required": true}},
		}
		fields = append(fields, describeFields(wk.typ, render(freshValue(wk.typ), 0))...)
		fields = append(fields, map[string]any{"tags": fieldAttrs{}})
		attrs = credentialAttrs[wk.kind]
		for _, f := range autoFields[wk.kind] {
			if a := fieldOf(fields, f); a != nil {
				a["auto"] = true
			}
		}
	} else {
		fields = describeFields(wk.typ, shownDefaults(wk))
		attrs = entityAttrs[wk.kind]
	}
	kept := fields[:0]
	for _, f := range fields {
		name := fieldName(f)
		if slices.Contains(nestedLists[wk.kind], name) {
			continue
		}
		a := f.(map[string]any)[name].(fieldAttrs)
		for _, ref := range wm.fks(wk.kind) {
			if ref.field == name {
				a["reference"] = ref.parent
				if ref.cascade {
					a["on_delete"] = "cascade"
				}
			}
		}
		maps.Copy(a, autoAttrs[name])
		maps.Copy(a, attrs[name])
		if a["auto"] == true || a["required"] == true && a["default"] == "" {
			// A generated field's default is not a value (the zero of a
			// fresh entity), nor is the empty string a required field
			// starts as.
			delete(a, "default")
		}
		kept = append(kept, f)
	}
	checks := entityChecks[wk.kind]
	if checks == nil {
		checks = []any{}
	}
	return map[string]any{"fields": kept, "entity_checks": checks}
}

func fieldName(f any) string {
	for k := range f.(map[string]any) {
		return k
	}
	return ""
}

// freshValue is a pointer to a new value of struct type t with its
// defaults, as the loader gives an entity before decoding it.
func freshValue(t reflect.Type) any {
	v := reflect.New(t).Interface()
	config.Raw{}.Decode(v)
	return v
}

// shownDefaults is how the admin API shows an entity of the kind that has
// only its defaults: the renderer of its kind's list (entities.go).
func shownDefaults(wk *writeKind) map[string]any {
	v := freshValue(wk.typ)
	switch s := v.(type) {
	case *config.Service:
		return snapshot.ServiceBody(&config.ServiceEntry{Service: s}, 0)
	case *config.Route:
		return snapshot.RouteBody(&config.RouteEntry{Route: s}, 0)
	}
	return render(v, 0)
}

// pluginSchema describes a plugin's entity with its config, as GET
// /schemas/plugins/{name} answers it: the plugin entity's own fields
// Kong's plugin schemas declare (consumer, protocols) and the config
// record, described from the plugin's config type with the defaults an
// empty config gets.
func pluginSchema(reg *plugin.Registration) map[string]any {
	consumer := fieldAttrs{"type": "foreign", "reference": "consumers"}
	if reg.NoConsumer {
		// Kong's typedefs.no_consumer: the field must be null.
		consumer["eq"] = nil
	}
	proto := render(freshValue(reflect.TypeFor[config.Plugin]()), 0)["protocols"]
	protocols := fieldAttrs{
		"type": "set", "required": true, "default": proto,
		"elements": fieldAttrs{"type": "string", "one_of": anyOf(config.PluginProtocolList)},
	}
	cfg := reg.NewConfig()
	var shown any
	if errs := (config.Raw{}).DecodeWritten(cfg); len(errs) == 0 {
		shown = plainOrdered(cfg)
	}
	t := reflect.TypeOf(cfg)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	conf := fieldAttrs{"type": "record", "required": true, "fields": describeFields(t, shown)}
	return map[string]any{
		"fields": []any{
			map[string]any{"consumer": consumer},
			map[string]any{"protocols": protocols},
			map[string]any{"config": conf},
		},
		"entity_checks": []any{},
	}
}
