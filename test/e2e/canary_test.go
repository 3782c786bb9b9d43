package e2e

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// side sends one request and says which echo upstream answered, failing
// on anything but a 200.
func side(t *testing.T, gw *gwtest.Gateway, path string, header ...string) gwtest.Seen {
	t.Helper()
	resp, body := gw.Get(path, header...)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: status %d: %s", path, resp.StatusCode, body)
	}
	return gwtest.DecodeSeen(t, body)
}

// A share of the route's traffic goes to the canary host and port, on
// the canary's path: sticky per header value, per client address (from a
// trusted proxy's header) and per consumer, near the percentage across
// many values, and exact with hash none (every run of steps requests
// visits each bucket once).
func TestCanaryShareAndStickiness(t *testing.T) {
	primary, canary := gwtest.StartEcho(t, "primary"), gwtest.StartEcho(t, "canary")
	ch, cp, _ := net.SplitHostPort(hostPort(canary.URL))
	var consumers strings.Builder
	for i := range 60 {
		fmt.Fprintf(&consumers, "- username: c%d\n  keyauth_credentials: [{key: key%d}]\n", i, i)
	}
	plugin := func(route, cfg string) string {
		return fmt.Sprintf("- name: canary\n  route: %s\n  config: {upstream_host: %q, upstream_port: %s, upstream_uri: /v2, %s}\n", route, ch, cp, cfg)
	}
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: s
  url: %s/v1
  routes:
  - {name: by-header, paths: [/h]}
  - {name: by-ip, paths: [/ip]}
  - {name: by-consumer, paths: [/c], plugins: [{name: key-auth}]}
  - {name: none, paths: [/n]}
consumers:
%splugins:
%s%s%s%s`, primary.URL, consumers.String(),
		plugin("by-header", "percentage: 25, hash: header, hash_header: X-User"),
		plugin("by-ip", "percentage: 25, hash: ip"),
		plugin("by-consumer", "percentage: 50"),
		plugin("none", "percentage: 25, hash: none, steps: 100")),
		gwtest.Options{Args: []string{"--access-log", "off", "--trusted-ips", "127.0.0.0/8"}})

	sticky := func(path string, n int, header func(i int) []string) int {
		t.Helper()
		on := 0
		for i := range n {
			first := side(t, gw, path, header(i)...)
			for range 2 {
				if again := side(t, gw, path, header(i)...); again.Name != first.Name {
					t.Fatalf("%s %v: %s, then %s", path, header(i), first.Name, again.Name)
				}
			}
			switch first.Name {
			case "canary":
				on++
				if first.Path != "/v2" || first.Host != hostPort(canary.URL) {
					t.Fatalf("canary request: path %q Host %q", first.Path, first.Host)
				}
			case "primary":
				if first.Path != "/v1/x" {
					t.Fatalf("primary request: path %q", first.Path)
				}
			}
		}
		return on
	}
	// 200 values at 25%: the binomial's standard deviation is about 6.
	if on := sticky("/h/x", 200, func(i int) []string { return []string{"X-User", fmt.Sprint("user-", i)} }); on < 30 || on > 70 {
		t.Errorf("by header: %d of 200 users on the canary, want about 50", on)
	}
	if on := sticky("/ip/x", 200, func(i int) []string { return []string{"X-Real-IP", fmt.Sprintf("198.51.%d.%d", i/100, i%100)} }); on < 30 || on > 70 {
		t.Errorf("by ip: %d of 200 addresses on the canary, want about 50", on)
	}
	if on := sticky("/c/x", 60, func(i int) []string { return []string{"apikey", fmt.Sprint("key", i)} }); on < 18 || on > 42 {
		t.Errorf("by consumer: %d of 60 consumers on the canary, want about 30", on)
	}
	on := 0
	for range 200 {
		if side(t, gw, "/n/x").Name == "canary" {
			on++
		}
	}
	if on != 50 {
		t.Errorf("hash none: %d of 200 on the canary, want 50", on)
	}
}

// The ramp: with start and duration the share grows from 0 to 100% in
// steps; before start nothing goes, after start+duration everything does.
func TestCanaryRamp(t *testing.T) {
	primary, canary := gwtest.StartEcho(t, "primary"), gwtest.StartEcho(t, "canary")
	ch, cp, _ := net.SplitHostPort(hostPort(canary.URL))
	now := time.Now().Unix()
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: s
  url: %s
  routes:
  - {name: future, paths: [/future]}
  - {name: half, paths: [/half]}
  - {name: done, paths: [/done]}
plugins:
- {name: canary, route: future, config: {upstream_host: %[2]q, upstream_port: %[3]s, hash: none, steps: 10, duration: 600, start: %[4]d}}
- {name: canary, route: half, config: {upstream_host: %[2]q, upstream_port: %[3]s, hash: none, steps: 10, duration: 600, start: %[5]d}}
- {name: canary, route: done, config: {upstream_host: %[2]q, upstream_port: %[3]s, hash: none, steps: 10, duration: 600, start: %[6]d}}
`, primary.URL, ch, cp, now+300, now-330, now-600), gwtest.Options{Args: []string{"--access-log", "off"}})
	for path, want := range map[string]int{"/future": 0, "/half": 50, "/done": 100} {
		on := 0
		for range 100 {
			if side(t, gw, path).Name == "canary" {
				on++
			}
		}
		if on != want {
			t.Errorf("%s: %d of 100 on the canary, want %d", path, on, want)
		}
	}
}

// upstream_host naming an upstreams entity: its balancer and health
// checks apply. Once its only target is found down, upstream_fallback
// keeps requests on the service; without it they get 503.
func TestCanaryUpstreamFallback(t *testing.T) {
	primary, canary := gwtest.StartEcho(t, "primary"), gwtest.StartEcho(t, "canary")
	dead := deadAddr(t)
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
upstreams:
- name: canary-up
  targets: [{target: %s}]
- name: canary-down
  healthchecks:
    active:
      type: tcp
      healthy: {interval: 0.1}
      unhealthy: {interval: 0.1, tcp_failures: 1}
  targets: [{target: %s}]
services:
- name: s
  url: %s
  routes:
  - {name: up, paths: [/up]}
  - {name: fallback, paths: [/fallback]}
  - {name: strict, paths: [/strict]}
plugins:
- {name: canary, route: up, config: {upstream_host: canary-up, percentage: 100}}
- {name: canary, route: fallback, config: {upstream_host: canary-down, percentage: 100, upstream_fallback: true}}
- {name: canary, route: strict, config: {upstream_host: canary-down, percentage: 100}}
`, strings.Replace(hostPort(canary.URL), "127.0.0.1", "localhost", 1), dead, primary.URL), gwtest.Options{Args: []string{"--access-log", "off"}})
	// canary-up's target is a name: an upstream only a plugin sends to
	// has its targets resolved too.
	if s := side(t, gw, "/up"); s.Name != "canary" || !strings.HasPrefix(s.Host, "canary-up") {
		t.Errorf("upstreams entity: %s, Host %q", s.Name, s.Host)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := gw.Get("/strict")
		if resp.StatusCode == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead canary target was never found down: %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for range 10 {
		if s := side(t, gw, "/fallback"); s.Name != "primary" {
			t.Fatalf("fallback went to %s", s.Name)
		}
	}
}

// A reload that changes the share takes effect, and one that keeps the
// plugin entry keeps sending to its canary (the kept instance's target
// is compiled again for the new configuration).
func TestCanaryReload(t *testing.T) {
	primary, canary := gwtest.StartEcho(t, "primary"), gwtest.StartEcho(t, "canary")
	cfg := func(percentage int, extra string) string {
		return fmt.Sprintf(`
_format_version: "3.0"
upstreams:
- name: canary-up
  targets: [{target: %s}]
services:
- name: s
  url: %s
  routes: [{name: r, paths: [/]}%s]
plugins:
- {name: canary, route: r, config: {upstream_host: canary-up, percentage: %d, hash: none, steps: 10}}
`, hostPort(canary.URL), primary.URL, extra, percentage)
	}
	gw := gwtest.Start(t, cfg(0, ""), gwtest.Options{Args: []string{"--access-log", "off", "--watch=false"}})
	share := func() int {
		on := 0
		for range 20 {
			if side(t, gw, "/x").Name == "canary" {
				on++
			}
		}
		return on
	}
	if n := share(); n != 0 {
		t.Fatalf("percentage 0: %d of 20 on the canary", n)
	}
	reload := func(src string) {
		t.Helper()
		before := strings.Count(gw.Stderr(), "configuration applied")
		writeAtomically(t, configPath(t, gw), src)
		gw.Signal(syscall.SIGHUP)
		waitUntil(t, "the reload", func() bool { return strings.Count(gw.Stderr(), "configuration applied") > before })
	}
	reload(cfg(100, ""))
	if n := share(); n != 20 {
		t.Errorf("percentage 100 after a reload: %d of 20 on the canary", n)
	}
	reload(cfg(100, ", {name: other, paths: [/other]}"))
	if n := share(); n != 20 {
		t.Errorf("after a reload that kept the plugin entry: %d of 20 on the canary", n)
	}
}
