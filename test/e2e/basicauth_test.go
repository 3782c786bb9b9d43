package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// basicAuthConfig follows the routes of Kong's
// spec/03-plugins/10-basic-auth/03-access_spec.lua, with credentials
// declared in Kong's format, nested and top-level, with plain passwords
// (hashed at load) and one given as a low-cost bcrypt hash (%[2]s).
const basicAuthConfig = `
_format_version: "3.0"
consumers:
- username: bob
  custom_id: bob-custom
  basicauth_credentials:
  - username: bob
    password: kong
  - username: user321
    password: "password:123"
- username: no-body
- username: Aladdin
  keyauth_credentials: [{key: Mouse}]
  basicauth_credentials: [{username: Aladdin, password: OpenSesame}]
basicauth_credentials:
- username: user123
  password: "%[2]s"
  consumer: bob
services:
- name: svc
  url: %[1]s
  routes:
  - name: realm
    paths: [/realm]
    plugins:
    - name: basic-auth
      config: {realm: test-realm}
  - name: plain
    paths: [/plain]
    plugins:
    - name: basic-auth
  - name: hide
    paths: [/hide]
    plugins:
    - name: basic-auth
      config: {hide_credentials: true}
  - name: anon
    paths: [/anon]
    plugins:
    - name: basic-auth
      config: {anonymous: no-body}
  - name: ghost
    paths: [/ghost]
    plugins:
    - name: basic-auth
      config: {anonymous: 9c6e1e4c-5a61-4d4b-8b2b-6f0bd1a3c0de}
  - name: and
    paths: [/and]
    plugins:
    - name: key-auth
    - name: basic-auth
  - name: or
    paths: [/or]
    plugins:
    - name: key-auth
      config: {anonymous: no-body}
    - name: basic-auth
      config: {anonymous: no-body}
`

func basicHeader(userPass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
}

func TestBasicAuth(t *testing.T) {
	hashed, err := bcrypt.GenerateFromPassword([]byte("password123"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(basicAuthConfig, up.URL, hashed), gwtest.Options{})

	bobKong := basicHeader("bob:kong")
	failures := []authFailure{
		{"missing credentials, realm configured", kaReq{path: "/realm"}, 401, "Unauthorized", `Basic realm="test-realm"`},
		{"missing credentials, default realm", kaReq{path: "/plain"}, 401, "Unauthorized", `Basic realm="service"`},
		{"invalid Authorization", kaReq{path: "/realm", header: []string{"Authorization", "foobar"}}, 401, "Unauthorized", `Basic realm="test-realm"`},
		{"invalid Proxy-Authorization", kaReq{path: "/realm", header: []string{"Proxy-Authorization", "foobar"}}, 401, "Unauthorized", `Basic realm="test-realm"`},
		{"password only", kaReq{path: "/plain", header: []string{"Authorization", "Basic a29uZw=="}}, 401, "Unauthorized", `Basic realm="service"`},
		{"username only", kaReq{path: "/plain", header: []string{"Authorization", "Basic Ym9i"}}, 401, "Unauthorized", `Basic realm="service"`},
		{"not Base64", kaReq{path: "/plain", header: []string{"Authorization", "Basic adXNlcjEyMzpwYXNzd29yZDEyMw=="}}, 401, "Unauthorized", `Basic realm="service"`},
		{"wrong password", kaReq{path: "/plain", header: []string{"Authorization", basicHeader("bob:nope")}}, 401, "Unauthorized", `Basic realm="service"`},
		{"wrong password for a pre-hashed credential", kaReq{path: "/plain", header: []string{"Authorization", basicHeader("user123:password12")}},
			401, "Unauthorized", `Basic realm="service"`},
		{"unknown username", kaReq{path: "/plain", header: []string{"Authorization", basicHeader("alice:kong")}}, 401, "Unauthorized", `Basic realm="service"`},
		{"preflight authenticated", kaReq{method: http.MethodOptions, path: "/plain"}, 401, "Unauthorized", `Basic realm="service"`},
		{"anonymous missing", kaReq{path: "/ghost"}, 500, "anonymous consumer 9c6e1e4c-5a61-4d4b-8b2b-6f0bd1a3c0de is configured but doesn't exist", ""},
		// Logical AND: both plugins must pass.
		{"and: only the key", kaReq{path: "/and", header: []string{"apikey", "Mouse"}}, 401, "Unauthorized", `Basic realm="service"`},
		{"and: only basic credentials", kaReq{path: "/and", header: []string{"Authorization", basicHeader("Aladdin:OpenSesame")}},
			401, "No API key found in request", "Key"},
		{"and: nothing", kaReq{path: "/and"}, 401, "No API key found in request", "Key"},
	}
	checkAuthFailures(t, gw, up, failures)

	bob := func(cred string) authIdentity {
		return authIdentity{id: "*", customID: "bob-custom", username: "bob", credential: cred}
	}
	aladdin := authIdentity{id: "*", username: "Aladdin", credential: "Aladdin"}
	aladdinKey := authIdentity{id: "*", username: "Aladdin", credential: "*"}
	anon := authIdentity{id: "*", username: "no-body", anonymous: "true"}

	successes := []authSuccess{
		{name: "Authorization", req: kaReq{path: "/plain", header: []string{"Authorization", bobKong}}, want: bob("bob"), auth: bobKong},
		{name: "pre-hashed top-level credential", req: kaReq{path: "/plain", header: []string{"Authorization", basicHeader("user123:password123")}},
			want: bob("user123"), auth: basicHeader("user123:password123")},
		{name: "cached verification", req: kaReq{path: "/plain", header: []string{"Authorization", basicHeader("user123:password123")}},
			want: bob("user123"), auth: basicHeader("user123:password123")},
		{name: "password containing ':'", req: kaReq{path: "/plain", header: []string{"Authorization", basicHeader("user321:password:123")}},
			want: bob("user321"), auth: basicHeader("user321:password:123")},
		{name: "lowercase scheme, no padding", req: kaReq{path: "/plain", header: []string{"Authorization", "basic Ym9iOmtvbmc"}},
			want: bob("bob"), auth: "basic Ym9iOmtvbmc"},
		{name: "hide_credentials false sends Authorization", req: kaReq{path: "/realm", header: []string{"Authorization", bobKong}}, want: bob("bob"), auth: bobKong},
		{name: "hide_credentials true removes Authorization", req: kaReq{path: "/hide", header: []string{"Authorization", bobKong}}, want: bob("bob")},
		{name: "anonymous: right credentials", req: kaReq{path: "/anon", header: []string{"Authorization", basicHeader("user123:password123")}},
			want: bob("user123"), auth: basicHeader("user123:password123")},
		{name: "anonymous: wrong credentials", req: kaReq{path: "/anon", header: []string{"Authorization", basicHeader("bob:nope")}},
			want: anon, auth: basicHeader("bob:nope")},
		{name: "anonymous: no credentials", req: kaReq{path: "/anon"}, want: anon},
		{name: "and: both", req: kaReq{path: "/and", header: []string{"apikey", "Mouse", "Authorization", basicHeader("Aladdin:OpenSesame")}},
			want: aladdin, auth: basicHeader("Aladdin:OpenSesame")},
		{name: "or: both", req: kaReq{path: "/or", header: []string{"apikey", "Mouse", "Authorization", basicHeader("Aladdin:OpenSesame")}},
			want: aladdinKey, auth: basicHeader("Aladdin:OpenSesame")},
		{name: "or: only the key", req: kaReq{path: "/or", header: []string{"apikey", "Mouse"}}, want: aladdinKey},
		{name: "or: only basic credentials", req: kaReq{path: "/or", header: []string{"Authorization", basicHeader("Aladdin:OpenSesame")}},
			want: aladdin, auth: basicHeader("Aladdin:OpenSesame")},
		{name: "or: nothing", req: kaReq{path: "/or"}, want: anon},
		// Kong also accepts credentials in Proxy-Authorization; the header
		// is never forwarded upstream.
		{name: "Proxy-Authorization", req: kaReq{path: "/plain", header: []string{"Proxy-Authorization", basicHeader("Aladdin:OpenSesame")}},
			want: aladdin},
	}
	checkAuthSuccesses(t, gw, successes)
}
