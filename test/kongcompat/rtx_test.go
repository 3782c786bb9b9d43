package kongcompat

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

const rtxAccessSpec = "Kong/kong spec/03-plugins/36-request-transformer/02-access_spec.lua"

// rtxConfig holds the routes and request-transformer plugins of Kong's
// access spec that use templates, under the hosts the spec gives them.
const rtxConfig = `
_format_version: "3.0"
services:
- name: mock
  url: %s
  routes:
  - name: route10
    hosts: [test10.test]
    paths: ["~/requests/user1/(?P<user1>\\w+)/user2/(?P<user2>\\S+)"]
    strip_path: false
  - name: route11
    hosts: [test11.test]
    paths: ["~/requests/user1/(?P<user1>\\w+)/user2/(?P<user2>\\S+)"]
  - name: route12
    hosts: [test12.test]
    paths: [/requests/]
    strip_path: false
  - name: route14
    hosts: [test14.test]
    paths: ["~/user1/(?P<user1>\\w+)/user2/(?P<user2>\\S+)"]
  - name: route15
    hosts: [test15.test]
    paths: ["~/requests/user1/(?<user1>\\w+)/user2/(?<user2>\\S+)"]
    strip_path: false
  - name: route16
    hosts: [test16.test]
    paths: ["~/requests/user1/(?<user1>\\w+)/user2/(?<user2>\\S+)"]
    strip_path: false
  - name: route17
    hosts: [test17.test]
    paths: ["~/requests/user1/(?<user1>\\w+)/user2/(?<user2>\\S+)"]
    strip_path: false
  - name: route18
    hosts: [test18.test]
    paths: ["~/requests/user1/(?<user1>\\w+)/user2/(?<user2>\\S+)"]
    strip_path: false
  - name: route25
    hosts: [test25.test]
  - name: route29
    hosts: [test29.test]
    paths: ["~/(gw/)?api/(?<subpath>htest)$"]
    strip_path: false
  - name: sandbox1
    hosts: [testLuaSandbox1.test]
plugins:
- name: request-transformer
  route: route10
  config:
    add:
      querystring: ["uri_param1:$(uri_captures.user1)", "uri_param2[some_index][1]:$(uri_captures.user2)"]
- name: request-transformer
  route: route11
  config:
    replace:
      uri: /requests/user2/$(uri_captures.user2)/user1/$(uri_captures.user1)
- name: request-transformer
  route: route12
  config:
    add:
      querystring: ["uri_param1:$(uri_captures.user1 or 'default1')", "uri_param2:$(uri_captures.user2 or 'default2')"]
- name: request-transformer
  route: route14
  config:
    replace:
      uri: /requests$(uri_captures[0])
- name: request-transformer
  route: route15
  config:
    add:
      querystring: ["uri_param1:$(uri_captures.user1)", "uri_param2:$(headers.host)"]
      headers: ["x-test-header:$(query_params.q1)"]
    remove:
      querystring: [q1]
- name: request-transformer
  route: route16
  config:
    replace:
      querystring: ["q2:$(headers['x-remove-header'])"]
    add:
      querystring: ["q1:$(uri_captures.user1)"]
      headers: ["x-test-header:$(headers['x-remove-header'])"]
    remove:
      headers: [x-remove-header]
- name: request-transformer
  route: route17
  config:
    replace:
      querystring: ["q2:$(headers['x-replace-header'])"]
      headers: ["x-replace-header:the new value"]
    add:
      querystring: ["q1:$(uri_captures.user1)"]
      headers: ["x-test-header:$(headers['x-replace-header'])"]
- name: request-transformer
  route: route18
  config:
    add:
      querystring: ["q1:$('$(uri_captures.user1)')"]
- name: request-transformer
  route: route25
  config:
    add:
      headers: ["X-Foo-Transformed:$(type(headers[\"X-Foo\"]) == \"table\" and headers[\"X-Foo\"][1] .. \"-first\" or headers[\"X-Foo\"])"]
- name: request-transformer
  route: route29
  config:
    replace:
      uri: /api/v2/$(uri_captures["subpath"])
- name: request-transformer
  route: sandbox1
  config:
    add:
      headers: ["x-added:$(type(query_params.user))"]
`

// TestRtxTemplates replays the template cases of Kong's access spec through
// the binary and an echo upstream.
func TestRtxTemplates(t *testing.T) {
	up := gwtest.StartEcho(t, "mock")
	gw := gwtest.Start(t, fmt.Sprintf(rtxConfig, up.URL), gwtest.Options{})
	form := []string{"Content-Type", "application/x-www-form-urlencoded"}
	tests := []struct {
		source string
		host   string
		target string
		header []string
		body   string
		// path is the upstream path; query the exact query string, or
		// args the arguments it must hold; headers the headers it must
		// hold ("" for absent).
		path    string
		query   string
		args    url.Values
		noArgs  []string
		headers map[string]string
	}{
		{
			source: "template as querystring parameters on GET",
			host:   "test10.test", target: "/requests/user1/foo/user2/bar?q1=20", header: form, body: "hello=world",
			path:  "/requests/user1/foo/user2/bar",
			query: "q1=20&uri_param1=foo&uri_param2%5Bsome_index%5D%5B1%5D=bar",
		},
		{
			source: "should update request path using hash",
			host:   "test11.test", target: "/requests/user1/foo/user2/bar",
			path: "/requests/user2/bar/user1/foo",
		},
		{
			source: "should not add querystring if hash missing",
			host:   "test12.test", target: "/requests/?q1=20",
			path: "/requests/",
			args: url.Values{"q1": {"20"}, "uri_param1": {"default1"}, "uri_param2": {"default2"}},
		},
		{
			source: "should not fail when uri template rendered using index",
			host:   "test14.test", target: "/user1/foo/user2/bar",
			path: "/requests/user1/foo/user2/bar",
		},
		{
			source: "validate using headers/req_querystring for rendering templates",
			host:   "test15.test", target: "/requests/user1/foo/user2/bar?q1=20", header: form,
			args:    url.Values{"uri_param1": {"foo"}, "uri_param2": {"test15.test"}},
			noArgs:  []string{"q1"},
			headers: map[string]string{"X-Test-Header": "20"},
		},
		{
			source: "validate that removed header can be used as template",
			host:   "test16.test", target: "/requests/user1/foo/user2/bar?q2=20",
			header:  append([]string{"x-remove-header", "its a test"}, form...),
			args:    url.Values{"q1": {"foo"}, "q2": {"its a test"}},
			headers: map[string]string{"X-Remove-Header": "", "X-Test-Header": "its a test"},
		},
		{
			source: "validate template will be rendered with old value of replaced header",
			host:   "test17.test", target: "/requests/user1/foo/user2/bar?q2=20",
			header:  append([]string{"x-replace-header", "the old value"}, form...),
			args:    url.Values{"q1": {"foo"}, "q2": {"the old value"}},
			headers: map[string]string{"X-Test-Header": "the old value", "X-Replace-Header": "the new value"},
		},
		{
			source: "validate template can be escaped",
			host:   "test18.test", target: "/requests/user1/foo/user2/bar?q2=20",
			header: append([]string{"x-replace-header", "the old value"}, form...),
			args:   url.Values{"q1": {"$(uri_captures.user1)"}, "q2": {"20"}},
		},
		{
			source: "type function is available in template environment",
			host:   "test25.test", target: "/request", header: []string{"X-Foo", "1", "X-Foo", "2"},
			headers: map[string]string{"X-Foo-Transformed": "1-first"},
		},
		{
			source: "replaces request uri with optional capture prefix",
			host:   "test29.test", target: "/api/htest",
			path: "/api/v2/htest",
		},
		{
			source: "replaces request uri with the capature prefix",
			host:   "test29.test", target: "/gw/api/htest",
			path: "/api/v2/htest",
		},
		{
			source: "should succeed when template accesses allowed Lua function from sandbox",
			host:   "testLuaSandbox1.test", target: "/?user=foo", header: form,
			headers: map[string]string{"X-Added": "string"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, gw.URL+tt.target, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Add(tt.header[i], tt.header[i+1])
			}
			resp, body := gwtest.Do(t, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d %s (source %s: %q)", resp.StatusCode, body, rtxAccessSpec, tt.source)
			}
			seen := gwtest.DecodeSeen(t, body)
			if tt.path != "" && seen.Path != tt.path {
				t.Errorf("upstream path %q, want %q", seen.Path, tt.path)
			}
			if tt.query != "" && seen.Query != tt.query {
				t.Errorf("upstream query %q, want %q", seen.Query, tt.query)
			}
			got, err := url.ParseQuery(seen.Query)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.args {
				if g := got[k]; strings.Join(g, "\x00") != strings.Join(want, "\x00") {
					t.Errorf("argument %s %q, want %q (query %q)", k, g, want, seen.Query)
				}
			}
			for _, k := range tt.noArgs {
				if _, ok := got[k]; ok {
					t.Errorf("argument %s still sent (query %q)", k, seen.Query)
				}
			}
			h := http.Header(seen.Header)
			for k, want := range tt.headers {
				if g := strings.Join(h.Values(k), ","); g != want {
					t.Errorf("header %s %q, want %q", k, g, want)
				}
			}
		})
	}
}
