package e2e

import (
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// formType makes adminCall send a form-encoded write, as `curl -d name=x`
// does.
var formType = []string{"Content-Type", "application/x-www-form-urlencoded"}

// With --config-store file, entity writes change what the proxy serves,
// rewrite the -c file (valid, loading to the same entities) and survive a
// restart.
func TestAdminWritesFileStore(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	start := "# written by hand\n_format_version: \"3.0\"\nconsumers:\n- username: alice\n"
	gw := gwtest.Start(t, start, gwtest.Options{Args: []string{"--config-store", "file"}})
	path := gw.ConfigPath()

	code, svc := adminCall(t, gw, "POST", "/services", url.Values{"name": {"echo"}, "url": {up.URL}}.Encode(), formType...)
	if code != 201 {
		t.Fatalf("POST /services: %d %v", code, svc)
	}
	code, route := adminCall(t, gw, "POST", "/services/echo/routes", url.Values{"name": {"r"}, "paths[]": {"/echo"}}.Encode(), formType...)
	if code != 201 {
		t.Fatalf("POST /services/echo/routes: %d %v", code, route)
	}
	if resp, body := gw.Get("/echo/x"); resp.StatusCode != 200 || gwtest.DecodeSeen(t, body).Path != "/x" {
		t.Fatalf("/echo/x: %d %s", resp.StatusCode, body)
	}
	if code, body := adminCall(t, gw, "PATCH", "/routes/r", url.Values{"paths[]": {"/new"}}.Encode(), formType...); code != 200 {
		t.Fatalf("PATCH /routes/r: %d %v", code, body)
	}
	if resp, _ := gw.Get("/echo/x"); resp.StatusCode != 404 {
		t.Errorf("/echo after the PATCH: %d", resp.StatusCode)
	}
	if resp, _ := gw.Get("/new"); resp.StatusCode != 200 {
		t.Errorf("/new after the PATCH: %d", resp.StatusCode)
	}
	// A refused write leaves the file alone.
	before, _ := os.ReadFile(path)
	if code, body := adminCall(t, gw, "POST", "/services", url.Values{"name": {"echo"}, "host": {"x"}}.Encode(), formType...); code != 409 || body["code"] != 5.0 {
		t.Errorf("duplicate: %d %v", code, body)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("a refused write changed the file")
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := config.Parse(data, config.Options{})
	if err != nil {
		t.Fatalf("the rewritten file does not load: %v\n%s", err, data)
	}
	if strings.Contains(string(data), "written by hand") || len(m.Services) != 1 || m.Services[0].ID != svc["id"] || m.Routes[0].ID != route["id"] || len(m.Consumers) != 1 {
		t.Errorf("rewritten file:\n%s", data)
	}

	// An edit by hand that is not in force yet is never overwritten: the
	// write is refused until the watcher has applied the edit, then made
	// on top of it.
	hand := strings.Replace(string(data), "consumers:\n", "consumers:\n  - username: bob\n", 1)
	writeAtomically(t, path, hand)
	if code, body := adminCall(t, gw, "POST", "/consumers", url.Values{"username": {"carol"}}.Encode(), formType...); code != 409 {
		t.Errorf("write over a pending hand edit: %d %v", code, body)
	}
	waitUntil(t, "the hand edit to be applied", func() bool {
		code, _ := adminCall(t, gw, "GET", "/consumers/bob", "")
		return code == 200
	})
	if code, body := adminCall(t, gw, "POST", "/consumers", url.Values{"username": {"carol"}}.Encode(), formType...); code != 201 {
		t.Errorf("write after the hand edit: %d %v", code, body)
	}
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), "bob") || !strings.Contains(string(data), "carol") {
		t.Errorf("file after the hand edit and a write:\n%s", data)
	}

	gw.Stop()
	gw2 := gwtest.Start(t, "", gwtest.Options{ConfigPath: path, Args: []string{"--config-store", "file"}})
	if code, body := adminCall(t, gw2, "GET", "/services/echo", ""); code != 200 || body["id"] != svc["id"] {
		t.Errorf("after a restart: %d %v", code, body)
	}
	if resp, _ := gw2.Get("/new"); resp.StatusCode != 200 {
		t.Errorf("/new after a restart: %d", resp.StatusCode)
	}
	if code, _ := adminCall(t, gw2, "DELETE", "/consumers/alice", ""); code != 204 {
		t.Errorf("DELETE /consumers/alice: %d", code)
	}
	if data, _ := os.ReadFile(path); strings.Contains(string(data), "alice") {
		t.Errorf("deleted consumer still in the file:\n%s", data)
	}
}

// Without a store, writes answer 405 with Kong's DB-less body.
func TestAdminWritesWithoutStore(t *testing.T) {
	gw := gwtest.Start(t, "_format_version: \"3.0\"\n", gwtest.Options{})
	code, body := adminCall(t, gw, "POST", "/services", url.Values{"name": {"x"}, "host": {"h"}}.Encode(), formType...)
	want := "cannot create 'services' entities when not using a database"
	if code != 405 || body["code"] != 12.0 || body["name"] != "operation unsupported" || body["message"] != want {
		t.Errorf("%d %v", code, body)
	}
}

// kongField finds the message at a field path (`services[1].routes[0].id`)
// in Kong's nested `fields` of a 400.
func kongField(fields any, path string) any {
	cur := fields
	for _, dotted := range strings.Split(path, ".") {
		name, rest, _ := strings.Cut(dotted, "[")
		if m, ok := cur.(map[string]any); ok {
			cur = m[name]
		} else {
			return nil
		}
		for rest != "" {
			idx, tail, _ := strings.Cut(rest, "]")
			list, ok := cur.([]any)
			i, err := strconv.Atoi(idx)
			if !ok || err != nil || i >= len(list) {
				return nil
			}
			cur = list[i]
			rest = strings.TrimPrefix(tail, "[")
		}
	}
	return cur
}
