// Package gokong is how go-kong (github.com/Kong/go-kong, kong/utils.go
// at dae27d2) fills entities and plugin configs with the defaults of the
// schemas an admin API serves, which decK does before every diff and
// sync; ported for tests that check Turnpike's schemas against it.
package gokong

// Values are JSON-decoded (map[string]any, []any, float64), as go-kong
// reads them through gjson. Partials and deprecated shorthand fields are
// left out: Turnpike's schemas have none.

// FillPlugin is the config part of FillPluginsDefaults: the plugin's
// config filled by fillConfigRecord, defaults and auto fields, from the
// `config` record of a GET /schemas/plugins/{name} body.
func FillPlugin(schema map[string]any, cfg map[string]any) map[string]any {
	if cfg == nil {
		cfg = map[string]any{}
	}
	fields, _ := schema["fields"].([]any)
	for _, f := range fields {
		fm, _ := f.(map[string]any)
		if c, ok := fm["config"].(map[string]any); ok {
			return FillRecord(c, cfg)
		}
	}
	return cfg
}

// FillRecord is fillConfigRecord with FillDefaults and FillAuto.
func FillRecord(schema map[string]any, cfg map[string]any) map[string]any {
	res := DeepCopy(cfg)
	fields, _ := schema["fields"].([]any)
	recordDefault, hasRecordDefault := schema["default"].(map[string]any)
	for _, f := range fields {
		var name string
		var attrs map[string]any
		fm, _ := f.(map[string]any)
		for k, v := range fm {
			name = k
			attrs, _ = v.(map[string]any)
		}
		if attrs == nil {
			continue
		}
		if v, ok := cfg[name]; ok {
			// A value given is kept, except a record (not a map of
			// arbitrary keys), and a list of records, whose fields are
			// filled below.
			switch v.(type) {
			case map[string]any:
				if attrs["keys"] != nil && attrs["values"] != nil {
					continue
				}
			case []any:
				if elemType(attrs) != "record" {
					continue
				}
			default:
				continue
			}
		}
		ftype, _ := attrs["type"].(string)
		if ftype == "record" && (cfg[name] != nil || attrs["required"] == true) {
			sub, _ := cfg[name].(map[string]any)
			if sub == nil {
				sub = map[string]any{}
			}
			if filled := FillRecord(attrs, sub); len(filled) > 0 {
				res[name] = filled
			}
			continue
		}
		if (ftype == "array" || ftype == "set") && elemType(attrs) == "record" {
			if list, ok := cfg[name].([]any); ok && len(list) > 0 {
				out := make([]any, len(list))
				for i, it := range list {
					if m, ok := it.(map[string]any); ok {
						elems, _ := attrs["elements"].(map[string]any)
						out[i] = FillRecord(elems, m)
					} else {
						out[i] = it
					}
				}
				res[name] = out
				continue
			}
		}
		if hasRecordDefault {
			if v, ok := recordDefault[name]; ok {
				res[name] = v
				continue
			}
		}
		// No default: an explicit null.
		res[name] = attrs["default"]
	}
	return res
}

// FillEntity is FillEntityDefaults for services, routes, upstreams
// and targets: every field of the schema flattened to its default
// (flattenLuaSchema: null without one, records field by field), merged
// under the entity's own values (mergo.Merge: a value given wins).
func FillEntity(schema map[string]any, entity map[string]any) map[string]any {
	return merge(DeepCopy(entity), flattenDefaults(schema))
}

func flattenDefaults(schema map[string]any) map[string]any {
	out := map[string]any{}
	fields, _ := schema["fields"].([]any)
	for _, f := range fields {
		fm, _ := f.(map[string]any)
		for name, v := range fm {
			attrs, _ := v.(map[string]any)
			if attrs["type"] == "record" {
				out[name] = flattenDefaults(attrs)
				continue
			}
			out[name] = attrs["default"]
		}
	}
	return out
}

// merge fills dst's absent or null values from src, records field by
// field (mergo's rule for go-kong's structs of pointers).
func merge(dst, src map[string]any) map[string]any {
	for k, sv := range src {
		dv, ok := dst[k]
		switch {
		case !ok || dv == nil:
			if sv != nil {
				dst[k] = sv
			}
		default:
			dm, dok := dv.(map[string]any)
			sm, sok := sv.(map[string]any)
			if dok && sok {
				dst[k] = merge(dm, sm)
			}
		}
	}
	return dst
}

func elemType(attrs map[string]any) string {
	e, _ := attrs["elements"].(map[string]any)
	t, _ := e["type"].(string)
	return t
}
