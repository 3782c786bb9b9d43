package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

const tmplcapConfig = `
_format_version: "3.0"
services:
- name: svc
  url: %s
  routes:
  - name: amp
    paths: [/amp]
    plugins:
    - name: request-transformer
      config:
        add:
          headers: ["X-Amp:$(headers.x .. headers.x)"]
  - name: uri
    paths: [/u]
    plugins:
    - name: request-transformer
      config:
        replace:
          uri: "/t/$(query_params.p)"
  - name: host
    paths: [/h]
    plugins:
    - name: request-transformer
      config:
        replace:
          headers: ["host:$(query_params.h)"]
`

// TestTmplcapRenderedValueCap: a template that the request's own values
// would render past 64 KiB answers 400, the client's fault (no error log
// line a client could repeat at will), and nothing reaches the upstream.
func TestTmplcapRenderedValueCap(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(tmplcapConfig, up.URL), gwtest.Options{})

	resp, body := gw.Get("/amp", "X", strings.Repeat("a", 32<<10))
	h := http.Header(gwtest.DecodeSeen(t, body).Header)
	if resp.StatusCode != http.StatusOK || len(h.Get("X-Amp")) != 64<<10 {
		t.Fatalf("at the cap: %d, X-Amp %d bytes", resp.StatusCode, len(h.Get("X-Amp")))
	}

	before := up.Count.Load()
	resp, body = gw.Get("/amp", "X", strings.Repeat("a", 40000))
	if resp.StatusCode != http.StatusBadRequest || kongMessage(body) != "Bad request" {
		t.Errorf("over the cap: %d, %d bytes: %.200s", resp.StatusCode, len(body), body)
	}
	if up.Count.Load() != before {
		t.Error("the failed request reached the upstream")
	}
	if logs := gw.AccessLog(2); len(logs) < 2 || logs[1]["status"] != float64(400) || strings.Contains(gw.Stderr(), `"level":"ERROR"`) {
		t.Errorf("want the access log's 400 and no error line:\n%v\n%s", logs, gw.Stderr())
	}
}

// TestTmplcapURIHashEscaped: a '#' rendered into replace.uri is sent as
// %23; a '?' starts the query, as in Kong.
func TestTmplcapURIHashEscaped(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(tmplcapConfig, up.URL), gwtest.Options{})

	resp, body := gw.Get("/u?p=a%23frag")
	seen := gwtest.DecodeSeen(t, body)
	if resp.StatusCode != http.StatusOK || seen.Path != "/t/a%23frag" || seen.Query != "p=a%23frag" {
		t.Errorf("status %d, upstream path %q, query %q", resp.StatusCode, seen.Path, seen.Query)
	}
	_, body = gw.Get("/u?p=a%3Fb%3D1")
	seen = gwtest.DecodeSeen(t, body)
	if seen.Path != "/t/a" || seen.Query != "b=1?p=a%3Fb%3D1" {
		t.Errorf("'?': upstream path %q, query %q", seen.Path, seen.Query)
	}
}

// TestTmplcapBadTemplatedHost: a Host rendered from the request that
// cannot go into a request head is a 400, with no error log.
func TestTmplcapBadTemplatedHost(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(tmplcapConfig, up.URL), gwtest.Options{})

	// The proxy holds a Host a plugin set to the client's rules: beside
	// what cannot go into a request head, a userinfo or a second port that
	// an upstream may read as another host.
	for _, h := range []string{"a%0D%0AX-Evil:%201", "a%20b", "a%2Fb", "evil.example%40good.example", "a.example:80:80", "a.example%3Fx"} {
		resp, body := gw.Get("/h?h=" + h)
		if resp.StatusCode != http.StatusBadRequest || kongMessage(body) != "Bad request" {
			t.Errorf("h=%s: %d %s", h, resp.StatusCode, body)
		}
	}
	if up.Count.Load() != 0 {
		t.Error("a request with a bad Host reached the upstream")
	}
	resp, body := gw.Get("/h?h=up.example")
	if resp.StatusCode != http.StatusOK || gwtest.DecodeSeen(t, body).Host != "up.example" {
		t.Errorf("good host: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(gw.Stderr(), `"level":"ERROR"`) {
		t.Errorf("error logged:\n%s", gw.Stderr())
	}
}
