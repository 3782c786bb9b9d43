package e2e

import (
	"net/http"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// redirectConfig follows Kong's spec/03-plugins/45-redirect/02-access_spec.lua
// and 03-integration_spec.lua (the plugin on a consumer).
func redirectConfig(upstream string) string {
	return `
_format_version: "3.0"
consumers:
- username: bob
  keyauth_credentials: [{key: kong}]
  plugins: [{name: redirect, config: {location: "https://example.com/path?foo=bar"}}]
services:
- name: s
  url: ` + upstream + `
  routes:
  - {hosts: [api1.redirect.test], plugins: [{name: redirect, config: {location: "https://example.com"}}]}
  - {hosts: [api2.redirect.test], plugins: [{name: redirect, config: {status_code: 302, location: "https://example.com"}}]}
  - {hosts: [api3.redirect.test], plugins: [{name: redirect, config: {location: "https://example.com/path?foo=bar"}}]}
  - {hosts: [api4.redirect.test], plugins: [{name: redirect, config: {location: "https://example.com/some_path?foo=bar", keep_incoming_path: true}}]}
  - {hosts: [consumer.redirect.test], plugins: [{name: key-auth}]}
`
}

func TestRedirect(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, redirectConfig(up.URL), gwtest.Options{})
	for _, tc := range []struct {
		host, target, apikey string
		status               int
		location             string
	}{
		{"api1.redirect.test", "/status/200", "", 301, "https://example.com"},
		{"api2.redirect.test", "/status/200", "", 302, "https://example.com"},
		{"api3.redirect.test", "/status/200", "", 301, "https://example.com/path?foo=bar"},
		{"api4.redirect.test", "/status/200?keep=this", "", 301, "https://example.com/status/200?keep=this"},
		{"api4.redirect.test", "/a/../b//c?x=%20y", "", 301, "https://example.com/b/c?x=%20y"},
		{"consumer.redirect.test", "/request", "kong", 301, "https://example.com/path?foo=bar"},
	} {
		req, _ := http.NewRequest(http.MethodGet, gw.URL+tc.target, nil)
		req.Host = tc.host
		if tc.apikey != "" {
			req.Header.Set("apikey", tc.apikey)
		}
		resp, body := gwtest.Do(t, req)
		if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location || body != "redirecting" {
			t.Errorf("%s%s: %d Location %q body %q", tc.host, tc.target, resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if ct, ok := resp.Header["Content-Type"]; ok {
			t.Errorf("%s: Content-Type %q, Kong sends none", tc.host, ct)
		}
	}
	// Without the consumer's key, key-auth answers; the consumer's
	// redirect does not apply.
	req, _ := http.NewRequest(http.MethodGet, gw.URL+"/request", nil)
	req.Host = "consumer.redirect.test"
	if resp, _ := gwtest.Do(t, req); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no key: %d", resp.StatusCode)
	}
	if n := up.Count.Load(); n != 0 {
		t.Errorf("the upstream saw %d requests", n)
	}
}
