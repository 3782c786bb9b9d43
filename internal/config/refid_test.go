package config

import "testing"

// TestReferenceByDerivedID: a reference written as the id Kong derives from
// a name finds the entity, as Kong's declarative loader finds it (ids are
// generated before references are checked).
func TestReferenceByDerivedID(t *testing.T) {
	src := `_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:9
  routes:
  - name: r
    paths: [/r]
consumers:
- username: bob
routes:
- name: r2
  paths: [/r2]
  service: ` + KongID("services", "s") + `
plugins:
- name: cors
  route: ` + KongID("routes", "r") + `
- name: cors
  consumer: ` + KongID("consumers", "bob") + `
`
	m, err := Parse([]byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Routes[1].Service; got == nil || got.Service.Name != "s" {
		t.Errorf("route r2's service = %v, want s", got)
	}
	var route, consumer bool
	for _, pe := range m.Plugins {
		route = route || pe.Route != nil && pe.Route.Route.Name == "r"
		consumer = consumer || pe.Consumer != nil && pe.Consumer.Consumer.Username == "bob"
	}
	if !route || !consumer {
		t.Errorf("plugins bound to route r: %v, to consumer bob: %v", route, consumer)
	}
}
