package admin

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

type renderedFields struct {
	Key    string   `yaml:"key"`
	TTL    int      `yaml:"ttl" admin:"nullzero"`
	Scopes []string `yaml:"scopes,omitempty"`
	Plain  bool
	Hidden string `yaml:"-"`
	secret string
}

// TestFieldsBody checks that a declared kind's fields render by their yaml
// names, nullzero ones as null when zero.
func TestFieldsBody(t *testing.T) {
	for _, tt := range []struct {
		in   renderedFields
		want map[string]any
	}{
		{renderedFields{Key: "k", Hidden: "h", secret: "s"}, map[string]any{"key": "k", "ttl": nil, "scopes": []string(nil), "plain": false}},
		{renderedFields{Key: "k", TTL: 5, Scopes: []string{"a"}, Plain: true}, map[string]any{"key": "k", "ttl": 5, "scopes": []string{"a"}, "plain": true}},
	} {
		if diff := cmp.Diff(tt.want, fieldsBody(&tt.in)); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
	}
}
