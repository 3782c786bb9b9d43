package config

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestDupIDSNINamesIgnoreCase: certificates are selected by the lower-case
// server name, so two SNIs that differ only in case (wildcards too) would
// let the later certificate take over the earlier one's name.
func TestDupIDSNINamesIgnoreCase(t *testing.T) {
	a, aKey := testPEM(t, false)
	b, bKey := testPEM(t, false)
	q := strconv.Quote
	src := `_format_version: "3.0"
certificates:
- cert: ` + q(a) + `
  key: ` + q(aKey) + `
  snis: [shop.example.com, "*.example.com"]
- id: 11111111-1111-4111-8111-111111111111
  cert: ` + q(b) + `
  key: ` + q(bKey) + `
  snis: [SHOP.example.com]
snis:
- name: "*.Example.COM"
  certificate: {id: 11111111-1111-4111-8111-111111111111}
- name: other.example.com
  certificate: {id: 11111111-1111-4111-8111-111111111111}
`
	_, err := Parse([]byte(src), Options{})
	want := Errors{
		{Path: "certificates[1].snis[0].name", Message: "duplicate name 'shop.example.com' (first defined at certificates[0].snis[0])"},
		{Path: "snis[0].name", Message: "duplicate name '*.example.com' (first defined at certificates[0].snis[1])"},
	}
	if diff := cmp.Diff(want, asErrors(t, err), ignoreLine); diff != "" {
		t.Fatalf("errors (-want +got):\n%s", diff)
	}
}

// TestDupIDEffectiveIDs: no two entities of a kind may end up with the same
// id, compared in lower case, whether it is written or derived (Kong
// refuses them with "uniqueness violation: ... primary key ... already
// declared"). The derived ids here are Kong's: route "victim", consumer
// "alice", service "s1", upstream "pool", target "pool" 10.0.0.1:80.
func TestDupIDEffectiveIDs(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Errors
	}{
		{
			name: "written id equal to another route's derived id",
			src: `services:
- name: tenant-a
  url: http://a.internal
  routes: [{name: victim, paths: [/v]}]
- name: tenant-b
  url: http://b.internal
  routes: [{name: attacker, id: 3d35175c-6fb3-5764-83a4-d4fa28b7f5df, paths: [/x]}]
`,
			want: Errors{{Path: "services[1].routes[0].id", Message: "duplicate id '3d35175c-6fb3-5764-83a4-d4fa28b7f5df' (first derived for services[0].routes[0])"}},
		},
		{
			name: "the same id in two cases",
			src: `services:
- name: s
  url: http://a.internal
  routes:
  - {name: a, id: 3d35175c-6fb3-5764-83a4-d4fa28b7f5df, paths: [/v]}
  - {name: b, id: 3D35175C-6FB3-5764-83A4-D4FA28B7F5DF, paths: [/x]}
`,
			want: Errors{{Path: "services[0].routes[1].id", Message: "duplicate id '3D35175C-6FB3-5764-83A4-D4FA28B7F5DF' (first defined at services[0].routes[0])"}},
		},
		{
			name: "two plugins whose cache keys collide",
			src: `services:
- name: a
  id: 11111111-1111-4111-8111-111111111111
  url: http://a.internal
  routes: [{name: a, id: 22222222-2222-4222-8222-222222222222, paths: [/a]}]
- name: svc2
  id: 33333333-3333-4333-8333-333333333333
  url: http://b.internal
  routes: [{name: r2, id: 44444444-4444-4444-8444-444444444444, paths: [/b]}]
consumers:
- username: b
plugins:
- name: cors
  route: {id: 44444444-4444-4444-8444-444444444444}
  service: a
  consumer: b
- name: cors
  route: a
  service: {id: 33333333-3333-4333-8333-333333333333}
  consumer: b
`,
			want: Errors{{Path: "plugins[1]", Message: "duplicate derived id 'a6d98052-2337-55da-8f31-edf34533e11c' (first derived for plugins[0])"}},
		},
		{
			name: "a derived id taken by a written one earlier",
			src: `services:
- {id: 356EBAF8-B7AF-5CBA-99A1-F392E34730AB, url: http://a.internal}
- {name: s1, url: http://b.internal}
`,
			want: Errors{{Path: "services[1]", Message: "duplicate derived id '356ebaf8-b7af-5cba-99a1-f392e34730ab' (first defined at services[0])"}},
		},
		{
			name: "every other kind",
			src: `consumers:
- username: alice
- custom_id: c2
  id: B32379D9-3D28-5683-A79C-72139BE6E34F
- custom_id: c3
  keyauth_credentials:
  - {key: k1, id: aaaaaaaa-5555-4555-8555-555555555555}
  - {key: k2, id: AAAAAAAA-5555-4555-8555-555555555555}
upstreams:
- name: pool
  targets: [{target: "10.0.0.2:80", id: 087A10BA-F61E-5055-9AC2-6E9CB8E9B71B}]
- {name: pool2, id: 84cf81c7-fae6-5920-b712-292931a8c3ff}
targets:
- {target: "10.0.0.1:80", upstream: pool}
plugins:
- {name: cors, id: 77777777-7777-4777-8777-777777777777}
- {name: cors, consumer: alice, id: 77777777-7777-4777-8777-777777777777}
vaults:
- {name: env, prefix: v1, id: 88888888-8888-4888-8888-888888888888}
- {name: env, prefix: v2, id: 88888888-8888-4888-8888-888888888888}
`,
			want: Errors{
				{Path: "consumers[1].id", Message: "duplicate id 'B32379D9-3D28-5683-A79C-72139BE6E34F' (first derived for consumers[0])"},
				{Path: "consumers[2].keyauth_credentials[1].id", Message: "duplicate id 'AAAAAAAA-5555-4555-8555-555555555555' (first defined at consumers[2].keyauth_credentials[0])"},
				{Path: "targets[0]", Message: "duplicate derived id '087a10ba-f61e-5055-9ac2-6e9cb8e9b71b' (first defined at upstreams[0].targets[0])"},
				{Path: "upstreams[1].id", Message: "duplicate id '84cf81c7-fae6-5920-b712-292931a8c3ff' (first derived for upstreams[0])"},
				{Path: "plugins[1].id", Message: "duplicate id '77777777-7777-4777-8777-777777777777' (first defined at plugins[0])"},
				{Path: "vaults[1].id", Message: "duplicate id '88888888-8888-4888-8888-888888888888' (first defined at vaults[0])"},
			},
		},
		{
			name: "ids are unique per kind only",
			src: `services:
- id: 11111111-1111-4111-8111-111111111111
  url: http://a.internal
  routes: [{id: 11111111-1111-4111-8111-111111111111, paths: [/a]}]
consumers:
- {username: u, id: 11111111-1111-4111-8111-111111111111}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("_format_version: \"3.0\"\n"+tt.src), withKeyAuth)
			if diff := cmp.Diff(tt.want, asErrors(t, err), cmpopts.SortSlices(func(a, b FieldError) bool { return a.Path < b.Path }), ignoreLine); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
