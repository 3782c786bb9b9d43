package admin

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
)

type rendered struct {
	config.Meta `yaml:",inline"`
	Key         string   `yaml:"key"`
	TTL         int      `yaml:"ttl" admin:"nullzero"`
	Scopes      []string `yaml:"scopes,omitempty" admin:"nullzero"`
	Plain       bool
	Extra       []string    `yaml:"extra" admin:"omitzero"`
	Hidden      string      `yaml:"-"`
	Secret      string      `yaml:"secret" admin:"-"`
	At          int64       `yaml:"at" admin:"loadtime"`
	Frac        float64     `yaml:"frac" admin:"loadtime"`
	Cert        *config.Ref `yaml:"cert"`
	Nested      struct {
		N int `yaml:"n"`
	} `yaml:"nested"`
	private string
}

// TestRender checks that an entity renders by its yaml names and admin
// tags, the load time standing in for zero timestamps.
func TestRender(t *testing.T) {
	for _, tt := range []struct {
		in   rendered
		want map[string]any
	}{
		{rendered{Key: "k", Hidden: "h", Secret: "s", Scopes: []string{}, Extra: []string{}, private: "p"}, map[string]any{
			"key": "k", "ttl": nil, "scopes": nil, "plain": false, "at": int64(99), "frac": float64(99), "cert": nil,
			"nested": map[string]any{"n": uint64(0)},
		}},
		{rendered{Key: "k", TTL: 5, Scopes: []string{"a"}, Plain: true, Extra: []string{"e"}, At: 7, Frac: 1.5, Cert: &config.Ref{Name: "c"}}, map[string]any{
			"key": "k", "ttl": 5, "scopes": []string{"a"}, "plain": true, "extra": []string{"e"}, "at": int64(7), "frac": 1.5,
			"cert": map[string]any{"id": "c"}, "nested": map[string]any{"n": uint64(0)},
		}},
	} {
		if diff := cmp.Diff(tt.want, render(&tt.in, 99)); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
	}
}
