package config

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDuplicatesNameTheirFirst: every duplicate check (endpoint keys,
// custom ids, targets, SNIs, plugin scopes, vault prefixes, written and
// derived ids, credential keys) says where the key was first, in First,
// and its message ends with the note naming it from Note on: the admin
// API blames a write's own entity from them, not from the wording.
func TestDuplicatesNameTheirFirst(t *testing.T) {
	cert, key := testPEM(t, false)
	q := strconv.Quote
	src := `_format_version: "3.0"
services:
- {name: s, url: http://a.internal}
- {name: s, url: http://b.internal}
- {id: 11111111-1111-4111-8111-111111111111, url: http://c.internal}
- {id: 11111111-1111-4111-8111-111111111111, url: http://d.internal}
routes:
- {name: r, paths: [/a], service: s}
- {name: r, paths: [/b], service: s}
consumers:
- {username: alice, custom_id: c, keyauth_credentials: [{key: k}]}
- {username: alice}
- {username: bob, custom_id: c, keyauth_credentials: [{key: k}]}
- {custom_id: d, id: B32379D9-3D28-5683-A79C-72139BE6E34F}
upstreams:
- name: p
  targets: [{target: "10.0.0.1:80"}, {target: "10.0.0.1:80"}]
- {name: p}
certificates:
- cert: ` + q(cert) + `
  key: ` + q(key) + `
  snis: [a.example, A.example]
plugins:
- {name: cors, instance_name: i}
- {name: cors, instance_name: i}
vaults:
- {name: env, prefix: vt}
- {name: env, prefix: vt}
`
	_, err := Parse([]byte(src), withKeyAuth)
	type dup struct{ Path, Said, First, Note string }
	var got []dup
	for _, e := range asErrors(t, err) {
		got = append(got, dup{e.Path, e.Message[:e.Note], e.First, e.Message[e.Note:]})
	}
	defined := func(first string) string { return " (first defined at " + first + ")" }
	want := []dup{
		{"vaults[1].prefix", "duplicate prefix 'vt'", "vaults[0]", defined("vaults[0]")},
		{"certificates[0].snis[1].name", "duplicate name 'a.example'", "certificates[0].snis[0]", defined("certificates[0].snis[0]")},
		{"upstreams[1].name", "duplicate name 'p'", "upstreams[0]", defined("upstreams[0]")},
		{"upstreams[0].targets[1].target", "duplicate target '10.0.0.1:80'", "upstreams[0].targets[0]", defined("upstreams[0].targets[0]")},
		{"services[1].name", "duplicate name 's'", "services[0]", defined("services[0]")},
		{"routes[1].name", "duplicate name 'r'", "routes[0]", defined("routes[0]")},
		{"consumers[1].username", "duplicate username 'alice'", "consumers[0]", defined("consumers[0]")},
		{"consumers[2].custom_id", "duplicate custom_id 'c'", "consumers[0]", defined("consumers[0]")},
		{"consumers[2].keyauth_credentials[0].key", "duplicate key", "consumers[0].keyauth_credentials[0]", defined("consumers[0].keyauth_credentials[0]")},
		{"plugins[1].instance_name", "duplicate instance_name 'i'", "plugins[0]", defined("plugins[0]")},
		{"plugins[1]", "duplicate plugin 'cors' for the same service, route and consumer", "plugins[0]", defined("plugins[0]")},
		{"services[3].id", "duplicate id '11111111-1111-4111-8111-111111111111'", "services[2]", defined("services[2]")},
		{"consumers[3].id", "duplicate id 'B32379D9-3D28-5683-A79C-72139BE6E34F'", "consumers[0]", " (first derived for consumers[0])"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("duplicates (-want +got):\n%s", diff)
	}
}

// A duplicate whose message is shortened has lost its note: it names no
// first place.
func TestDuplicateShortenedNamesNoFirst(t *testing.T) {
	var l ErrorList
	l.Add(Duplicate("services[1].name", "duplicate name", "services[0]", false))
	long := string(make([]byte, maxMessage))
	l.Add(Duplicate("services[2].name", long, "services[0]", false))
	errs := l.Errors()
	if e := errs[0]; e.First != "services[0]" || e.Message[e.Note:] != " (first defined at services[0])" {
		t.Errorf("kept whole: %+v", e)
	}
	if e := errs[1]; e.First != "" || e.Note != 0 || len(e.Message) > maxMessage+len("…") {
		t.Errorf("shortened: first %q note %d, %d bytes", e.First, e.Note, len(e.Message))
	}
}
