package kongcompat

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// TestTmplcapUnmatchedGroups: a regex group that took no part in the match
// is false in Kong (ngx.re.match), not "": request-termination's echo shows
// false, and request-transformer's `or` gives its default. The regex and
// the paths are those of Kong's get_uri_captures PDK test; the second path
// leaves every group out.
func TestTmplcapUnmatchedGroups(t *testing.T) {
	const source = "Kong/kong t/01-pdk/04-request/21-get_uri_captures.t: request.get_uri_captures()"
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, `_format_version: "3.0"
services:
- name: svc
  url: `+up.URL+`
  routes:
  - hosts: [echo.test]
    paths: ["~/t((/\\d+)(?P<tag>/\\w+))?$"]
    plugins:
    - name: request-termination
      config: {echo: true, status_code: 200}
  - hosts: [rtx.test]
    paths: ["~/t((/\\d+)(?P<tag>/\\w+))?$"]
    plugins:
    - name: request-transformer
      config:
        add:
          headers:
          - "X-Tag:$(uri_captures.tag or 'default')"
          - "X-First:$(uri_captures[1] or 'none')"
          - "X-Type:$(type(uri_captures.tag))"
`, gwtest.Options{})

	tests := []struct {
		path     string
		captures map[string]any
		headers  map[string]string
	}{
		{"/t/01/ok",
			map[string]any{"named": map[string]any{"tag": "/ok"}, "unnamed": []any{"/01/ok", "/01", "/ok"}},
			map[string]string{"X-Tag": "/ok", "X-First": "/01/ok", "X-Type": "string"}},
		{"/t",
			map[string]any{"named": map[string]any{"tag": false}, "unnamed": []any{false, false, false}},
			map[string]string{"X-Tag": "default", "X-First": "none", "X-Type": "boolean"}},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, gw.URL+tt.path, nil)
		req.Host = "echo.test"
		resp, body := gwtest.Do(t, req)
		var got struct {
			Request struct {
				URICaptures map[string]any `json:"uri_captures"`
			}
		}
		if err := json.Unmarshal([]byte(body), &got); resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("%s: echo %d %s", tt.path, resp.StatusCode, body)
		}
		if diff := cmp.Diff(tt.captures, got.Request.URICaptures); diff != "" {
			t.Errorf("%s: uri_captures (-want +got), source %s:\n%s", tt.path, source, diff)
		}

		req, _ = http.NewRequest(http.MethodGet, gw.URL+tt.path, nil)
		req.Host = "rtx.test"
		resp, body = gwtest.Do(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", tt.path, resp.StatusCode, body)
		}
		h := http.Header(gwtest.DecodeSeen(t, body).Header)
		for k, want := range tt.headers {
			if g := h.Get(k); g != want {
				t.Errorf("%s: %s %q, want %q (source %s)", tt.path, k, g, want, source)
			}
		}
	}
}
