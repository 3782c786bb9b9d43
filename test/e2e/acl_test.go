package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// aclConfig is a Kong 3.0 declarative config combining key-auth and acl, in
// the shape of Kong's spec/03-plugins/18-acl/02-access_spec.lua, with the
// patterns guide's acl config on /admin.
const aclConfig = `
_format_version: "3.0"
consumers:
- username: alice
  keyauth_credentials: [{key: k1}]
  acls: [{group: group-admin}]
- username: bob
  keyauth_credentials: [{key: k2}]
  acls: [{group: group-user}, {group: group-extra}]
- username: carol
  keyauth_credentials: [{key: k3}]
- username: dave
  keyauth_credentials: [{key: k4}]
  acls: [{group: Group-Admin}]
- username: anonymous
  acls: [{group: anonymous}]
- username: nobody
services:
- name: svc
  url: %s
  routes:
  - name: admin
    paths: [/admin]
    plugins:
    - name: key-auth
    - name: acl
      config:
        allow: [group-admin, group-user]
        deny: []
        hide_groups_header: false
  - name: deny
    paths: [/deny]
    plugins:
    - name: key-auth
    - name: acl
      config:
        deny: [group-admin]
  - name: hidden
    paths: [/hidden]
    plugins:
    - name: key-auth
    - name: acl
      config:
        allow: [group-admin]
        hide_groups_header: true
  - name: acl-only
    paths: [/acl-only]
    plugins:
    - name: acl
      config:
        allow: [group-admin]
  - name: anon
    paths: [/anon]
    plugins:
    - name: key-auth
      config:
        anonymous: anonymous
    - name: acl
      config:
        allow: [anonymous, group-admin]
  - name: anon-no-group
    paths: [/anon-no-group]
    plugins:
    - name: key-auth
      config:
        anonymous: nobody
    - name: acl
      config:
        allow: [everyone]
  - name: anon-no-group-deny
    paths: [/anon-no-group-deny]
    plugins:
    - name: key-auth
      config:
        anonymous: nobody
    - name: acl
      config:
        deny: [everyone]
`

func TestACLWithKeyAuth(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(aclConfig, up.URL), gwtest.Options{})

	const (
		forbidden    = "You cannot consume this service"
		unauthorized = "Unauthorized"
	)
	// groups: the X-Consumer-Groups value upstream, "-" for none at all.
	tests := []struct {
		name    string
		path    string
		key     string
		status  int
		message string
		groups  string
	}{
		{"allowed", "/admin", "k1", 200, "", "group-admin"},
		{"allowed, several groups", "/admin", "k2", 200, "", "group-user, group-extra"},
		{"credential, no groups", "/admin", "k3", 403, forbidden, ""},
		{"group names are case-sensitive", "/admin", "k4", 403, forbidden, ""},
		{"no key: key-auth answers first", "/admin", "", 401, "No API key found in request", ""},
		{"bad key: key-auth answers first", "/admin", "nope", 401, unauthorized, ""},
		{"denied", "/deny", "k1", 403, forbidden, ""},
		{"not denied", "/deny", "k2", 200, "", "group-user, group-extra"},
		{"not denied, no groups: empty header", "/deny", "k3", 200, "", ""},
		{"hide_groups_header", "/hidden", "k1", 200, "", "-"},
		{"hide_groups_header, refused", "/hidden", "k2", 403, forbidden, ""},
		{"no authentication plugin", "/acl-only", "", 401, unauthorized, ""},
		{"anonymous consumer with group", "/anon", "", 200, "", "anonymous"},
		{"real consumer beats anonymous", "/anon", "k1", 200, "", "group-admin"},
		{"real consumer not allowed", "/anon", "k2", 403, forbidden, ""},
		{"anonymous consumer without groups, allow", "/anon-no-group", "", 401, unauthorized, ""},
		{"anonymous consumer without groups, deny", "/anon-no-group-deny", "", 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := []string{"X-Consumer-Groups", "forged", "X-Authenticated-Groups", "forged"}
			if tt.key != "" {
				hdr = append(hdr, "apikey", tt.key)
			}
			resp, body := gw.Get(tt.path, hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.message != "" {
				if kongMessage(body) != tt.message {
					t.Fatalf("body %q, want message %q", body, tt.message)
				}
				return
			}
			seen := gwtest.DecodeSeen(t, body)
			got, ok := seen.Header["X-Consumer-Groups"]
			switch {
			case tt.groups == "-" && ok:
				t.Errorf("X-Consumer-Groups %q sent despite hide_groups_header", got)
			case tt.groups != "-" && (!ok || strings.Join(got, "|") != tt.groups):
				t.Errorf("X-Consumer-Groups %q (present %v), want %q", got, ok, tt.groups)
			}
			if v, ok := seen.Header["X-Authenticated-Groups"]; ok {
				t.Errorf("client-sent X-Authenticated-Groups %q reached the upstream", v)
			}
		})
	}
}

func TestACLConfigValidation(t *testing.T) {
	bad := writeFile(t, "acl.yml", `
_format_version: "3.0"
consumers:
- username: alice
  plugins:
  - name: acl
    config:
      allow: [a]
routes:
- name: r
  paths: [/r]
  url: http://127.0.0.1:9
  plugins:
  - name: acl
    config:
      allow: [a]
      deny: [b]
- name: s
  paths: [/s]
  url: http://127.0.0.1:9
  plugins:
  - name: acl
`)
	out, stderr, code := runCLI(t, nil, "validate", "-c", bad)
	if code != 1 {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{
		"plugin 'acl' cannot be applied to consumers",
		"routes[0].plugins[0].config: exactly one of these fields must be non-empty: 'config.allow', 'config.deny'",
		"routes[1].plugins[0].config: at least one of these fields must be non-empty: 'config.allow', 'config.deny'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
}
