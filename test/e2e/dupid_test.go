package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// dupidConfig has route "victim", whose id Kong derives from its name, and
// a route in another service that either leaves its id alone or gives it
// the id written in attacker.
func dupidConfig(upstream, attacker string) string {
	id := ""
	if attacker != "" {
		id = "id: " + attacker + ", "
	}
	return fmt.Sprintf(`_format_version: "3.0"
services:
- name: tenant-a
  url: %s
  routes: [{name: victim, paths: [/v]}]
- name: tenant-b
  url: %s
  routes: [{name: attacker, %spaths: [/x]}]
`, upstream, upstream, id)
}

// The id derived for route "victim" (Kong's: a v5 UUID of its name).
const dupidVictimID = "3d35175c-6fb3-5764-83a4-d4fa28b7f5df"

// TestDupIDRefusedEverywhere: an id equal to another entity's derived id,
// in either case, is refused by validate, at start-up, on reload and by
// POST /config, with the path of the second entity and of the first; the
// configuration in force stays and its routes keep their ids.
func TestDupIDRefusedEverywhere(t *testing.T) {
	up := gwtest.StartEcho(t, "dupid").URL
	want := "services[1].routes[0].id: duplicate id '%s' (first derived for services[0].routes[0])"
	for _, id := range []string{dupidVictimID, strings.ToUpper(dupidVictimID)} {
		bad := writeFile(t, "bad.yml", dupidConfig(up, id))
		out, _, code := runCLI(t, nil, "validate", "-c", bad)
		if code != 1 || !strings.Contains(out, fmt.Sprintf(want, id)) {
			t.Errorf("validate with %s: exit %d\n%s", id, code, out)
		}
		// A gateway that accepted the file would run on: the deadline ends it.
		out, code = cfgRunCLI(t, 20*time.Second, "run", "-c", bad, "--proxy-listen", "127.0.0.1:0", "--admin-listen", "off")
		if code != 1 || !strings.Contains(out, fmt.Sprintf(want, id)) {
			t.Errorf("run with %s: exit %d\n%s", id, code, out)
		}
	}

	gw := gwtest.Start(t, dupidConfig(up, ""), gwtest.Options{})
	status, body := adminCall(t, gw, http.MethodPost, "/config", dupidConfig(up, strings.ToUpper(dupidVictimID)))
	if status != 400 || !strings.Contains(fmt.Sprint(kongField(body["fields"], "services[1].routes[0].id")), "duplicate id") {
		t.Errorf("POST /config: %d %v", status, body)
	}

	writeAtomically(t, configPath(t, gw), dupidConfig(up, dupidVictimID))
	gw.Signal(syscall.SIGHUP)
	var last map[string]any
	waitUntil(t, "the rejection to be recorded", func() bool {
		last, _ = adminStatus(t, gw)["last_reload"].(map[string]any)
		return last != nil && last["ok"] == false && last["trigger"] != "admin"
	})
	if errs := fmt.Sprint(last["errors"]); !strings.Contains(errs, fmt.Sprintf(want, dupidVictimID)) {
		t.Errorf("last_reload: %v", last)
	}

	status, body = adminCall(t, gw, http.MethodGet, "/routes/"+dupidVictimID, "")
	if status != 200 || body["name"] != "victim" {
		t.Errorf("GET /routes/%s: %d %v", dupidVictimID, status, body)
	}
}

// TestDupIDPluginCacheKeys: a reference written as {id: ...} adds nothing
// to a plugin's cache key, so these two rate-limiting plugins on different
// routes would get one derived id, and with a shared policy one counter.
func TestDupIDPluginCacheKeys(t *testing.T) {
	up := gwtest.StartEcho(t, "dupid").URL
	gw := gwtest.Start(t, dupidConfig(up, ""), gwtest.Options{})
	doc := `_format_version: "3.0"
services:
- name: a
  id: 11111111-1111-4111-8111-111111111111
  url: ` + up + `
  routes: [{name: a, id: 22222222-2222-4222-8222-222222222222, paths: [/a]}]
- name: svc2
  id: 33333333-3333-4333-8333-333333333333
  url: ` + up + `
  routes: [{name: r2, id: 44444444-4444-4444-8444-444444444444, paths: [/b]}]
consumers:
- username: b
plugins:
- name: rate-limiting
  route: {id: 44444444-4444-4444-8444-444444444444}
  service: a
  consumer: b
  config: {minute: 1000, policy: local}
- name: rate-limiting
  route: a
  service: {id: 33333333-3333-4333-8333-333333333333}
  consumer: b
  config: {minute: 1000, policy: local}
`
	status, body := adminCall(t, gw, http.MethodPost, "/config", doc)
	if msg := fmt.Sprint(kongField(body["fields"], "plugins[1]")); status != 400 || !strings.Contains(msg, "duplicate derived id '805b0c5d-d5d2-5abb-93bc-519925549980' (first derived for plugins[0])") {
		t.Errorf("POST /config: %d %v", status, body)
	}
}

// TestDupIDSNICase: SNI names differing only in case (or a wildcard's) are
// one name, since certificates are selected by the lower-case server name.
func TestDupIDSNICase(t *testing.T) {
	q := strconv.Quote
	a, aKey := selfSigned(t, "cert-a")
	b, bKey := selfSigned(t, "cert-b")
	cfg := writeFile(t, "kong.yml", `_format_version: "3.0"
certificates:
- {cert: `+q(a)+`, key: `+q(aKey)+`, snis: [shop.example.com, "*.example.com"]}
- {cert: `+q(b)+`, key: `+q(bKey)+`, snis: [SHOP.example.com, "*.EXAMPLE.com"]}
`)
	out, _, code := runCLI(t, nil, "validate", "-c", cfg)
	for _, want := range []string{
		"certificates[1].snis[0].name: duplicate name 'shop.example.com' (first defined at certificates[0].snis[0])",
		"certificates[1].snis[1].name: duplicate name '*.example.com' (first defined at certificates[0].snis[1])",
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("validate: exit %d, want %q:\n%s", code, want, out)
		}
	}
}
