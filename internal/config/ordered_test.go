package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// orderedLike stands for plugin.Ordered.
type orderedLike struct {
	Keys   []string
	Values []any
}

func (o *orderedLike) Set(k string, v any) {
	o.Keys = append(o.Keys, k)
	o.Values = append(o.Values, v)
}

func TestOrderedMapKeepsDocumentOrder(t *testing.T) {
	var cfg struct {
		Format orderedLike `yaml:"format"`
	}
	raw, err := ParseRaw([]byte("format:\n  z: $a\n  b:\n    y: 1\n    a: [x, {q: true}]\n  m: 2.5\n"), "config")
	if err != nil {
		t.Fatal(err)
	}
	if errs := raw.Decode(&cfg); len(errs) > 0 {
		t.Fatal(errs)
	}
	want := orderedLike{
		Keys: []string{"z", "b", "m"},
		Values: []any{"$a", &orderedLike{
			Keys:   []string{"y", "a"},
			Values: []any{int64(1), []any{"x", &orderedLike{Keys: []string{"q"}, Values: []any{true}}}},
		}, 2.5},
	}
	if d := cmp.Diff(want, cfg.Format); d != "" {
		t.Error(d)
	}
	raw, _ = ParseRaw([]byte("format: [a]\n"), "config")
	if errs := raw.Decode(&cfg); len(errs) != 1 || errs[0].Path != "config.format" || errs[0].Message != "expected a map" {
		t.Errorf("errors %v", errs)
	}
}
