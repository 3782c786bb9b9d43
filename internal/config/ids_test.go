package config

import "testing"

// idsYAML has an entity of every kind whose id is derived, at every scope
// a plugin can have.
const idsYAML = `_format_version: "3.0"
services:
  - name: orders
    url: http://orders.internal:8080
    routes:
      - name: orders-route
        paths: [/orders]
        plugins:
          - name: cors
    plugins:
      - name: key-auth
  - id: 33333333-3333-4333-8333-333333333333
    name: pinned
    url: http://pinned.internal
routes:
  - name: top-route
    service: orders
    paths: [/top]
consumers:
  - username: alice
    keyauth_credentials:
      - {key: alice-key}
    plugins:
      - name: rate-limiting
        config: {minute: 5}
  - custom_id: C-7
plugins:
  - name: correlation-id
  - name: rate-limiting
    route: orders-route
    consumer: alice
    config: {minute: 9}
`

// TestGeneratedIDsArePinned fixes the ids generated for entities without
// one: the docs promise them stable across nodes and reloads, so a change
// to their derivation must show up here as a deliberate edit, not pass
// because a test compares the function with itself. The service, route,
// consumer and plugin ids were computed by hand from Kong's derivation
// (kong/db/schema/others/declarative_lua: a version 5 UUID under
// the kind's namespace of the name, username or cache key, e.g.
// "plugins:*:rate-limiting:orders-route::alice"); the key-auth id and
// the custom_id consumer's are Turnpike's own (Kong's are random). The
// credential kinds' own ids are pinned in their plugins' tests.
func TestGeneratedIDsArePinned(t *testing.T) {
	m, err := Parse([]byte(idsYAML), withKeyAuth)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, se := range m.Services {
		got[se.Path] = se.ID
	}
	for _, re := range m.Routes {
		got[re.Path] = re.ID
	}
	for _, ce := range m.Consumers {
		got[ce.Path] = ce.ID
	}
	for _, pe := range m.Plugins {
		got[pe.Path] = pe.ID
	}
	got["key-auth alice-key"] = m.Credentials[0].ID
	got["EntityID"] = EntityID("upstreams", "", "pool")
	got["EntityID with id"] = EntityID("upstreams", "44444444-4444-4444-8444-444444444444", "pool")
	want := map[string]string{
		"services[0]":                      "580c8aca-d632-5804-b307-a24326e1e2d5",
		"services[1]":                      "33333333-3333-4333-8333-333333333333",
		"services[0].routes[0]":            "4b978d57-df71-51a2-950f-e926c640e159",
		"routes[0]":                        "bf056a77-eb5e-50dc-9bdd-cb10750a4654",
		"consumers[0]":                     "b32379d9-3d28-5683-a79c-72139be6e34f",
		"consumers[1]":                     "505ab952-1f90-585b-a3c8-3bc496e8c273",
		"services[0].plugins[0]":           "d8d613bc-ec5c-5e9c-b85f-db1f8eda086d",
		"services[0].routes[0].plugins[0]": "fd799140-705c-5596-9975-8b4be22d2019",
		"consumers[0].plugins[0]":          "b71ace18-ce99-5f55-b5b7-c5c7895d1abc",
		"plugins[0]":                       "bc9b9ec8-e779-5314-8006-15d16c0092d5",
		"plugins[1]":                       "fd6d7a2a-c361-5f10-b184-1d3a70b276f0",
		"key-auth alice-key":               "5b85fde9-ef7f-5838-a782-4aac2272a912",
		"EntityID":                         "2b24112f-2b43-5ecb-86fd-a2fd07ed89be",
		"EntityID with id":                 "44444444-4444-4444-8444-444444444444",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: id %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d ids, %d pinned: %v", len(got), len(want), got)
	}
}

// TestKongIDsFromKongSpec checks the derivation against ids Kong itself
// generated for a DB-less config, pasted into Kong's
// spec/02-integration/04-admin_api/15-off_spec.lua ("hides workspace
// related fields from /config response"). Their plugin and credential ids
// predate the workspace part of Kong's cache keys, so only these three
// still hold.
func TestKongIDsFromKongSpec(t *testing.T) {
	m, err := Parse([]byte(`_format_version: "1.1"
services:
- name: my-service
  url: https://example.com
  routes:
  - name: my-route
    paths: [/]
consumers:
- username: my-user
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ what, got, want string }{
		{"service", m.Services[0].ID, "0855b320-0dd2-547d-891d-601e9b38647f"},
		{"route", m.Routes[0].ID, "481a9539-f49c-51b6-b2e2-fe99ee68866c"},
		{"consumer", m.Consumers[0].ID, "4b1b701d-de2b-5588-9aa2-3b97061d9f52"},
	} {
		if c.got != c.want {
			t.Errorf("%s id %s, Kong gave %s", c.what, c.got, c.want)
		}
	}
}

// TestKongIDEdges pins the cases where Kong's derivation is not the plain
// name: a reference written as a mapping adds no part to a plugin's cache
// key, a plugin nested in an entity whose id Kong draws at random gets a
// Turnpike id (so does that entity, from its place in the file), and
// targets are keyed by their upstream.
func TestKongIDEdges(t *testing.T) {
	m, err := Parse([]byte(`_format_version: "3.0"
services:
- id: 33333333-3333-4333-8333-333333333333
  url: http://a.internal
- url: http://b.internal
  plugins:
  - name: cors
plugins:
- name: cors
  service: {id: 33333333-3333-4333-8333-333333333333}
upstreams:
- name: pool
  targets:
  - target: 10.0.0.1:8080
targets:
- target: 10.0.0.2
  upstream: pool
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{
		"unnamed service":       m.Services[1].ID,
		"plugin in it":          m.Plugins[0].ID,
		"mapping reference":     m.Plugins[1].ID,
		"nested target":         m.Upstreams[0].Targets[0].ID,
		"top-level target":      m.Upstreams[0].Targets[1].ID,
		"upstream":              m.Upstreams[0].ID,
		"unnamed service again": EntityID("services", "", "|services[1]"),
	}
	want := map[string]string{
		"unnamed service":       got["unnamed service again"],
		"plugin in it":          EntityID("plugins", "", "cors|"+got["unnamed service again"]+"||"),
		"mapping reference":     "b4dc63b7-a40c-5b46-b3ff-61948e7f12c1", // "plugins:*:cors::"
		"nested target":         "c9e2f25f-5b0d-5791-9f5d-b700fbdbcfa2", // "targets:*:<pool's id>:10.0.0.1:8080"
		"top-level target":      "c48bcb51-b258-5f3e-b1ff-c45a46ea5dff", // "targets:*:pool:10.0.0.2"
		"upstream":              "84cf81c7-fae6-5920-b712-292931a8c3ff",
		"unnamed service again": got["unnamed service again"],
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: id %s, want %s", k, got[k], w)
		}
	}
}
