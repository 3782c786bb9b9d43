package kongcompat

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// TestPrioAsKongComputesIt replays routes whose order Kong's packed priority
// decides differently from the order its documentation gives: the integers
// come from Kong 3.10's own get_priority (kong/router/transform.lua) run
// under LuaJIT, whose 32-bit shifts put the criteria count below the
// plain-host and regex bits and turn a negative regex_priority into the top
// bit. Each case runs through `turnpike explain` and the running proxy.
func TestPrioAsKongComputesIt(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	cfg := fmt.Sprintf(`_format_version: "3.0"
services:
- name: s
  url: %s
  routes:
  - name: host-only
    hosts: [api.test]
  - name: method-path
    methods: [GET]
    paths: [/admin]
  - name: regex
    paths: ["~/api/.*"]
  - name: method-prefix
    methods: [GET]
    paths: [/api/users]
  - name: negprio
    paths: ["~/neg/.*"]
    regex_priority: -1
  - name: three
    hosts: ["*.test"]
    methods: [GET]
    paths: [/neg/x]
`, up.URL)
	path := filepath.Join(t.TempDir(), "kong.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := gwtest.Start(t, cfg, gwtest.Options{})
	proxied := 0
	for _, tc := range []struct {
		source, host, path, want, reason string
	}{
		// 0x1000000020000000 (plain host) over 0x40000006 (two criteria).
		{"host-only over methods+paths", "api.test", "/admin", "host-only", "plain host"},
		// 0x0008000020000000 (regex) over 0x4000000a (two criteria).
		{"regex over methods+longer prefix", "other.test", "/api/users", "regex", "regex"},
		// 0x8008000020000000 (regex_priority -1) over 0x60000006 (three criteria).
		{"negative regex_priority over three criteria", "a.test", "/neg/x", "negprio", "regex_priority"},
		// Without the plain host the documented order holds: two criteria over one.
		{"methods+paths over a regex-free single path", "other.test", "/admin", "method-path", ""},
	} {
		rep := tiesExplain(t, path, http.MethodGet, "http://"+tc.host+tc.path)
		if rep.Matched == nil || rep.Matched.Route.Name != tc.want {
			t.Errorf("%s: explain matched %+v, want %s", tc.source, rep.Matched, tc.want)
			continue
		}
		if tc.reason != "" && (len(rep.Candidates) == 0 || rep.Candidates[0].Reason != tc.reason) {
			t.Errorf("%s: explain's reason for the runner-up = %+v, want %q", tc.source, rep.Candidates, tc.reason)
		}
		req, _ := http.NewRequest(http.MethodGet, gw.URL+tc.path, nil)
		req.Host = tc.host
		resp, body := gwtest.Do(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: proxy answered %d %s", tc.source, resp.StatusCode, body)
			continue
		}
		proxied++
		if got := gw.AccessLog(proxied); len(got) < proxied || got[proxied-1]["route"] != tc.want {
			t.Errorf("%s: the proxy used route %v, want %s", tc.source, got, tc.want)
		}
	}
}
