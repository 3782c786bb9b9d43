package admin

import "testing"

// TestAdminShowsPinnedIDs fixes the generated ids the admin API shows for
// entities without one (see snapshot.TestGeneratedIDsArePinned): decK and
// scripts address entities by them, on every node and across reloads.
// All but the key-auth and jwt ids (random in Kong, whose cache key is a
// generated field) are the ones Kong derives, computed by hand.
func TestAdminShowsPinnedIDs(t *testing.T) {
	f := newFixture(t, `_format_version: "3.0"
services:
  - name: orders
    url: http://orders-up
    routes:
      - name: orders-route
        paths: [/orders]
    plugins:
      - name: key-auth
upstreams:
  - name: orders-up
    targets:
      - target: 10.0.0.1:8080
consumers:
  - username: alice
    keyauth_credentials:
      - {key: alice-key}
    basicauth_credentials:
      - {username: alice-basic, password: secret}
    jwt_secrets:
      - {key: alice-iss, secret: shh}
    acls:
      - {group: admins}
`, nil)
	want := []struct{ path, id string }{
		{"/services", "580c8aca-d632-5804-b307-a24326e1e2d5"},
		{"/routes", "4b978d57-df71-51a2-950f-e926c640e159"},
		{"/plugins", "d8d613bc-ec5c-5e9c-b85f-db1f8eda086d"},
		{"/consumers", "b32379d9-3d28-5683-a79c-72139be6e34f"},
		{"/upstreams", "2568aedf-4971-5ee8-a406-e2f385e0e149"},
		{"/upstreams/orders-up/targets", "a8a409d5-7dc9-55a9-9ffe-06f3f76a5528"},
		{"/key-auths", "5b85fde9-ef7f-5838-a782-4aac2272a912"},
		{"/basic-auths", "a979480a-0f9c-5e3d-ba73-aca9a8c03e39"},
		{"/jwts", "30227914-b148-5f08-bdff-ae3a72230ee9"},
		{"/acls", "dc1ddbfc-2574-5f8c-ab9c-efb6170dfeaa"},
	}
	for _, w := range want {
		if got := names(t, f.get(w.path), "id"); len(got) != 1 || got[0] != w.id {
			t.Errorf("GET %s: ids %q, want [%s]", w.path, got, w.id)
		}
	}
}
