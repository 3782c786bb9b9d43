package admin

import "testing"

// TestAdminShowsPinnedIDs fixes the generated ids the admin API shows for
// entities without one (see snapshot.TestGeneratedIDsArePinned): decK and
// scripts address entities by them, on every node and across reloads.
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
		{"/services", "b860e510-8a59-5ed0-a399-2f457413d7a6"},
		{"/routes", "dd6b7bf7-5527-5780-bcd9-472c786471f5"},
		{"/plugins", "e2cdd3e5-66ca-54a8-9ab3-d8e8dc8749a0"},
		{"/consumers", "a1685615-5f8d-573a-a674-867a2e74325c"},
		{"/upstreams", "ddd8978f-ee18-5f87-a300-4f44094a7dba"},
		{"/upstreams/orders-up/targets", "0d9b223c-9f78-5322-b985-6c0e0d49a696"},
		{"/key-auths", "0a8a1871-2768-5061-b4ac-8253da47f0b3"},
		{"/basic-auths", "48186280-cfea-5c40-a481-8c525adb1708"},
		{"/jwts", "659a30c7-0e86-5b83-9e00-a6614ea98a3c"},
		{"/acls", "74ae09e7-5c62-52a1-8080-1413302238fc"},
	}
	for _, w := range want {
		if got := names(t, f.get(w.path), "id"); len(got) != 1 || got[0] != w.id {
			t.Errorf("GET %s: ids %q, want [%s]", w.path, got, w.id)
		}
	}
}
