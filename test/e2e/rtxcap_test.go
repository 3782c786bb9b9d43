package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

const rtxcapConfig = `
_format_version: "3.0"
services:
- name: svc
  url: %s
  routes:
  - name: secret
    paths: [/s]
    plugins:
    - name: request-transformer
      config:
        add:
          headers: ["x-one:1", "{vault://env/auth-hdr}"]
  - name: amp
    paths: [/amp]
    plugins:
    - name: request-transformer
      config:
        add:
          headers: ["x1:$(headers.x)", "x2:$(headers.x)", "x3:$(headers.x)"]
`

// TestRtxcapRenderErrorHidesTemplate: a template that fails to render is
// logged by its field, not its text, which here is a secret from a vault
// that any client could otherwise copy into the log.
func TestRtxcapRenderErrorHidesTemplate(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(rtxcapConfig, up.URL), gwtest.Options{Env: []string{
		"AUTH_HDR=authorization:Bearer S3cretUpstreamTok-$(headers.x:sub(headers.y))",
	}})

	resp, body := gw.Get("/s", "X", "abc", "Y", "zz")
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	waitUntil(t, "the error log line", func() bool {
		return strings.Contains(gw.Stderr(), "failed to render the template in config.add.headers[1], error:bad argument #1 to 'sub' (number expected, got string)")
	})
	if strings.Contains(gw.Stderr(), "S3cretUpstreamTok") {
		t.Errorf("the secret is in the log:\n%s", gw.Stderr())
	}
}

// TestRtxcapRenderedTotalPerRequest: values under 64 KiB each but over it
// together answer 400 like one value over it, and nothing reaches the
// upstream.
func TestRtxcapRenderedTotalPerRequest(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(rtxcapConfig, up.URL), gwtest.Options{Env: []string{"AUTH_HDR=a:b"}})

	resp, body := gw.Get("/amp", "X", strings.Repeat("a", 20000))
	h := http.Header(gwtest.DecodeSeen(t, body).Header)
	if resp.StatusCode != http.StatusOK || len(h.Get("X3")) != 20000 {
		t.Fatalf("under the total: %d, X3 %d bytes", resp.StatusCode, len(h.Get("X3")))
	}

	before := up.Count.Load()
	resp, body = gw.Get("/amp", "X", strings.Repeat("a", 30000))
	if resp.StatusCode != http.StatusBadRequest || kongMessage(body) != "Bad request" {
		t.Errorf("over the total: %d, %d bytes: %.200s", resp.StatusCode, len(body), body)
	}
	if up.Count.Load() != before {
		t.Error("the failed request reached the upstream")
	}
}
