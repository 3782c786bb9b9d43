package plugin

import (
	"encoding/json"
	"fmt"

	"github.com/goccy/go-yaml"
)

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

// MarshalYAML writes the map, rather than the struct's two lists, in the
// configuration's order: a dump read back logs the same shape.
func (o Ordered) MarshalYAML() (any, error) { return o.mapSlice(), nil }

func (o Ordered) mapSlice() yaml.MapSlice {
	m := make(yaml.MapSlice, len(o.Keys))
	for i, k := range o.Keys {
		m[i] = yaml.MapItem{Key: k, Value: sliceValue(o.Values[i])}
	}
	return m
}

func sliceValue(v any) any {
	switch v := v.(type) {
	case *Ordered:
		return v.mapSlice()
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = sliceValue(e)
		}
		return out
	}
	return v
}

// MarshalJSON writes the map in the configuration's order (the admin API
// shows plugin configs as JSON).
func (o Ordered) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, k := range o.Keys {
		if i > 0 {
			b = append(b, ',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(o.Values[i])
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, kb...), ':'), vb...)
	}
	return append(b, '}'), nil
}

// OrderedFrom turns YAML decoded with yaml.UseOrderedMap (maps as
// yaml.MapSlice) into values whose JSON keeps the order: maps become
// *Ordered.
func OrderedFrom(v any) any {
	switch v := v.(type) {
	case yaml.MapSlice:
		o := &Ordered{Keys: make([]string, 0, len(v)), Values: make([]any, 0, len(v))}
		for _, it := range v {
			k, ok := it.Key.(string)
			if !ok {
				k = fmt.Sprint(it.Key)
			}
			o.Set(k, OrderedFrom(it.Value))
		}
		return o
	case []any:
		for i, e := range v {
			v[i] = OrderedFrom(e)
		}
	}
	return v
}
