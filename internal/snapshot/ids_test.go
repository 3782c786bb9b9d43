package snapshot

import (
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
)

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
    basicauth_credentials:
      - {username: alice-basic, password: secret}
    jwt_secrets:
      - {key: alice-iss, secret: shh}
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
// because a test compares the function with itself.
func TestGeneratedIDsArePinned(t *testing.T) {
	m, err := config.Parse([]byte(idsYAML), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, se := range m.Services {
		got[se.Path] = ServiceID(se)
	}
	for _, re := range m.Routes {
		got[re.Path] = RouteID(re)
	}
	for _, ce := range m.Consumers {
		got[ce.Path] = ConsumerID(ce.Consumer)
	}
	for _, pe := range m.Plugins {
		got[pe.Path] = PluginID(pe)
	}
	d := NewDirectory(m, time.Unix(0, 0), nil)
	k, _ := d.KeyAuth("alice-key")
	b, _ := d.BasicAuth("alice-basic")
	j, _ := d.JWT("alice-iss")
	got["key-auth alice-key"], got["basic-auth alice-basic"], got["jwt alice-iss"] = k.ID, b.ID, j.ID
	got["EntityID"] = EntityID("upstreams", "", "pool")
	got["EntityID with id"] = EntityID("upstreams", "44444444-4444-4444-8444-444444444444", "pool")
	want := map[string]string{
		"services[0]":                      "b860e510-8a59-5ed0-a399-2f457413d7a6",
		"services[1]":                      "33333333-3333-4333-8333-333333333333",
		"services[0].routes[0]":            "dd6b7bf7-5527-5780-bcd9-472c786471f5",
		"routes[0]":                        "f2279025-0413-50d9-8ce2-967048521551",
		"consumers[0]":                     "a1685615-5f8d-573a-a674-867a2e74325c",
		"consumers[1]":                     "505ab952-1f90-585b-a3c8-3bc496e8c273",
		"services[0].plugins[0]":           "e2cdd3e5-66ca-54a8-9ab3-d8e8dc8749a0",
		"services[0].routes[0].plugins[0]": "32118032-13c4-5608-aacc-538fd21c6f25",
		"consumers[0].plugins[0]":          "599c7057-200c-57fd-8926-0efb420d9982",
		"plugins[0]":                       "42da5d0f-421c-5d87-b9a4-56df1456049b",
		"plugins[1]":                       "3528f829-35de-575f-bbae-4057bb641855",
		"key-auth alice-key":               "0a8a1871-2768-5061-b4ac-8253da47f0b3",
		"basic-auth alice-basic":           "48186280-cfea-5c40-a481-8c525adb1708",
		"jwt alice-iss":                    "659a30c7-0e86-5b83-9e00-a6614ea98a3c",
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
