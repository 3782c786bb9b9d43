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
	failures := []struct {
		name    string
		req     kaReq
		status  int
		msg     string
		wwwAuth string
	}{
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
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			before := up.Count.Load()
			resp, body := kaDo(t, gw, tt.req)
			if resp.StatusCode != tt.status || body != kongError(tt.msg, resp) {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.status, tt.msg)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.wwwAuth {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.wwwAuth)
			}
			if up.Count.Load() != before {
				t.Error("the request reached the upstream")
			}
		})
	}

	spoofed := []string{
		"X-Consumer-Id", "evil", "X-Consumer-Username", "mallory", "X-Consumer-Custom-Id", "evil",
		"X-Credential-Identifier", "evil", "X-Anonymous-Consumer", "true",
	}
	// identity is the consumer headers the upstream must see; "*" is any
	// single value other than a spoofed one, "" means absent.
	type identity struct{ id, customID, username, credential, anonymous string }
	bob := func(cred string) identity {
		return identity{id: "*", customID: "bob-custom", username: "bob", credential: cred}
	}
	aladdin := identity{id: "*", username: "Aladdin", credential: "Aladdin"}
	aladdinKey := identity{id: "*", username: "Aladdin", credential: "*"}
	anon := identity{id: "*", username: "no-body", anonymous: "true"}

	successes := []struct {
		name string
		req  kaReq
		want identity
		auth string // the Authorization the upstream must get, "" for none
	}{
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
	}
	// Kong also accepts credentials in Proxy-Authorization; the header is
	// never forwarded upstream.
	successes = append(successes, struct {
		name string
		req  kaReq
		want identity
		auth string
	}{name: "Proxy-Authorization", req: kaReq{path: "/plain", header: []string{"Proxy-Authorization", basicHeader("Aladdin:OpenSesame")}},
		want: aladdin})
	for _, tt := range successes {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.header = append(tt.req.header, spoofed...)
			resp, body := kaDo(t, gw, tt.req)
			if resp.StatusCode != 200 {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			seen := gwtest.DecodeSeen(t, body)
			for _, h := range []struct{ name, want string }{
				{"X-Consumer-Id", tt.want.id},
				{"X-Consumer-Custom-Id", tt.want.customID},
				{"X-Consumer-Username", tt.want.username},
				{"X-Credential-Identifier", tt.want.credential},
				{"X-Anonymous-Consumer", tt.want.anonymous},
			} {
				got := seen.Header[h.name]
				switch {
				case h.want == "" && len(got) != 0:
					t.Errorf("upstream got %s %q, want none", h.name, got)
				case h.want == "*" && (len(got) != 1 || got[0] == "" || got[0] == "evil" || got[0] == "mallory"):
					t.Errorf("upstream got %s %q", h.name, got)
				case h.want != "" && h.want != "*" && (len(got) != 1 || got[0] != h.want):
					t.Errorf("upstream got %s %q, want %q", h.name, got, h.want)
				}
			}
			var auth []string
			if tt.auth != "" {
				auth = []string{tt.auth}
			}
			if got := seen.Header["Authorization"]; fmt.Sprint(got) != fmt.Sprint(auth) {
				t.Errorf("upstream Authorization %q, want %q", got, auth)
			}
		})
	}
}
