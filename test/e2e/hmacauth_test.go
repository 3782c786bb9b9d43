package e2e

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// hmacAuthConfig follows the routes of Kong's
// spec/03-plugins/19-hmac-auth/03-access_spec.lua, with credentials in
// Kong's format, nested and top level.
const hmacAuthConfig = `
_format_version: "3.0"
consumers:
- username: bob
  custom_id: "1234"
  hmacauth_credentials:
  - {username: bob, secret: secret}
- username: no-body
- username: Aladdin
  keyauth_credentials: [{key: Mouse}]
hmacauth_credentials:
- {username: Aladdin, secret: OpenSesame, consumer: Aladdin}
services:
- name: svc
  url: %[1]s
  routes:
  - name: realm
    paths: [/realm]
    plugins:
    - name: hmac-auth
      config: {clock_skew: 3000, realm: test-realm}
  - name: body
    paths: [/body]
    plugins:
    - name: hmac-auth
      config: {validate_request_body: true, enforce_headers: [date, request-line], hide_credentials: true}
  - name: anon
    paths: [/anon]
    plugins:
    - name: hmac-auth
      config: {anonymous: no-body}
  - name: and
    paths: [/and]
    plugins:
    - name: key-auth
    - name: hmac-auth
  - name: or
    paths: [/or]
    plugins:
    - name: key-auth
      config: {anonymous: no-body}
    - name: hmac-auth
      config: {anonymous: no-body}
`

func hmacSign(h func() hash.Hash, secret, s string) string {
	m := hmac.New(h, []byte(secret))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func hmacHeader(user, alg, headers, sig string) string {
	return fmt.Sprintf(`hmac username="%s", algorithm="%s", headers="%s", signature="%s"`, user, alg, headers, sig)
}

func TestHMACAuth(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(hmacAuthConfig, up.URL), gwtest.Options{})
	date := time.Now().UTC().Format(http.TimeFormat)
	dateSig := hmacSign(sha1.New, "secret", "date: "+date)
	dateAuth := hmacHeader("bob", "hmac-sha1", "date", dateSig)
	aladdin := hmacHeader("Aladdin", "hmac-sha1", "date", hmacSign(sha1.New, "OpenSesame", "date: "+date))

	const noDate = "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication"
	failures := []authFailure{
		{"no credentials", kaReq{path: "/realm", header: []string{"Date", date}}, 401, "Unauthorized", `hmac realm="test-realm"`},
		{"no date", kaReq{path: "/realm", header: []string{"Authorization", dateAuth}}, 401, noDate, `hmac realm="test-realm"`},
		{"stale date", kaReq{path: "/realm", header: []string{"Date", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), "Authorization", dateAuth}}, 401, noDate, `hmac realm="test-realm"`},
		{"not hmac", kaReq{path: "/realm", header: []string{"Date", date, "Authorization", "asd"}}, 401, "HMAC signature cannot be verified", `hmac realm="test-realm"`},
		{"unknown user", kaReq{path: "/realm", header: []string{"Date", date, "Authorization", hmacHeader("eve", "hmac-sha1", "date", dateSig)}}, 401, "HMAC signature cannot be verified", `hmac realm="test-realm"`},
		{"wrong secret", kaReq{path: "/realm", header: []string{"Date", date, "Authorization", hmacHeader("bob", "hmac-sha1", "date", hmacSign(sha1.New, "guess", "date: "+date))}},
			401, "HMAC signature does not match", `hmac realm="test-realm"`},
		{"request-line not signed", kaReq{path: "/body", header: []string{"Date", date, "Authorization", dateAuth}}, 401, "HMAC signature cannot be verified", "hmac"},
		{"body tampered", kaReq{method: "POST", path: "/body", body: "tampered", header: []string{"Date", date, "Digest", "SHA-256=" + sha256B64("original"),
			"Authorization", hmacHeader("bob", "hmac-sha256", "date request-line digest",
				hmacSign(sha256.New, "secret", "date: "+date+"\nPOST /body HTTP/1.1\ndigest: SHA-256="+sha256B64("original")))}},
			401, "HMAC signature does not match", "hmac"},
		{"and: only the key", kaReq{path: "/and", header: []string{"apikey", "Mouse"}}, 401, "Unauthorized", "hmac"},
		{"and: only the signature", kaReq{path: "/and", header: []string{"Date", date, "Authorization", aladdin}}, 401, "No API key found in request", "Key"},
	}
	checkAuthFailures(t, gw, up, failures)

	t.Run("signed request reaches the upstream as bob", func(t *testing.T) {
		resp, body := kaDo(t, gw, kaReq{path: "/realm?x=1", header: []string{"Date", date, "Authorization", dateAuth,
			"X-Consumer-Username", "mallory"}})
		seen := gwtest.DecodeSeen(t, body)
		if resp.StatusCode != 200 || first(seen.Header, "X-Consumer-Username") != "bob" || first(seen.Header, "X-Consumer-Custom-Id") != "1234" ||
			first(seen.Header, "X-Credential-Identifier") != "bob" || first(seen.Header, "Authorization") != dateAuth {
			t.Fatalf("%d %+v", resp.StatusCode, seen.Header)
		}
	})
	t.Run("body, request line and digest signed; credentials hidden", func(t *testing.T) {
		payload := `{"order": 42}`
		digest := "SHA-256=" + sha256B64(payload)
		sig := hmacSign(sha256.New, "secret", "date: "+date+"\nPOST /body/orders?id=7 HTTP/1.1\ndigest: "+digest)
		auth := hmacHeader("bob", "hmac-sha256", "date request-line digest", sig)
		req, err := http.NewRequest("POST", gw.URL+"/body/orders?id=7", io.NopCloser(strings.NewReader(payload)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Date", date)
		req.Header.Set("Digest", digest)
		req.Header.Set("Authorization", auth)
		resp, body := gwtest.Do(t, req) // a body of unknown length goes chunked
		seen := gwtest.DecodeSeen(t, body)
		if resp.StatusCode != 200 || seen.Body != payload || first(seen.Header, "X-Consumer-Username") != "bob" {
			t.Fatalf("%d %+v", resp.StatusCode, seen)
		}
		if _, ok := seen.Header["Authorization"]; ok {
			t.Error("hide_credentials: Authorization reached the upstream")
		}
	})
	t.Run("signature in Proxy-Authorization", func(t *testing.T) {
		resp, body := kaDo(t, gw, kaReq{path: "/realm", header: []string{"Date", date, "Proxy-Authorization", dateAuth, "Authorization", "hello"}})
		if resp.StatusCode != 200 || first(gwtest.DecodeSeen(t, body).Header, "X-Consumer-Username") != "bob" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("anonymous", func(t *testing.T) {
		resp, body := kaDo(t, gw, kaReq{path: "/anon", header: []string{"Date", date, "Authorization", "asd"}})
		seen := gwtest.DecodeSeen(t, body)
		if resp.StatusCode != 200 || first(seen.Header, "X-Consumer-Username") != "no-body" || first(seen.Header, "X-Anonymous-Consumer") != "true" {
			t.Fatalf("%d %+v", resp.StatusCode, seen.Header)
		}
	})
	t.Run("logical OR: the signature alone", func(t *testing.T) {
		resp, body := kaDo(t, gw, kaReq{path: "/or", header: []string{"Date", date, "Authorization", aladdin}})
		seen := gwtest.DecodeSeen(t, body)
		if resp.StatusCode != 200 || first(seen.Header, "X-Consumer-Username") != "Aladdin" || first(seen.Header, "X-Anonymous-Consumer") != "" {
			t.Fatalf("%d %+v", resp.StatusCode, seen.Header)
		}
	})
	t.Run("logical AND: both", func(t *testing.T) {
		resp, _ := kaDo(t, gw, kaReq{path: "/and", header: []string{"apikey", "Mouse", "Date", date, "Authorization", aladdin}})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("admin API lists the credentials", func(t *testing.T) {
		resp, err := http.Get(gw.AdminURL + "/hmac-auths/bob")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%d %v", resp.StatusCode, err)
		}
		if got["username"] != "bob" || got["secret"] != "secret" {
			t.Fatalf("%v", got)
		}
	})
}

func sha256B64(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func first(h map[string][]string, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}
