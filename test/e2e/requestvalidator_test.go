package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// request-validator on the built binary: a body route, a verbose one and
// a parameter route with a path capture; what conforms reaches the
// upstream whole, what does not gets Kong's 400 and never leaves.
func TestRequestValidator(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, `
_format_version: "3.0"
services:
- name: s
  url: `+up.URL+`
  routes:
  - hosts: [body.test]
    plugins:
    - name: request-validator
      config:
        version: draft4
        body_schema: '{"type":"object","required":["name"],"properties":{"name":{"type":"string"}}}'
  - hosts: [verbose.test]
    plugins:
    - name: request-validator
      config:
        version: draft4
        verbose_response: true
        body_schema: '{"type":"object","required":["name"]}'
  - hosts: [params.test]
    paths: ['~/users/(?<id>[^/]+)$']
    plugins:
    - name: request-validator
      config:
        version: draft4
        parameter_schema:
        - {name: id, in: path, required: true, style: simple, explode: false, schema: '{"type":"integer"}'}
        - {name: limit, in: query, required: true, style: form, explode: false, schema: '{"type":"integer","maximum":50}'}
`, gwtest.Options{})
	send := func(host, method, path, ct, body string) (int, string) {
		req := gwtest.NewRequest(t, method, gw.URL+path, body, "Host", host)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, got := gwtest.Do(t, req)
		return resp.StatusCode, got
	}
	for _, tc := range []struct {
		name, host, method, path, ct, body string
		status                             int
		want                               string
	}{
		{"valid body", "body.test", "POST", "/b", "application/json", `{"name":"ann"}`, 200, `"body":"{\"name\":\"ann\"}"`},
		{"invalid body", "body.test", "POST", "/b", "application/json", `{"name":1}`, 400, `"message":"request body doesn't conform to schema"`},
		{"bad content type", "body.test", "POST", "/b", "text/plain", `{"name":"ann"}`, 400, `"message":"specified Content-Type is not allowed"`},
		{"too large", "body.test", "POST", "/b", "application/json", `{"name":"` + strings.Repeat("a", 1<<20) + `"}`, 413, `Request size limit exceeded`},
		{"verbose", "verbose.test", "POST", "/b", "application/json", `{}`, 400, `missing property 'name'`},
		{"valid params", "params.test", "GET", "/users/7?limit=5", "", "", 200, `"query":"limit=5"`},
		{"path not integer", "params.test", "GET", "/users/x?limit=5", "", "", 400, `"message":"request param doesn't conform to schema"`},
		{"limit missing", "params.test", "GET", "/users/7", "", "", 400, `"message":"request param doesn't conform to schema"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.Count.Load()
			status, body := send(tc.host, tc.method, tc.path, tc.ct, tc.body)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %s, want %d with %s", status, body, tc.status, tc.want)
			}
			if reached := up.Count.Load() != before; reached != (status == 200) {
				t.Fatalf("upstream reached: %v", reached)
			}
		})
	}
}

func TestRequestValidatorConfigErrors(t *testing.T) {
	path := writeFile(t, "rv.yml", `_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:1
  routes:
  - {name: a, paths: [/a], plugins: [{name: request-validator, config: {body_schema: '{"type":"object"}'}}]}
  - {name: b, paths: [/b], plugins: [{name: request-validator, config: {version: draft4, body_schema: '{"$ref":"http://example.com/s.json"}'}}]}
  - {name: c, paths: [/c], plugins: [{name: request-validator, config: {version: draft4, parameter_schema: [{name: x, in: cookie, required: true}]}}]}
`)
	out, code := cfgRunCLI(t, 15*time.Second, "validate", "-c", path)
	for _, want := range []string{
		"services[0].routes[0].plugins[0].config.version: only version 'draft4' is supported",
		"services[0].routes[1].plugins[0].config.body_schema: ",
		"services[0].routes[2].plugins[0].config.parameter_schema[0].in: expected one of: query, header, path",
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("validate = exit %d, want %q in:\n%s", code, want, out)
		}
	}
}
