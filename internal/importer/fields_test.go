package importer

import (
	"reflect"
	"slices"
	"testing"
)

type inner struct {
	A int `json:"a"`
}

type embedded struct {
	E string `json:"e"`
}

type outer struct {
	embedded `json:",inline"`
	Meta     struct{}         `json:"metadata"`
	In       inner            `json:"in"`
	List     []inner          `json:"list"`
	Labels   map[string]inner `json:"labels"`
	Skip     string           `json:"-"`
	hidden   string
}

// TestUnknownFields checks every unknown key is reported by its path, at
// any depth, in lists and under maps, while inlined fields, maps' own
// keys and the top-level metadata are known.
func TestUnknownFields(t *testing.T) {
	raw := map[string]any{
		"e": "x", "metadata": map[string]any{"uid": "1"}, "zz": 1, "Skip": 1, "hidden": 1,
		"in":     map[string]any{"a": 1, "b": 2},
		"list":   []any{map[string]any{"a": 1}, map[string]any{"c": 3, "d": 4}},
		"labels": map[string]any{"any": map[string]any{"a": 1, "x": 5}},
	}
	var got []string
	UnknownFields(raw, reflect.TypeOf(outer{}), "json", func(p string) { got = append(got, p) })
	want := []string{"Skip", "hidden", "in.b", "labels.any.x", "list[1].c", "list[1].d", "zz"}
	if !slices.Equal(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
}
