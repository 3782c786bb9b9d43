package plugin

// Ordered is a map that keeps its keys in the order the configuration
// wrote them, for config whose output takes the user's shape (the logging
// plugin's log_format): a Go map would lose that order. The config
// decoder fills it through Set; maps nested in it are *Ordered too.
type Ordered struct {
	Keys []string
	// Values[i] is Keys[i]'s: a string, int64, float64, bool, nil, []any
	// or *Ordered.
	Values []any
}

// Set appends key with value.
func (o *Ordered) Set(key string, value any) {
	o.Keys = append(o.Keys, key)
	o.Values = append(o.Values, value)
}

// MarshalYAML gives the admin API, which renders plugin configs through
// YAML, the map rather than the struct's two lists.
func (o Ordered) MarshalYAML() (any, error) { return o.plain(), nil }

func (o Ordered) plain() map[string]any {
	m := make(map[string]any, len(o.Keys))
	for i, k := range o.Keys {
		m[k] = plainValue(o.Values[i])
	}
	return m
}

func plainValue(v any) any {
	switch v := v.(type) {
	case *Ordered:
		return v.plain()
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plainValue(e)
		}
		return out
	}
	return v
}
