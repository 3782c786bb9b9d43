package config

import "testing"

// TestReferenceIDBeforeName: a reference is looked up as an id before a
// name, so a service named like another service's id cannot take the
// plugins meant for that one (an auth plugin would otherwise leave its
// service open).
func TestReferenceIDBeforeName(t *testing.T) {
	const id = "6f1e2d3c-4b5a-4968-8776-655443322110"
	src := `_format_version: "3.0"
services:
- name: "` + id + `"
  url: http://127.0.0.1:9
  routes: [{name: a, paths: [/a]}]
- name: billing
  id: ` + id + `
  url: http://127.0.0.1:9
  routes: [{name: b, paths: [/billing]}]
plugins:
- name: key-auth
  service: {id: ` + id + `}
- name: cors
  service: ` + id + `
`
	m, err := Parse([]byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pe := range m.Plugins {
		if pe.Service == nil || pe.Service.Service.Name != "billing" {
			t.Errorf("plugin %s is bound to %v, want the service whose id it names (billing)", pe.Plugin.Name, pe.Service)
		}
	}
}
