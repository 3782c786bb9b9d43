package admin

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
)

func names(t *testing.T, body map[string]any, field string) []string {
	t.Helper()
	data, ok := body["data"].([]any)
	if !ok {
		t.Fatalf("no data list: %v", body)
	}
	out := make([]string, len(data))
	for i, d := range data {
		out[i] = fmt.Sprint(d.(map[string]any)[field])
	}
	return out
}

func TestAdminEntityLists(t *testing.T) {
	f := newFixture(t, fullConfig(t), nil)
	snap := f.holder.Load()
	checks := []struct{ path, field, want string }{
		{"/services", "name", "users,orders,standalone"},
		{"/routes", "name", "users-route,orders-route,standalone"},
		{"/consumers", "username", "alice,bob,<nil>"},
		{"/plugins", "name", "cors,request-termination,request-transformer,request-termination"},
		{"/upstreams", "name", "orders-up"},
		{"/certificates", "snis", "[example.com]"},
		{"/services/users/routes", "name", "users-route"},
		{"/services/users/plugins", "name", "cors"},
		{"/routes/users-route/plugins", "name", "request-termination"},
		{"/consumers/alice/plugins", "name", "request-transformer"},
		{"/upstreams/orders-up/targets", "target", "10.0.0.1:8080,10.0.0.2:8080"},
		{"/services/orders/plugins", "name", ""},
	}
	for _, c := range checks {
		body := f.get(c.path)
		if got := strings.Join(names(t, body, c.field), ","); got != c.want {
			t.Errorf("GET %s: %s = %q, want %q", c.path, c.field, got, c.want)
		}
		if body["next"] != nil {
			t.Errorf("GET %s: next = %v on the only page", c.path, body["next"])
		}
	}

	// Ids are the ones the proxy uses.
	svc := f.get("/services/users")
	if svc["id"] != snap.Services[0].Info.ID || svc["host"] != "users.internal" || svc["port"] != float64(8080) ||
		svc["path"] != "/v1" || svc["protocol"] != "http" || svc["retries"] != float64(5) ||
		svc["connect_timeout"] != float64(60000) || svc["enabled"] != true {
		t.Errorf("service users = %v", svc)
	}
	if byID := f.get("/services/" + snap.Services[0].Info.ID); byID["name"] != "users" {
		t.Errorf("service by id = %v", byID)
	}
	if o := f.get("/services/2f0d1f7e-1b7c-4a52-9c8e-8d8a2b9f0a11"); o["name"] != "orders" || o["path"] != nil {
		t.Errorf("service by configured id = %v", o)
	}
	route := f.get("/routes/users-route")
	if route["id"] != snap.Routes[0].Info.ID || route["strip_path"] != true || route["path_handling"] != "v0" ||
		route["https_redirect_status_code"] != float64(426) || route["methods"] != nil {
		t.Errorf("route = %v", route)
	}
	if fk := route["service"].(map[string]any); fk["id"] != snap.Services[0].Info.ID {
		t.Errorf("route.service = %v", fk)
	}
	if byID := f.get("/routes/" + snap.Routes[2].Info.ID); byID["name"] != "standalone" {
		t.Errorf("route by id = %v", byID)
	}
	alice := f.get("/consumers/alice")
	if alice["id"] != config.ConsumerID(&config.Consumer{Username: "alice"}) || alice["custom_id"] != nil {
		t.Errorf("consumer = %v", alice)
	}
	if c := f.get("/consumers/" + config.ConsumerID(&config.Consumer{CustomID: "c-3"})); c["custom_id"] != "c-3" {
		t.Errorf("consumer by id = %v", c)
	}

	// Plugins: config with defaults, foreign keys as {id}, instance_name.
	cors := f.get("/services/users/plugins")["data"].([]any)[0].(map[string]any)
	cfg := cors["config"].(map[string]any)
	if fmt.Sprint(cfg["origins"]) != "[https://example.com]" || cfg["credentials"] != false ||
		len(cfg["methods"].([]any)) != 9 || cors["enabled"] != true {
		t.Errorf("cors plugin = %v", cors)
	}
	if fk := cors["service"].(map[string]any); fk["id"] != snap.Services[0].Info.ID || cors["route"] != nil {
		t.Errorf("cors scope = %v / %v", cors["service"], cors["route"])
	}
	global := f.get("/plugins/global-term")
	if global["enabled"] != false || global["instance_name"] != "global-term" {
		t.Errorf("plugin by instance_name = %v", global)
	}
	if byID := f.get("/plugins/" + global["id"].(string)); byID["instance_name"] != "global-term" {
		t.Errorf("plugin by id = %v", byID)
	}

	up := f.get("/upstreams/orders-up")
	hc := up["healthchecks"].(map[string]any)
	if up["algorithm"] != "round-robin" || up["slots"] != float64(10000) || hc["active"] == nil {
		t.Errorf("upstream = %v", up)
	}
	tg := f.get("/upstreams/orders-up/targets")["data"].([]any)[1].(map[string]any)
	if tg["weight"] != float64(100) || tg["upstream"].(map[string]any)["id"] != up["id"] {
		t.Errorf("target = %v", tg)
	}

	certs := f.get("/certificates")["data"].([]any)
	cert := certs[0].(map[string]any)
	if !strings.Contains(cert["cert"].(string), "BEGIN CERTIFICATE") {
		t.Errorf("certificate = %v", cert)
	}
	if c := f.get("/certificates/" + cert["id"].(string)); c["id"] != cert["id"] {
		t.Errorf("certificate by id = %v", c)
	}
	for _, k := range []string{"key", "key_alt"} {
		if _, ok := cert[k]; ok {
			t.Errorf("certificate shows %s", k)
		}
	}

	for _, p := range []string{"/services/nope", "/routes/nope", "/consumers/nope", "/plugins/nope",
		"/upstreams/nope", "/upstreams/nope/targets", "/services/nope/routes", "/certificates/nope"} {
		if code, body, _ := f.do(http.MethodGet, p, ""); code != 404 || body["message"] != "Not found" {
			t.Errorf("GET %s = %d %v", p, code, body)
		}
	}
	// Trailing slashes resolve as Kong's do.
	if got := names(t, f.get("/services/"), "name"); len(got) != 3 {
		t.Errorf("GET /services/ = %v", got)
	}
}

func TestAdminEntityWritesRefused(t *testing.T) {
	f := newFixture(t, fullConfig(t), nil)
	cases := []struct{ method, path, want string }{
		{http.MethodPost, "/services", "cannot create 'services' entities when not using a database"},
		{http.MethodPut, "/routes/users-route", "cannot create or update 'routes' entities when not using a database"},
		{http.MethodPatch, "/consumers/alice", "cannot update 'consumers' entities when not using a database"},
		{http.MethodDelete, "/plugins/global-term", "cannot remove 'plugins' entities when not using a database"},
		{http.MethodPost, "/services/users/routes", "cannot create 'routes' entities when not using a database"},
		{http.MethodPost, "/upstreams/orders-up/targets", "cannot create 'targets' entities when not using a database"},
	}
	for _, c := range cases {
		code, body, _ := f.do(c.method, c.path, `{"name":"x"}`, "Content-Type", "application/json")
		if code != 405 || body["message"] != c.want || body["code"] != float64(12) || body["name"] != "operation unsupported" {
			t.Errorf("%s %s = %d %v", c.method, c.path, code, body)
		}
	}
	if code, body, _ := f.do(http.MethodPost, "/plugins/enabled", ""); code != 405 || body["message"] != "Method not allowed" {
		t.Errorf("POST /plugins/enabled = %d %v", code, body)
	}
	// Nothing changed.
	if got := names(t, f.get("/services"), "name"); len(got) != 3 {
		t.Errorf("services after refused writes = %v", got)
	}
}

func TestAdminPaging(t *testing.T) {
	var b strings.Builder
	b.WriteString("_format_version: \"3.0\"\nconsumers:\n")
	for i := range 25 {
		tag := "even"
		if i%2 == 1 {
			tag = "odd"
		}
		fmt.Fprintf(&b, "- username: user-%02d\n  tags: [%s, all]\n", i, tag)
	}
	f := newFixture(t, b.String(), nil)

	var seen []string
	next := "/consumers?size=10"
	pages := 0
	for next != "" {
		body := f.get(next)
		pages++
		seen = append(seen, names(t, body, "username")...)
		if body["next"] == nil {
			if _, ok := body["offset"]; ok {
				t.Errorf("offset on the last page: %v", body["offset"])
			}
			next = ""
			continue
		}
		next = body["next"].(string)
		u, err := url.Parse(next)
		if err != nil || u.Path != "/consumers" || u.Query().Get("size") != "10" || u.Query().Get("offset") != body["offset"] {
			t.Fatalf("next = %q (offset %v)", next, body["offset"])
		}
	}
	if pages != 3 || len(seen) != 25 || seen[0] != "user-00" || seen[24] != "user-24" {
		t.Errorf("%d pages, %d consumers: %v", pages, len(seen), seen)
	}
	if got := names(t, f.get("/consumers"), "username"); len(got) != 25 {
		t.Errorf("default page size gave %d", len(got))
	}

	// Paging keeps the tag filter in next.
	body := f.get("/consumers?tags=odd&size=5")
	if got := names(t, body, "username"); strings.Join(got, ",") != "user-01,user-03,user-05,user-07,user-09" {
		t.Errorf("odd page 1 = %v", got)
	}
	body = f.get(body["next"].(string))
	if got := names(t, body, "username"); got[0] != "user-11" || len(got) != 5 {
		t.Errorf("odd page 2 = %v", got)
	}

	for q, want := range map[string]string{
		"size=0": "size must be an integer between 1 and 1000", "size=1001": "size must be an integer between 1 and 1000",
		"size=1.5": "size must be an integer between 1 and 1000", "size=x": "size must be a number", "size=inf": "size must be a number",
	} {
		code, body, _ := f.do(http.MethodGet, "/consumers?"+q, "")
		if code != 400 || body["message"] != want || body["name"] != "invalid size" {
			t.Errorf("?%s = %d %v", q, code, body)
		}
	}
	for _, q := range []string{"offset=!!!", "offset=bm9wZQ"} {
		code, body, _ := f.do(http.MethodGet, "/consumers?"+q, "")
		if code != 400 || body["name"] != "invalid offset" {
			t.Errorf("?%s = %d %v", q, code, body)
		}
	}
}

func TestAdminTagFilters(t *testing.T) {
	f := newFixture(t, fullConfig(t), nil)
	cases := []struct{ query, want string }{
		{"team-a", "users"},
		{"public", "users,orders"},
		{"team-b,public", "orders"},
		{"team-a,team-b", ""},
		{"team-a/team-b", "users,orders"},
		{"nobody/team-a", "users"},
	}
	for _, c := range cases {
		body := f.get("/services?tags=" + url.QueryEscape(c.query))
		if got := strings.Join(names(t, body, "name"), ","); got != c.want {
			t.Errorf("tags=%s: %q, want %q", c.query, got, c.want)
		}
	}
	if got := strings.Join(names(t, f.get("/routes?tags=team-b"), "name"), ","); got != "standalone" {
		t.Errorf("routes tags=team-b: %s", got)
	}
	if got := strings.Join(names(t, f.get("/upstreams?tags=team-b"), "name"), ","); got != "orders-up" {
		t.Errorf("upstreams tags=team-b: %s", got)
	}
	errs := map[string]string{
		"a,b/c":       "invalid option (tags: invalid filter syntax)",
		"a/b,c":       "invalid option (tags: invalid filter syntax)",
		"":            "invalid option (tags: cannot be null)",
		"\xff":        "invalid option (tags: invalid filter syntax)",
		"a,,b":        "invalid option (tags: invalid filter syntax)",
		"a,b,c,d,e,f": "invalid option (tags: cannot query more than 5 tags)",
		"a/b/c/d/e/f": "invalid option (tags: cannot query more than 5 tags)",
	}
	for q, want := range errs {
		code, body, _ := f.do(http.MethodGet, "/services?tags="+url.QueryEscape(q), "")
		if code != 400 || body["message"] != want {
			t.Errorf("tags=%s = %d %v", q, code, body)
		}
	}
	// Kong 3.10's filter takes any printable byte but the separators
	// (its tags spec filters by "corp_ a").
	for _, q := range []string{"foo bar", "foo@bar", "''"} {
		if code, body, _ := f.do(http.MethodGet, "/services?tags="+url.QueryEscape(q), ""); code != 200 || len(body["data"].([]any)) != 0 {
			t.Errorf("tags=%s = %d %v", q, code, body)
		}
	}
	if got := names(t, f.get("/services?tags=a,b,c,d,public"), "name"); len(got) != 0 {
		t.Errorf("five tags = %v", got)
	}
}

// A DNS recompile swaps a new snapshot in without a new configuration:
// entities keep the created_at of the load that put the file in force.
func TestEntityTimesSurviveDNSRecompiles(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	_, body, _ := f.do(http.MethodGet, "/services/a", "")
	before := body["created_at"]
	if before == nil {
		t.Fatalf("no created_at: %v", body)
	}
	time.Sleep(1100 * time.Millisecond) // created_at has one-second resolution
	if _, err := f.loader.Refresh("dns"); err != nil {
		t.Fatal(err)
	}
	_, body, _ = f.do(http.MethodGet, "/services/a", "")
	if body["created_at"] != before {
		t.Errorf("created_at moved from %v to %v on a DNS recompile", before, body["created_at"])
	}
}

// A nested GET finds the child among its parent's only, by id or by its
// key, with the parent named either way; a target's address, which two
// upstreams may share, names the one in the upstream in the path.
func TestAdminNestedGetScopedToParent(t *testing.T) {
	f := newFixture(t, `_format_version: "3.0"
services:
- name: a
  url: http://a.internal
  routes:
  - name: a-route
    paths: [/a]
- name: b
  url: http://b.internal
upstreams:
- name: u1
  targets:
  - target: 10.0.0.1:80
    weight: 10
- name: u2
  targets:
  - target: 10.0.0.1:80
    weight: 20
`, nil)
	svc := f.get("/services/a")["id"].(string)
	route := f.get("/routes/a-route")["id"].(string)
	for _, p := range []string{"/services/a/routes/a-route", "/services/a/routes/" + route,
		"/services/" + svc + "/routes/a-route", "/services/" + svc + "/routes/" + route} {
		if got := f.get(p); got["id"] != route {
			t.Errorf("GET %s = %v", p, got)
		}
	}
	for _, p := range []string{"/services/b/routes/a-route", "/services/b/routes/" + route, "/services/nope/routes/a-route"} {
		if code, body, _ := f.do(http.MethodGet, p, ""); code != 404 || body["message"] != "Not found" {
			t.Errorf("GET %s = %d %v", p, code, body)
		}
	}
	for up, weight := range map[string]float64{"u1": 10, "u2": 20} {
		tg := f.get("/upstreams/" + up + "/targets/10.0.0.1:80")
		upID := f.get("/upstreams/" + up)["id"]
		if tg["weight"] != weight || tg["upstream"].(map[string]any)["id"] != upID {
			t.Errorf("GET /upstreams/%s/targets/10.0.0.1:80 = %v", up, tg)
		}
		if got := f.get("/upstreams/" + up + "/targets/" + tg["id"].(string)); got["id"] != tg["id"] {
			t.Errorf("GET /upstreams/%s/targets/{id} = %v", up, got)
		}
	}
}
