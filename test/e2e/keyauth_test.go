package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// keyAuthConfig follows the routes of Kong's
// spec/03-plugins/09-key-auth/02-access_spec.lua, with consumers and keys
// declared in Kong's format, nested and top-level.
const keyAuthConfig = `
_format_version: "3.0"
consumers:
- username: alice
  custom_id: alice-custom
  keyauth_credentials: [{key: k1}]
- username: bob
  keyauth_credentials:
  - id: 7a9f0f3c-1b0e-4a59-9d43-3f6f6c0b2d11
    key: k2
- username: no-body
- username: jafar
  keyauth_credentials: [{key: k-ttl, ttl: 2}]
keyauth_credentials:
- key: k-top
  consumer: bob
services:
- name: svc
  url: %s
  routes:
  - name: plain
    paths: [/plain]
    plugins:
    - name: key-auth
  - name: hide
    paths: [/hide]
    plugins:
    - name: key-auth
      config: {hide_credentials: true, realm: test-realm}
  - name: custom
    paths: [/custom]
    plugins:
    - name: key-auth
      config: {key_names: [api_key, x-token]}
  - name: body
    paths: [/body]
    plugins:
    - name: key-auth
      config: {key_in_body: true, hide_credentials: true}
  - name: header-only
    paths: [/header-only]
    plugins:
    - name: key-auth
      config: {key_in_query: false}
  - name: anon
    paths: [/anon]
    plugins:
    - name: key-auth
      config: {anonymous: no-body}
  - name: ghost
    paths: [/ghost]
    plugins:
    - name: key-auth
      config: {anonymous: ghost}
  - name: preflight
    paths: [/preflight]
    plugins:
    - name: key-auth
      config: {run_on_preflight: false}
`

// kongError is the body Kong's kong.response.error renders for JSON.
func kongError(msg string, resp *http.Response) string {
	return "{\n  \"message\":\"" + msg + "\",\n  \"request_id\":\"" + resp.Header.Get("X-Request-Id") + "\"\n}"
}

// kongMessage is the message of a Kong JSON error body, "" when body is
// not one.
func kongMessage(body string) string {
	var m struct{ Message string }
	if json.Unmarshal([]byte(body), &m) != nil {
		return ""
	}
	return m.Message
}

type kaReq struct {
	method, path string
	header       []string
	ct, body     string
}

// authFailure is a request a credential plugin refuses, with the status,
// Kong's message and the WWW-Authenticate challenge of the answer.
type authFailure struct {
	name    string
	req     kaReq
	status  int
	msg     string
	wwwAuth string
}

// checkAuthFailures sends each request as a subtest and requires its
// answer, in Kong's JSON error body, and that it never reached up.
func checkAuthFailures(t *testing.T, gw *gwtest.Gateway, up *gwtest.Echo, failures []authFailure) {
	t.Helper()
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
}

// authSpoofed are the consumer headers a client sends to pass for
// someone: the upstream must never see these values.
var authSpoofed = []string{
	"X-Consumer-Id", "evil", "X-Consumer-Username", "mallory", "X-Consumer-Custom-Id", "evil",
	"X-Credential-Identifier", "evil", "X-Anonymous-Consumer", "true",
}

// authIdentity is the consumer headers the upstream must see; "*" is any
// single value other than a spoofed one, "" means absent.
type authIdentity struct{ id, customID, username, credential, anonymous string }

// authSucceeds sends r with authSpoofed added, requires a 200 and want's
// headers on the upstream, and returns what the upstream saw.
func authSucceeds(t *testing.T, gw *gwtest.Gateway, r kaReq, want authIdentity) gwtest.Seen {
	t.Helper()
	r.header = append(r.header[:len(r.header):len(r.header)], authSpoofed...)
	resp, body := kaDo(t, gw, r)
	if resp.StatusCode != 200 {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	seen := gwtest.DecodeSeen(t, body)
	wantHeader(t, seen, "X-Consumer-Id", want.id)
	wantHeader(t, seen, "X-Consumer-Custom-Id", want.customID)
	wantHeader(t, seen, "X-Consumer-Username", want.username)
	wantHeader(t, seen, "X-Credential-Identifier", want.credential)
	wantHeader(t, seen, "X-Anonymous-Consumer", want.anonymous)
	return seen
}

// authSuccess is a request a credential plugin lets through, with the
// identity and the Authorization header ("" for none) the upstream gets.
type authSuccess struct {
	name string
	req  kaReq
	want authIdentity
	auth string
}

// checkAuthSuccesses runs authSucceeds on each request as a subtest and
// checks the Authorization header the upstream got.
func checkAuthSuccesses(t *testing.T, gw *gwtest.Gateway, successes []authSuccess) {
	t.Helper()
	for _, tt := range successes {
		t.Run(tt.name, func(t *testing.T) {
			seen := authSucceeds(t, gw, tt.req, tt.want)
			wantHeader(t, seen, "Authorization", tt.auth)
		})
	}
}

// wantHeader checks the upstream got header name once with the value
// want ("*": any value but a spoofed one), or not at all for "".
func wantHeader(t *testing.T, seen gwtest.Seen, name, want string) {
	t.Helper()
	got := seen.Header[name]
	switch {
	case want == "" && len(got) != 0:
		t.Errorf("upstream got %s %q, want none", name, got)
	case want == "*" && (len(got) != 1 || got[0] == "" || got[0] == "evil" || got[0] == "mallory"):
		t.Errorf("upstream got %s %q", name, got)
	case want != "" && want != "*" && (len(got) != 1 || got[0] != want):
		t.Errorf("upstream got %s %q, want %q", name, got, want)
	}
}

func kaDo(t *testing.T, gw *gwtest.Gateway, r kaReq) (*http.Response, string) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	req := gwtest.NewRequest(t, r.method, gw.URL+r.path, r.body, r.header...)
	if r.ct != "" {
		req.Header.Set("Content-Type", r.ct)
	}
	return gwtest.Do(t, req)
}

func TestKeyAuth(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(keyAuthConfig, up.URL), gwtest.Options{})

	// The ttl counts from the load: check the short-lived key first.
	t.Run("ttl", func(t *testing.T) {
		if resp, body := kaDo(t, gw, kaReq{path: "/plain", header: []string{"apikey", "k-ttl"}}); resp.StatusCode != 200 {
			t.Fatalf("fresh key: %d %s", resp.StatusCode, body)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, body := kaDo(t, gw, kaReq{path: "/plain", header: []string{"apikey", "k-ttl"}})
			if resp.StatusCode == 401 {
				if body != kongError("Unauthorized", resp) {
					t.Errorf("expired key: %q", body)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("key with ttl 2 still accepted: %d", resp.StatusCode)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	failures := []authFailure{
		{"missing key", kaReq{path: "/plain"}, 401, "No API key found in request", "Key"},
		{"empty header", kaReq{path: "/plain", header: []string{"apikey", ""}}, 401, "No API key found in request", "Key"},
		{"empty query", kaReq{path: "/plain?apikey"}, 401, "No API key found in request", "Key"},
		{"realm", kaReq{path: "/hide"}, 401, "No API key found in request", `Key realm="test-realm"`},
		{"invalid header key", kaReq{path: "/plain", header: []string{"apikey", "123"}}, 401, "Unauthorized", "Key"},
		{"invalid query key", kaReq{path: "/plain?apikey=123"}, 401, "Unauthorized", "Key"},
		{"invalid key with realm", kaReq{path: "/hide?apikey=123"}, 401, "Unauthorized", `Key realm="test-realm"`},
		{"duplicate query key", kaReq{path: "/plain?apikey=k1&apikey=k1"}, 401, "Duplicate API key found", "Key"},
		{"duplicate header key", kaReq{path: "/plain", header: []string{"apikey", "k1", "apikey", "k1"}}, 401, "Duplicate API key found", "Key"},
		{"key in query disabled", kaReq{path: "/header-only?apikey=k1"}, 401, "No API key found in request", "Key"},
		{"preflight authenticated", kaReq{method: http.MethodOptions, path: "/plain"}, 401, "No API key found in request", "Key"},
		{"body key not read by default", kaReq{method: http.MethodPost, path: "/plain", ct: "application/x-www-form-urlencoded", body: "apikey=k1"},
			401, "No API key found in request", "Key"},
		{"invalid body key", kaReq{method: http.MethodPost, path: "/body", ct: "application/json", body: `{"apikey":"123"}`}, 401, "Unauthorized", "Key"},
		{"duplicate JSON key", kaReq{method: http.MethodPost, path: "/body", ct: "application/json", body: `{"apikey":["k1","k1"]}`},
			401, "Duplicate API key found", "Key"},
		{"duplicate form key", kaReq{method: http.MethodPost, path: "/body", ct: "application/x-www-form-urlencoded", body: "apikey=k1&apikey=k1"},
			401, "Duplicate API key found", "Key"},
		{"apikey[] is not a key", kaReq{method: http.MethodPost, path: "/body", ct: "application/x-www-form-urlencoded", body: "apikey[]=k1"},
			401, "No API key found in request", "Key"},
		{"unsupported body type", kaReq{method: http.MethodPost, path: "/body", ct: "text/plain", body: "apikey=k1"},
			401, "No API key found in request", "Key"},
		{"anonymous missing", kaReq{path: "/ghost"}, 500, "anonymous consumer ghost is configured but doesn't exist", ""},
	}
	checkAuthFailures(t, gw, up, failures)

	alice := authIdentity{id: "*", customID: "alice-custom", username: "alice", credential: "*"}
	bob := authIdentity{id: "*", username: "bob", credential: "7a9f0f3c-1b0e-4a59-9d43-3f6f6c0b2d11"}
	bobTop := authIdentity{id: "*", username: "bob", credential: "*"}
	anon := authIdentity{id: "*", username: "no-body", anonymous: "true"}

	multipartBody := func(kv ...string) (ct, body string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.SetBoundary("turnpike-key-auth-test")
		for i := 0; i+1 < len(kv); i += 2 {
			mw.WriteField(kv[i], kv[i+1])
		}
		mw.Close()
		return mw.FormDataContentType(), buf.String()
	}
	mpCT, mpBody := multipartBody("apikey", "k1", "foo", "bar")
	_, mpWant := multipartBody("foo", "bar")

	successes := []struct {
		name      string
		req       kaReq
		want      authIdentity
		query     string
		body      string
		keyHeader string // the key header the upstream must get, "" for none
	}{
		{name: "header", req: kaReq{path: "/plain", header: []string{"apikey", "k1"}}, want: alice, keyHeader: "k1"},
		{name: "query", req: kaReq{path: "/plain?apikey=k2"}, want: bob, query: "apikey=k2"},
		{name: "top-level credential", req: kaReq{path: "/plain?apikey=k-top"}, want: bobTop, query: "apikey=k-top"},
		{name: "query kept in order", req: kaReq{path: "/plain?c=valu%651&b=value2&apikey=k1&a=valu%653"}, want: alice,
			query: "c=valu%651&b=value2&apikey=k1&a=valu%653"},
		{name: "query hidden", req: kaReq{path: "/hide?c=value1&b=value2&apikey=k1&a=value3"}, want: alice, query: "c=value1&b=value2&a=value3"},
		{name: "encoded query hidden", req: kaReq{path: "/hide?c=valu%651&b=value2&api%6B%65%79=k1&a=valu%653"}, want: alice,
			query: "c=value1&b=value2&a=value3"},
		{name: "header hidden", req: kaReq{path: "/hide", header: []string{"apikey", "k1"}}, want: alice},
		{name: "underscore key name", req: kaReq{path: "/custom", header: []string{"Api-Key", "k1"}}, want: alice},
		{name: "second key name", req: kaReq{path: "/custom?x-token=k2"}, want: bob, query: "x-token=k2"},
		{name: "form body hidden", req: kaReq{method: http.MethodPost, path: "/body", ct: "application/x-www-form-urlencoded", body: "apikey=k1&foo=bar"},
			want: alice, body: "foo=bar"},
		{name: "JSON body hidden", req: kaReq{method: http.MethodPost, path: "/body", ct: "application/json", body: `{"apikey":"k1","foo":"bar"}`},
			want: alice, body: `{"foo":"bar"}`},
		{name: "multipart body hidden", req: kaReq{method: http.MethodPost, path: "/body", ct: mpCT, body: mpBody}, want: alice, body: mpWant},
		{name: "anonymous without key", req: kaReq{path: "/anon"}, want: anon},
		{name: "anonymous with wrong key", req: kaReq{path: "/anon", header: []string{"apikey", "123"}}, want: anon, keyHeader: "123"},
		{name: "anonymous with right key", req: kaReq{path: "/anon", header: []string{"apikey", "k1"}}, want: alice, keyHeader: "k1"},
		{name: "anonymous missing but key right", req: kaReq{path: "/ghost?apikey=k1"}, want: alice, query: "apikey=k1"},
		{name: "preflight skipped", req: kaReq{method: http.MethodOptions, path: "/preflight"}},
	}
	for _, tt := range successes {
		t.Run(tt.name, func(t *testing.T) {
			seen := authSucceeds(t, gw, tt.req, tt.want)
			if seen.Query != tt.query {
				t.Errorf("upstream query %q, want %q", seen.Query, tt.query)
			}
			if seen.Body != tt.body {
				t.Errorf("upstream body %q, want %q", seen.Body, tt.body)
			}
			if tt.req.ct != "" && seen.Header["Content-Type"][0] != tt.req.ct {
				t.Errorf("upstream Content-Type %q, want %q", seen.Header["Content-Type"], tt.req.ct)
			}
			var key []string
			if tt.keyHeader != "" {
				key = []string{tt.keyHeader}
			}
			if got := seen.Header["Apikey"]; fmt.Sprint(got) != fmt.Sprint(key) {
				t.Errorf("upstream apikey header %q, want %q", got, key)
			}
		})
	}
}
