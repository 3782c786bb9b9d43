package admin

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/configstore"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

const writeConfig = `_format_version: "3.0"
services:
- name: s1
  url: http://127.0.0.1:9/one
  routes:
  - name: r1
    paths: [/one]
consumers:
- username: alice
  keyauth_credentials: [{key: alice-key}]
  plugins: [{name: rate-limiting, config: {minute: 10}}]
- username: bob
`

const (
	form = "application/x-www-form-urlencoded"
	js   = "application/json"
)

// newWriteFixture is a fixture whose writes go through a Commit that
// applies on the one loader, as a store's does after storing.
func newWriteFixture(t *testing.T) *fixture {
	var f *fixture
	f = newFixture(t, writeConfig, func(src *Source) {
		src.Commit = func(data []byte, _, who string) (*snapshot.Snapshot, error) {
			return f.loader.TryApply(data, who)
		}
	})
	return f
}

// send is do with a content type.
func (f *fixture) send(method, path, ctype, body string) (int, map[string]any) {
	f.t.Helper()
	code, out, _ := f.do(method, path, body, "Content-Type", ctype)
	return code, out
}

// expect checks a write's status and, on failure, shows its body.
func (f *fixture) expect(want int, method, path, ctype, body string) map[string]any {
	f.t.Helper()
	code, out := f.send(method, path, ctype, body)
	if code != want {
		f.t.Fatalf("%s %s %s: %d, want %d: %v", method, path, body, code, want, out)
	}
	return out
}

func id(body map[string]any, field string) string {
	ref, _ := body[field].(map[string]any)
	s, _ := ref["id"].(string)
	return s
}

func TestAdminWriteServicesAndRoutes(t *testing.T) {
	f := newWriteFixture(t)
	s2 := f.expect(201, "POST", "/services", form, "name=s2&url=http://127.0.0.1:10/two&tags[]=a&tags[]=b")
	if s2["host"] != "127.0.0.1" || s2["port"] != 10.0 || s2["path"] != "/two" || s2["retries"] != 5.0 || len(s2["id"].(string)) != 36 {
		t.Errorf("created service: %v", s2)
	}
	if !reflect.DeepEqual(s2["tags"], []any{"a", "b"}) {
		t.Errorf("tags %v", s2["tags"])
	}
	r2 := f.expect(201, "POST", "/services/s2/routes", js, `{"name": "r2", "paths": ["/two"]}`)
	if id(r2, "service") != s2["id"] {
		t.Errorf("nested route's service %v, want %v", r2["service"], s2["id"])
	}
	if got := f.get("/services/s2/routes/r2"); got["id"] != r2["id"] {
		t.Errorf("nested GET %v", got)
	}
	if code, _, _ := f.do("GET", "/services/s1/routes/r2", ""); code != 404 {
		t.Errorf("a route under another service: %d", code)
	}
	if got := f.expect(200, "PATCH", "/services/s2", js, `{"retries": 2}`); got["retries"] != 2.0 || got["host"] != "127.0.0.1" || got["id"] != s2["id"] {
		t.Errorf("patched: %v", got)
	}
	if got := f.expect(200, "PATCH", "/services/s2", js, `{"retries": null}`); got["retries"] != 5.0 {
		t.Errorf("null resets to the default: %v", got["retries"])
	}
	s3 := f.expect(200, "PUT", "/services/s3", js, `{"host": "h", "retries": 1}`)
	if s3["name"] != "s3" || s3["retries"] != 1.0 {
		t.Errorf("put created: %v", s3)
	}
	if got := f.expect(200, "PUT", "/services/s3", js, `{"host": "h2"}`); got["retries"] != 5.0 || got["id"] != s3["id"] || got["name"] != "s3" {
		t.Errorf("put replaced: %v", got)
	}
	ref := f.expect(400, "DELETE", "/services/s2", "", "")
	if ref["code"] != 4.0 || ref["message"] != "an existing 'routes' entity references this 'services' entity" {
		t.Errorf("delete of a referenced service: %v", ref)
	}
	f.expect(204, "DELETE", "/routes/r2", "", "")
	f.expect(204, "DELETE", "/services/s2", "", "")
	f.expect(204, "DELETE", "/services/s2", "", "")
	if code, _, _ := f.do("GET", "/services/s2", ""); code != 404 {
		t.Errorf("deleted service still served: %d", code)
	}
	if got := f.expect(404, "PATCH", "/services/nope", js, `{}`); got["message"] != "Not found" {
		t.Errorf("patch of nothing: %v", got)
	}
	f.expect(405, "POST", "/services/s1", js, `{}`)
	f.expect(405, "PUT", "/services", js, `{}`)
}

// A refused write changes nothing: the configuration in force is the one
// before it, byte for byte.
func TestAdminWriteRefusals(t *testing.T) {
	f := newWriteFixture(t)
	before := f.holder.Load().Hash
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		want                            map[string]any
	}{
		{"duplicate name", "POST", "/services", form, "name=s1&host=x", 409, map[string]any{
			"code": 5.0, "name": "unique constraint violation",
			"message": `UNIQUE violation detected on '{name="s1"}'`, "fields": map[string]any{"name": "s1"}}},
		{"duplicate username", "PATCH", "/consumers/bob", js, `{"username": "alice"}`, 409, map[string]any{
			"code": 5.0, "name": "unique constraint violation",
			"message": `UNIQUE violation detected on '{username="alice"}'`, "fields": map[string]any{"username": "alice"}}},
		{"dangling reference", "POST", "/routes", js, `{"paths": ["/x"], "service": {"id": "6c3a9f0e-7d44-4d8e-9a55-000000000000"}}`, 400, map[string]any{
			"code": 4.0, "name": "foreign key violation",
			"message": `the foreign key '{id="6c3a9f0e-7d44-4d8e-9a55-000000000000"}' does not reference an existing 'services' entity.`,
			"fields":  map[string]any{"service": map[string]any{"id": "6c3a9f0e-7d44-4d8e-9a55-000000000000"}}}},
		{"bad field", "PATCH", "/services/s1", js, `{"port": 700000}`, 400, nil},
		{"bad plugin config", "POST", "/services/s1/plugins", form, "name=rate-limiting&config.minute=-1", 400, nil},
		{"unknown field", "POST", "/consumers", js, `{"username": "carol", "nick": "c"}`, 400, nil},
		{"not JSON", "POST", "/consumers", js, `{"username": `, 400, map[string]any{"message": "Cannot parse JSON body"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := f.send(c.method, c.path, c.ctype, c.body)
			if code != c.status {
				t.Fatalf("%d, want %d: %v", code, c.status, body)
			}
			if c.want != nil && !reflect.DeepEqual(body, c.want) {
				t.Errorf("body\n%v\nwant\n%v", body, c.want)
			}
			if c.want == nil && (body["code"] != 2.0 || body["name"] != "schema violation") {
				t.Errorf("not a schema violation: %v", body)
			}
			if got := f.holder.Load().Hash; got != before {
				t.Errorf("the configuration changed")
			}
		})
	}
	// The loader's paths, relative to the entity written and nested.
	_, body := f.send("PATCH", "/services/s1", js, `{"port": 700000}`)
	if port, _ := body["fields"].(map[string]any)["port"].(string); port == "" || !strings.HasPrefix(body["message"].(string), "schema violation (port: ") {
		t.Errorf("port violation: %v", body)
	}
	_, body = f.send("POST", "/services/s1/plugins", form, "name=rate-limiting&config.minute=-1")
	if cfg, _ := body["fields"].(map[string]any)["config"].(map[string]any); cfg["minute"] == nil {
		t.Errorf("config.minute violation: %v", body)
	}
}

func TestAdminWritePluginsAndConsumers(t *testing.T) {
	f := newWriteFixture(t)
	p := f.expect(201, "POST", "/services/s1/plugins", form, "name=rate-limiting&config.minute=5&config.policy=local")
	cfg := p["config"].(map[string]any)
	if cfg["minute"] != 5.0 || id(p, "service") == "" {
		t.Errorf("created plugin: %v", p)
	}
	pid := p["id"].(string)
	sid := id(p, "service")
	dup := f.expect(409, "POST", "/services/s1/plugins", js, `{"name": "rate-limiting", "config": {"second": 1}}`)
	if dup["message"] != `UNIQUE violation detected on '{consumer=null,name="rate-limiting",route=null,service={id="`+sid+`"}}'` ||
		!reflect.DeepEqual(dup["fields"], map[string]any{"consumer": nil, "name": "rate-limiting", "route": nil, "service": map[string]any{"id": sid}}) {
		t.Errorf("second plugin of a name on a scope: %v", dup)
	}
	p = f.expect(200, "PATCH", "/plugins/"+pid, js, `{"config": {"hour": 100}}`)
	if cfg := p["config"].(map[string]any); cfg["minute"] != 5.0 || cfg["hour"] != 100.0 {
		t.Errorf("a patch merges config: %v", cfg)
	}
	if code, _, _ := f.do("GET", "/services/s1/plugins/"+pid, ""); code != 200 {
		t.Errorf("nested plugin GET: %d", code)
	}
	k := f.expect(201, "POST", "/consumers/bob/key-auth", form, "key=bob-key")
	bob := f.get("/consumers/bob")
	if id(k, "consumer") != bob["id"] {
		t.Errorf("credential's consumer %v, want %v", k["consumer"], bob["id"])
	}
	f.get("/key-auths/bob-key")
	// Kong generates an `auto` field left out.
	gen := f.expect(201, "POST", "/consumers/bob/key-auth", form, "")
	if key, _ := gen["key"].(string); len(key) != 32 {
		t.Errorf("generated key: %v", gen)
	}
	f.expect(204, "DELETE", "/key-auths/"+gen["id"].(string), "", "")
	f.expect(409, "POST", "/key-auths", js, `{"key": "bob-key", "consumer": {"username": "alice"}}`)
	f.expect(204, "DELETE", "/consumers/bob/key-auth/bob-key", "", "")
	if code, _, _ := f.do("GET", "/key-auths/bob-key", ""); code != 404 {
		t.Errorf("deleted credential: %d", code)
	}
	// Deleting a consumer deletes its credentials and plugins.
	f.expect(204, "DELETE", "/consumers/alice", "", "")
	if got := names(t, f.get("/key-auths"), "key"); len(got) != 0 {
		t.Errorf("alice's credentials remain: %v", got)
	}
	for _, e := range f.get("/plugins")["data"].([]any) {
		if e.(map[string]any)["consumer"] != nil {
			t.Errorf("alice's plugin remains: %v", e)
		}
	}
}

func TestAdminWriteUpstreamsAndTargets(t *testing.T) {
	f := newWriteFixture(t)
	u := f.expect(201, "POST", "/upstreams", form, "name=u1&healthchecks.active.healthy.interval=5")
	if hc := u["healthchecks"].(map[string]any)["active"].(map[string]any)["healthy"].(map[string]any); hc["interval"] != 5.0 {
		t.Errorf("upstream: %v", u)
	}
	tg := f.expect(201, "POST", "/upstreams/u1/targets", form, "target=10.0.0.1:80&weight=50")
	if tg["weight"] != 50.0 || id(tg, "upstream") != u["id"] {
		t.Errorf("target: %v", tg)
	}
	f.expect(409, "POST", "/upstreams/u1/targets", js, `{"target": "10.0.0.1:80"}`)
	// The same address in another upstream is another target.
	f.expect(201, "POST", "/upstreams", form, "name=u3")
	f.expect(201, "POST", "/upstreams/u3/targets", form, "target=10.0.0.1:80")
	if got := f.expect(200, "PUT", "/upstreams/u3/targets/10.0.0.1:80", form, "weight=7"); got["weight"] != 7.0 {
		t.Errorf("put of u3's target: %v", got)
	}
	if got := f.get("/upstreams/u1/targets"); got["data"].([]any)[0].(map[string]any)["weight"] != 50.0 {
		t.Errorf("u1's target changed: %v", got)
	}
	if got := f.expect(409, "POST", "/upstreams", js, `{"name": "u2", "id": "`+u["id"].(string)+`"}`); got["code"] != 3.0 ||
		got["message"] != `primary key violation on key '{id="`+u["id"].(string)+`"}'` {
		t.Errorf("id conflict: %v", got)
	}
	f.expect(204, "DELETE", "/upstreams/u1", "", "")
	if got := names(t, f.get("/upstreams"), "name"); strings.Join(got, ",") != "u3" {
		t.Errorf("upstreams: %v", got)
	}
	if snap := f.holder.Load(); len(snap.Model.Upstreams) != 1 || len(snap.Model.Upstreams[0].Targets) != 1 {
		t.Errorf("u1 or its target still in force")
	}
}

// A lost compare-and-set answers 409, and the client retries.
func TestAdminWriteConflict(t *testing.T) {
	f := newFixture(t, writeConfig, func(src *Source) {
		src.Commit = func([]byte, string, string) (*snapshot.Snapshot, error) { return nil, configstore.ErrConflict }
	})
	code, body := f.send("POST", "/consumers", js, `{"username": "carol"}`)
	if code != 409 || body["message"] != configstore.ErrConflict.Error() {
		t.Errorf("%d %v", code, body)
	}
}

// An entity write hands Commit the hash of the configuration it was made
// from, which the stores check again where they store; a whole document
// (POST /config) hands none.
func TestAdminWritePassesItsBase(t *testing.T) {
	var f *fixture
	var bases []string
	f = newFixture(t, writeConfig, func(src *Source) {
		src.Commit = func(data []byte, base, who string) (*snapshot.Snapshot, error) {
			bases = append(bases, base)
			return f.loader.TryApply(data, who)
		}
	})
	before := f.holder.Load().Hash
	f.expect(201, "POST", "/consumers", js, `{"username": "carol"}`)
	f.expect(201, "POST", "/config", "application/yaml", writeConfig)
	if len(bases) != 2 || bases[0] != before || bases[1] != "" {
		t.Errorf("bases %q, want [%q \"\"]", bases, before)
	}
}

func TestViolationNesting(t *testing.T) {
	got := violation(config.Errors{
		{Path: "plugins[2].config.origins[1]", Message: "bad origin"},
		{Path: "plugins[2].name", Message: "required field missing"},
		{Path: "plugins[2]", Message: "whole"},
		{Path: "routes[0].paths[0]", Message: "elsewhere"},
	}, "plugins[2]")
	b, _ := json.Marshal(got)
	want := `{"code":2,"fields":{"@entity":["whole"],"config":{"origins":[null,"bad origin"]},"name":"required field missing","routes":[{"paths":["elsewhere"]}]},` +
		`"message":"4 schema violations (whole; config.origins.2: bad origin; name: required field missing; routes.1.paths.1: elsewhere)","name":"schema violation"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestAdminWriteCertificatesAndSNIs(t *testing.T) {
	f := newWriteFixture(t)
	cert, key := selfSigned(t)
	body, _ := json.Marshal(map[string]any{"cert": cert, "key": key, "snis": []string{"a.example"}})
	c := f.expect(201, "POST", "/certificates", js, string(body))
	cid := c["id"].(string)
	if !reflect.DeepEqual(c["snis"], []any{"a.example"}) || c["key"] != nil {
		t.Errorf("certificate: %v", c)
	}
	s := f.expect(201, "POST", "/certificates/"+cid+"/snis", form, "name=b.example")
	if id(s, "certificate") != cid {
		t.Errorf("sni: %v", s)
	}
	if got := names(t, f.get("/certificates/"+cid+"/snis"), "name"); strings.Join(got, ",") != "a.example,b.example" {
		t.Errorf("snis of the certificate: %v", got)
	}
	f.expect(409, "POST", "/snis", js, `{"name": "a.example", "certificate": {"id": "`+cid+`"}}`)
	f.expect(200, "PATCH", "/snis/b.example", js, `{"name": "c.example"}`)
	if got := f.get("/certificates/" + cid); !reflect.DeepEqual(got["snis"], []any{"a.example", "c.example"}) {
		t.Errorf("after renaming an sni: %v", got["snis"])
	}
	// A certificate's snis in a PUT are its whole set.
	body, _ = json.Marshal(map[string]any{"cert": cert, "key": key, "snis": []string{"d.example"}})
	if got := f.expect(200, "PUT", "/certificates/"+cid, js, string(body)); !reflect.DeepEqual(got["snis"], []any{"d.example"}) {
		t.Errorf("put snis: %v", got["snis"])
	}
	f.expect(201, "POST", "/services", js, `{"name": "tls", "url": "https://127.0.0.1:9", "client_certificate": {"id": "`+cid+`"}}`)
	if got := f.expect(400, "DELETE", "/certificates/"+cid, "", ""); got["message"] != "an existing 'services' entity references this 'certificates' entity" {
		t.Errorf("delete of a client certificate in use: %v", got)
	}
	f.expect(204, "DELETE", "/services/tls", "", "")
	f.expect(204, "DELETE", "/certificates/"+cid, "", "")
	// A certificate has no endpoint key: PUT creates it only by id.
	f.expect(404, "PUT", "/certificates/not-an-id", js, string(body))
	if got := f.get("/snis"); len(got["data"].([]any)) != 0 {
		t.Errorf("snis outlive their certificate: %v", got)
	}

	ca := selfSignedCA(t)
	body, _ = json.Marshal(map[string]any{"cert": ca})
	c = f.expect(201, "POST", "/ca_certificates", js, string(body))
	if d, _ := c["cert_digest"].(string); len(d) != 64 {
		t.Errorf("ca certificate: %v", c)
	}
	f.expect(204, "DELETE", "/ca_certificates/"+c["id"].(string), "", "")
	if got := f.get("/ca_certificates"); len(got["data"].([]any)) != 0 {
		t.Errorf("ca certificates: %v", got)
	}
}

// TestAdminCertificateSNIErrorPath: a certificate's bad SNI is reported
// on its list of names (Kong's `snis[0]`), by a write and by a validate of
// the same body alike.
func TestAdminCertificateSNIErrorPath(t *testing.T) {
	f := newWriteFixture(t)
	cert, key := selfSigned(t)
	// SNIs of another certificate come first in the flat form's list.
	first, _ := json.Marshal(map[string]any{"cert": cert, "key": key, "snis": []string{"a.example", "b.example"}})
	f.expect(201, "POST", "/certificates", js, string(first))
	body, _ := json.Marshal(map[string]any{"cert": cert, "key": key, "snis": []string{"c.example", "120.0.9.32:90"}})
	for _, path := range []string{"/certificates", "/schemas/certificates/validate"} {
		got := f.expect(400, "POST", path, js, string(body))
		if _, ok := fieldAt(got["fields"], "snis[1]").(string); !ok || len(got["fields"].(map[string]any)["snis"].([]any)) != 2 {
			t.Errorf("POST %s: no message at (only) snis[1] in %v", path, got["fields"])
		}
	}
	// Another certificate's SNI error keeps its top-level path; the
	// written one's moves under it.
	obj := func(kv ...string) *config.Object {
		o := &config.Object{}
		for i := 0; i < len(kv); i += 2 {
			o.Set(kv[i], kv[i+1])
		}
		return o
	}
	ed := &edit{kind: &writeKind{kind: "certificates"}, id: "mine", flat: &config.Flat{Lists: map[string][]*config.Object{
		"certificates": {obj("id", "other"), obj("id", "mine")},
		"snis": {obj("name", "a", "certificate", "other"), obj("name", "b", "certificate", "mine"),
			obj("name", "c", "certificate", "other"), obj("name", "d", "certificate", "mine")},
	}}}
	errs := ed.nestSNIs(config.Errors{{Path: "snis[2].name", Message: "m"}, {Path: "snis[3].name", Message: "m"}})
	if errs[0].Path != "snis[2].name" || errs[1].Path != "certificates[1].snis[1].name" {
		t.Errorf("nested SNI paths: %q, %q", errs[0].Path, errs[1].Path)
	}
}

// fieldAt finds the message at path in Kong's nested `fields`; "@entity"
// is the entity's own list.
func fieldAt(fields any, path string) any {
	if path == "@entity" {
		m, _ := fields.(map[string]any)
		return m["@entity"]
	}
	cur := fields
	for _, tok := range pathTokens(path) {
		switch c := cur.(type) {
		case map[string]any:
			name, _ := tok.(string)
			cur = c[name]
		case []any:
			i, ok := tok.(int)
			if !ok || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

// Kong's 15-off_spec "returns 400 on a validation error".
func TestAdminPostConfigErrorShape(t *testing.T) {
	f := newFixture(t, writeConfig, nil)
	code, body, _ := f.do("POST", "/config", `{"config": "_format_version: \"1.1\"\nservices:\n- port: -12\n"}`, "Content-Type", js)
	delete(body, "flattened_errors")
	want := map[string]any{
		"code": 14.0, "name": "invalid declarative configuration",
		"fields": map[string]any{"services": []any{map[string]any{
			"host": "required field missing", "port": "value should be between 0 and 65535"}}},
		"message": `declarative config is invalid: {services={{host="required field missing",port="value should be between 0 and 65535"}}}`,
	}
	if code != 400 || !reflect.DeepEqual(body, want) {
		t.Errorf("%d\n%v\nwant\n%v", code, body, want)
	}
}

// Kong's 10-services_routes_spec cases, in both content types.
func TestAdminWriteKongServiceSpec(t *testing.T) {
	f := newWriteFixture(t)
	for _, ct := range []string{form, js} {
		enc := func(kv ...string) string {
			if ct == form {
				var parts []string
				for i := 0; i < len(kv); i += 2 {
					parts = append(parts, kv[i]+"="+kv[i+1])
				}
				return strings.Join(parts, "&")
			}
			m := map[string]string{}
			for i := 0; i < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			b, _ := json.Marshal(m)
			return string(b)
		}
		s := f.expect(201, "POST", "/services", ct, enc("url", "https://service.test/"))
		if s["port"] != 443.0 || s["path"] != "/" || s["name"] != nil || s["protocol"] != "https" || s["connect_timeout"] != 60000.0 {
			t.Errorf("%s: https url: %v", ct, s)
		}
		f.expect(204, "DELETE", "/services/"+s["id"].(string), "", "")
		f.expect(400, "POST", "/services", ct, enc("url", ""))
		f.expect(400, "POST", "/services", ct, enc("url", " "))
		if got := f.expect(400, "POST", "/services", ct, enc()); !reflect.DeepEqual(got["fields"], map[string]any{"host": "required field missing"}) {
			t.Errorf("%s: empty body: %v", ct, got)
		}
		got := f.expect(400, "POST", "/services", ct, enc("host", "example.test", "protocol", "foo"))
		// The loader's text lists the protocols in another order than
		// Kong's spec (and ws, wss): the loader's, left as it is.
		if msg, _ := fieldAt(got["fields"], "protocol").(string); !strings.HasPrefix(msg, "expected one of: ") {
			t.Errorf("%s: bad protocol: %v", ct, got)
		}
		f.expect(404, "PATCH", "/services/nope", ct, enc("host", "x"))
		f.expect(204, "DELETE", "/services/nope", "", "")
	}
	got := f.expect(400, "POST", "/services", js, `{"hello": "world"`)
	if !reflect.DeepEqual(got, map[string]any{"message": "Cannot parse JSON body"}) {
		t.Errorf("malformed JSON: %v", got)
	}
}

// While a POST /config loads, entity writes and other POSTs are busy
// (429), never queued behind the load.
func TestAdminWriteBusy(t *testing.T) {
	f := newWriteFixture(t)
	blocking := writeConfig + "plugins:\n- name: block\n  config: {wait: true}\n"
	done := blockLoad(f, func() int {
		code, _, _ := f.do(http.MethodPost, "/config", blocking)
		return code
	})
	code, body, hdr := f.do(http.MethodPost, "/consumers", `{"username": "carol"}`, "Content-Type", js)
	code2, _, _ := f.do(http.MethodPost, "/config", writeConfig)
	close(f.release)
	if code != 429 || body["message"] != "Currently loading previous configuration" || hdr.Get("Retry-After") != "1" || code2 != 429 {
		t.Errorf("write while loading = %d %v %v; POST /config %d", code, body, hdr, code2)
	}
	if c := <-done; c != 201 {
		t.Fatalf("the blocking POST: %d", c)
	}
	f.expect(201, "POST", "/consumers", js, `{"username": "carol"}`)
}

// An update keeps the created_at the admin API showed, also for an
// entity the file gives none (shown as the load's time): the document
// committed records it, so the update's own load does not move it.
func TestAdminWriteKeepsShownCreatedAt(t *testing.T) {
	f := newWriteFixture(t)
	_, svc, _ := f.do("GET", "/services/s1", "")
	_, route, _ := f.do("GET", "/routes/r1", "")
	f.expect(200, "PUT", "/services/s1", js, `{"name": "s1", "url": "http://127.0.0.1:9/one"}`)
	f.expect(200, "PATCH", "/routes/r1", js, `{"paths": ["/uno"]}`)
	m := f.holder.Load().Model
	if got := m.Services[0].Service.CreatedAt; float64(got) != svc["created_at"] {
		t.Errorf("PUT: created_at in the document %d, shown before %v", got, svc["created_at"])
	}
	if got := m.Routes[0].Route.CreatedAt; float64(got) != route["created_at"] {
		t.Errorf("PATCH: created_at in the document %d, shown before %v", got, route["created_at"])
	}
}
