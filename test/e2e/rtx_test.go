package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// TestRtxTemplateExpressions: the expression forms beyond plain lookups,
// through the binary.
func TestRtxTemplateExpressions(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: svc
  url: %s
  routes:
  - name: users
    paths: ["~/users/(?<id>\\w+)$"]
    plugins:
    - name: request-transformer
      config:
        replace:
          uri: /v2/users/$(uri_captures.id:lower())
        add:
          headers:
          - "X-Tenant-Upper:$((headers.x_tenant or 'public'):upper())"
          - "X-Trace:$('t-' .. uri_captures[1] .. '-' .. (query_params.src or 'none'))"
  - name: broken
    paths: [/broken]
    plugins:
    - name: request-transformer
      config:
        add:
          headers: ["X-Fail:$('a' .. headers.missing)"]
`, up.URL), gwtest.Options{})

	_, body := gw.Get("/users/AbC?src=web", "X-Tenant", "acme")
	seen := gwtest.DecodeSeen(t, body)
	h := http.Header(seen.Header)
	if seen.Path != "/v2/users/abc" || h.Get("X-Tenant-Upper") != "ACME" || h.Get("X-Trace") != "t-AbC-web" {
		t.Errorf("path %q, X-Tenant-Upper %q, X-Trace %q", seen.Path, h.Get("X-Tenant-Upper"), h.Get("X-Trace"))
	}
	_, body = gw.Get("/users/Zed")
	h = http.Header(gwtest.DecodeSeen(t, body).Header)
	if h.Get("X-Tenant-Upper") != "PUBLIC" || h.Get("X-Trace") != "t-Zed-none" {
		t.Errorf("defaults: X-Tenant-Upper %q, X-Trace %q", h.Get("X-Tenant-Upper"), h.Get("X-Trace"))
	}

	// Concatenating nil is a Lua error in Kong too: the request fails.
	before := up.Count.Load()
	resp, body := gw.Get("/broken")
	if resp.StatusCode != http.StatusInternalServerError || kongMessage(body) != "An unexpected error occurred" {
		t.Errorf("nil concatenation: %d %s", resp.StatusCode, body)
	}
	if up.Count.Load() != before {
		t.Error("the failed request reached the upstream")
	}
	waitUntil(t, "the error log to say why", func() bool {
		return strings.Contains(gw.Stderr(), "failed to render the template in config.add.headers[0], error:attempt to concatenate a nil value")
	})
}
