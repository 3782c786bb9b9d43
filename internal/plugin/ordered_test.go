package plugin

import (
	"encoding/json"
	"testing"

	"github.com/goccy/go-yaml"
)

func sample() *Ordered {
	inner := &Ordered{}
	inner.Set("z", "$status")
	inner.Set("a", int64(1))
	o := &Ordered{}
	o.Set("request", inner)
	o.Set("b", []any{"x", inner})
	o.Set("a", nil)
	return o
}

// JSON and YAML keep the configuration's key order, nested maps too: the
// admin API and config dumps show log_format as written.
func TestOrderedKeepsOrder(t *testing.T) {
	b, err := json.Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"request":{"z":"$status","a":1},"b":["x",{"z":"$status","a":1}],"a":null}`; string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
	y, err := yaml.Marshal(struct {
		F *Ordered `yaml:"f"`
	}{sample()})
	if err != nil {
		t.Fatal(err)
	}
	var back any
	if err := yaml.UnmarshalWithOptions(y, &back, yaml.UseOrderedMap()); err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(OrderedFrom(back))
	if want := `{"f":` + string(b) + `}`; string(j) != want {
		t.Errorf("through YAML %s, want %s", j, want)
	}
}
