package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/gwtest/gokong"
)

// minimalPluginConfigs are the smallest configs the plugins that need
// fields accept (with a partial record in a list where a plugin has
// one); every other plugin is checked with no config at all.
var minimalPluginConfigs = map[string]string{
	"statsd":                `{"metrics":[{"name":"request_count","stat_type":"counter","sample_rate":1}]}`,
	"jwt":                   `{"claims_to_headers":[{"claim":"sub","header":"x-sub"}]}`,
	"acl":                   `{"allow":["a"]}`,
	"aggregate":             `{"calls":[{"name":"a","url":"http://127.0.0.1:9/a"}]}`,
	"canary":                `{"upstream_host":"b.internal"}`,
	"file-log":              `{"path":"/dev/null"}`,
	"http-log":              `{"http_endpoint":"http://127.0.0.1:9/"}`,
	"ip-restriction":        `{"allow":["127.0.0.1"]}`,
	"ldap-auth":             `{"ldap_host":"ldap.internal","base_dn":"dc=example,dc=com","attribute":"uid"}`,
	"logging":               `{"log_format":{"client":"$remote_addr"}}`,
	"oauth2":                `{"enable_client_credentials":true,"redis":{"host":"127.0.0.1"}}`,
	"openid-connect":        `{"issuer":"https://idp.internal/","client_id":["c"]}`,
	"opentelemetry":         `{"traces_endpoint":"http://127.0.0.1:4318/v1/traces"}`,
	"proxy-cache":           `{"strategy":"memory"}`,
	"rate-limiting":         `{"minute":5,"redis":{"cluster_nodes":[{"ip":"10.0.0.1"}]}}`,
	"redirect":              `{"location":"https://example.com/"}`,
	"request-mirror":        `{"mirror_url":"http://127.0.0.1:9/"}`,
	"request-validator":     `{"body_schema":"{\"type\":\"object\"}","version":"draft4","parameter_schema":[{"name":"q","in":"query","required":true,"style":"form","explode":false,"schema":"{}"}]}`,
	"response-ratelimiting": `{"limits":{"sms":{"minute":10}}}`,
	"tcp-log":               `{"host":"127.0.0.1","port":9}`,
	"udp-log":               `{"host":"127.0.0.1","port":9}`,
}

// needsCA are plugins whose minimal config names a CA certificate.
const needsCA = "mtls-auth"

// schemaFixture is an admin API whose configuration has one global
// plugin of every registered plugin, each with its minimal config.
func schemaFixture(t *testing.T) (*fixture, map[string]map[string]any) {
	t.Helper()
	ca := selfSignedCA(t)
	const caID = "6b3a1f0e-3c49-4d3e-9d3f-1a2b3c4d5e6f"
	probe := newFixture(t, smallConfig, nil)
	minimal := map[string]map[string]any{}
	var doc strings.Builder
	doc.WriteString(smallConfig + "ca_certificates:\n- id: " + caID + "\n  cert: " + gokong.JSON(ca) + "\nplugins:\n")
	for _, name := range probe.reg.Names() {
		if name == "block" {
			continue
		}
		cfg := map[string]any{}
		if s, ok := minimalPluginConfigs[name]; ok {
			if err := json.Unmarshal([]byte(s), &cfg); err != nil {
				t.Fatal(err)
			}
		}
		if name == needsCA {
			cfg["ca_certificates"] = []any{caID}
		}
		minimal[name] = cfg
		doc.WriteString("- name: " + name + "\n  config: " + gokong.JSON(cfg) + "\n")
	}
	return newFixture(t, doc.String(), nil), minimal
}

// schemaOf GETs a schema and checks Kong's shape: fields a list of
// one-key objects, entity_checks a list.
func schemaOf(t *testing.T, f *fixture, path string) map[string]any {
	t.Helper()
	body := f.get(path)
	fields, ok := body["fields"].([]any)
	if !ok || len(fields) == 0 {
		t.Fatalf("%s: fields = %v", path, body["fields"])
	}
	if _, ok := body["entity_checks"].([]any); !ok {
		t.Errorf("%s: entity_checks = %v", path, body["entity_checks"])
	}
	for _, fl := range fields {
		if m, ok := fl.(map[string]any); !ok || len(m) != 1 {
			t.Errorf("%s: field %v is not a one-key object", path, fl)
		}
	}
	return body
}

// sameJSON compares two values as JSON, a null the same as an absent key.
func sameJSON(a, b any) bool {
	return reflect.DeepEqual(dropNulls(gokong.RoundTrip(a)), dropNulls(gokong.RoundTrip(b)))
}

func dropNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
			} else {
				t[k] = dropNulls(e)
			}
		}
	case []any:
		for i := range t {
			t[i] = dropNulls(t[i])
		}
	}
	return v
}

// TestSchemaPluginsGoKongFill: for every registered plugin, go-kong's
// filling of its minimal config from GET /schemas/plugins/{name} gives
// a config that POST /schemas/plugins/validate accepts and that is what
// GET /plugins shows for the plugin loaded from the minimal config, so a
// decK diff of a file against the gateway that loaded it finds nothing.
func TestSchemaPluginsGoKongFill(t *testing.T) {
	f, minimal := schemaFixture(t)
	shown := map[string]any{}
	for _, p := range f.get("/plugins")["data"].([]any) {
		pm := p.(map[string]any)
		shown[pm["name"].(string)] = pm["config"]
	}
	for name, cfg := range minimal {
		schema := schemaOf(t, f, "/schemas/plugins/"+name)
		filled := gokong.FillPlugin(schema, cfg)
		// GDR's Plugin.EqualWithOpts compares the configs with
		// reflect.DeepEqual: a null is not an absent key there.
		if !reflect.DeepEqual(gokong.RoundTrip(filled), gokong.RoundTrip(shown[name])) {
			t.Errorf("%s: go-kong fills %s\nGET /plugins shows %s", name, gokong.JSON(filled), gokong.JSON(shown[name]))
		}
		entity := gokong.JSON(map[string]any{"name": name, "config": filled})
		if name == needsCA {
			continue // checked against the CAs in force by TestAdminValidatePluginSeesCACertificatesInForce
		}
		if code, body, _ := f.do(http.MethodPost, "/schemas/plugins/validate", entity, "Content-Type", "application/json"); code != 200 {
			t.Errorf("%s: the filled config is refused: %d %v", name, code, body)
		}
	}
}

// TestSchemaPluginDefaultsOnTheirFields: the describer puts each value
// of a plugin's empty config on its own field as its default, nested
// records included. The expected values are computed as pluginSchema
// computes them, so this checks the walk, not the values: that the
// values are what the gateway shows is TestSchemaPluginsGoKongFill's.
func TestSchemaPluginDefaultsOnTheirFields(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	for _, name := range f.reg.Names() {
		reg, _ := f.reg.Lookup(name)
		schema := schemaOf(t, f, "/schemas/plugins/"+name)
		conf := fieldOfJSON(schema["fields"].([]any), "config")
		if conf["type"] != "record" || conf["required"] != true {
			t.Errorf("%s: config = %v", name, conf)
			continue
		}
		cfg := reg.NewConfig()
		emptyDecode(t, cfg)
		empty := gokong.RoundTrip(plainOrdered(cfg))
		checkDefaults(t, name, conf, empty)
	}
	if code, body, _ := f.do(http.MethodGet, "/schemas/plugins/nope", ""); code != 404 || body["message"] != "No plugin named 'nope'" {
		t.Errorf("unknown plugin = %d %v", code, body)
	}
}

// checkDefaults compares a record schema's defaults with shown, the
// value its fields have when none is given: each default equals the
// shown value, and each shown value that is not null is a default.
func checkDefaults(t *testing.T, where string, record map[string]any, shown any) {
	t.Helper()
	m, _ := shown.(map[string]any)
	for _, fl := range record["fields"].([]any) {
		for name, a := range fl.(map[string]any) {
			attrs := a.(map[string]any)
			v, has := m[name]
			switch {
			case attrs["type"] == "record" && attrs["fields"] != nil:
				// An optional record an empty config leaves out has the
				// defaults a given one gets (TestSchemaPluginsGoKongFill).
				if attrs["required"] == true || v != nil {
					checkDefaults(t, where+"."+name, attrs, v)
				}
			case attrs["default"] != nil && !reflect.DeepEqual(attrs["default"], v):
				t.Errorf("%s.%s: default %v, decoded %v", where, name, attrs["default"], v)
			case attrs["default"] == nil && has && v != nil:
				t.Errorf("%s.%s: no default, decoded %v", where, name, v)
			}
		}
	}
}

func fieldOfJSON(fields []any, name string) map[string]any {
	for _, fl := range fields {
		if a, ok := fl.(map[string]any)[name]; ok {
			return a.(map[string]any)
		}
	}
	return nil
}

func emptyDecode(t *testing.T, cfg any) {
	t.Helper()
	if errs := (config.Raw{}).DecodeWritten(cfg); len(errs) > 0 {
		t.Fatal(errs)
	}
}

// TestSchemaCachedOnce: a schema is built on its first request and then
// served from the cache; names that do not exist are not kept.
func TestSchemaCachedOnce(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	a := newAPI(Source{Registry: f.reg, Hosts: []string{testHost}})
	h, _, err := a.handler()
	if err != nil {
		t.Fatal(err)
	}
	get := func(p string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		return rec.Code, rec.Body.String()
	}
	_, first := get("/schemas/plugins/cors")
	for _, p := range []string{"/schemas/plugins/x1", "/schemas/plugins/x2", "/schemas/x3", "/schemas/x4"} {
		if code, _ := get(p); code != 404 {
			t.Errorf("%s = %d", p, code)
		}
	}
	code, again := get("/schemas/plugins/cors")
	if code != 200 || again != first {
		t.Errorf("second GET = %d, same body %v", code, again == first)
	}
	n := 0
	a.schemas.m.Range(func(k, _ any) bool { n++; return true })
	if n != 1 {
		t.Errorf("cache holds %d entries, want 1", n)
	}
}

// entityConfig has one entity of every kind, each with only the fields
// it needs, so that every other field shows what Turnpike applies.
func entityConfig(t *testing.T) string {
	cert, key := standInCertificate()
	indent := func(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ") }
	return `_format_version: "3.0"
services:
- name: s
  host: s.internal
  routes:
  - name: r
    paths: [/r]
consumers:
- username: c
  keyauth_credentials: [{key: k1}]
  basicauth_credentials: [{username: u1, password: p1}]
  jwt_secrets: [{key: j1, secret: s1}]
  acls: [{group: g1}]
  hmacauth_credentials: [{username: h1, secret: hs1}]
  oauth2_credentials: [{name: o1, client_id: ci1, client_secret: cs1, redirect_uris: ["https://app.example/cb"]}]
upstreams:
- name: u
  targets: [{target: "127.0.0.1:9"}]
certificates:
- cert: |
    ` + indent(cert) + `
  key: |
    ` + indent(key) + `
  snis: [a.example]
ca_certificates:
- cert: |
    ` + indent(selfSignedCA(t)) + `
plugins:
- name: cors
`
}

// entityEndpoints are the list endpoints of the entity kinds, by kind.
func entityEndpoints(f *fixture) map[string]string {
	out := map[string]string{}
	for _, k := range kinds {
		out[k] = "/" + k
	}
	out["targets"] = "/upstreams/u/targets"
	for _, ck := range f.reg.CredentialKinds() {
		out[ck.Name] = "/" + ck.Endpoint
	}
	return out
}

// TestSchemaEntityDefaults: for every entity kind, each default its
// schema states is what GET shows for an entity that did not set the
// field; foreign keys name their kind and carry no schema (Kong's
// strip_foreign_schemas); unknown kinds get Kong's 404.
func TestSchemaEntityDefaults(t *testing.T) {
	f := newFixture(t, entityConfig(t), nil)
	defaults := 0
	for kind, list := range entityEndpoints(f) {
		schema := schemaOf(t, f, "/schemas/"+kind)
		data, _ := f.get(list)["data"].([]any)
		if len(data) == 0 {
			t.Errorf("%s: no entity in the fixture", kind)
			continue
		}
		shown := data[0].(map[string]any)
		defaults += compareDefaults(t, kind, schema, shown)
		for _, fl := range schema["fields"].([]any) {
			for name, a := range fl.(map[string]any) {
				attrs := a.(map[string]any)
				if attrs["type"] == "foreign" && (attrs["reference"] == nil || attrs["schema"] != nil) {
					t.Errorf("%s.%s: foreign key %v", kind, name, attrs)
				}
			}
		}
	}
	if defaults < 40 {
		t.Errorf("only %d defaults compared", defaults)
	}
	if code, body, _ := f.do(http.MethodGet, "/schemas/not-present", ""); code != 404 || !reflect.DeepEqual(body, map[string]any{"message": "No entity named 'not-present'"}) {
		t.Errorf("unknown entity = %d %v", code, body)
	}
}

// compareDefaults checks each default of a record's fields against
// shown and counts the defaults compared.
func compareDefaults(t *testing.T, where string, record map[string]any, shown map[string]any) int {
	t.Helper()
	n := 0
	for _, fl := range record["fields"].([]any) {
		for name, a := range fl.(map[string]any) {
			attrs := a.(map[string]any)
			if attrs["type"] == "record" && attrs["fields"] != nil {
				sub, _ := shown[name].(map[string]any)
				n += compareDefaults(t, where+"."+name, attrs, sub)
				continue
			}
			if d, ok := attrs["default"]; ok {
				n++
				if !reflect.DeepEqual(d, shown[name]) {
					t.Errorf("%s.%s: default %v, GET shows %v", where, name, d, shown[name])
				}
			}
		}
	}
	return n
}

// TestSchemaEntitiesGoKongFill: go-kong's FillEntityDefaults on the
// entities decK fills (services, routes, upstreams, targets) gives an
// entity POST /schemas/{kind}/validate accepts and whose every filled
// field is what GET shows for the entity loaded without them.
func TestSchemaEntitiesGoKongFill(t *testing.T) {
	f := newFixture(t, entityConfig(t), nil)
	svcID := f.get("/services/s")["id"]
	upID := f.get("/upstreams/u")["id"]
	cases := []struct{ kind, get, entity string }{
		{"services", "/services/s", `{"name":"s","host":"s.internal"}`},
		{"routes", "/routes/r", `{"name":"r","paths":["/r"],"service":{"id":"` + svcID.(string) + `"}}`},
		{"upstreams", "/upstreams/u", `{"name":"u"}`},
		{"targets", "/upstreams/u/targets/127.0.0.1:9", `{"target":"127.0.0.1:9","upstream":{"id":"` + upID.(string) + `"}}`},
	}
	for _, c := range cases {
		var entity map[string]any
		if err := json.Unmarshal([]byte(c.entity), &entity); err != nil {
			t.Fatal(err)
		}
		schema := schemaOf(t, f, "/schemas/"+c.kind)
		filled := gokong.FillEntity(schema, entity)
		if code, body, _ := f.do(http.MethodPost, "/schemas/"+c.kind+"/validate", gokong.JSON(filled), "Content-Type", "application/json"); code != 200 {
			t.Errorf("%s: the filled entity %s is refused: %d %v", c.kind, gokong.JSON(filled), code, body)
		}
		got := f.get(c.get)
		for k, v := range filled {
			if !sameJSON(v, got[k]) {
				t.Errorf("%s.%s: go-kong fills %s, GET shows %s", c.kind, k, gokong.JSON(v), gokong.JSON(got[k]))
			}
		}
		// decK compares the filled entity with the GET body field by
		// field: a field with no default, not given, must show null.
		for _, fl := range schema["fields"].([]any) {
			for k, a := range fl.(map[string]any) {
				attrs := a.(map[string]any)
				if _, given := entity[k]; !given && attrs["default"] == nil && attrs["auto"] == nil && attrs["type"] != "record" && got[k] != nil {
					t.Errorf("%s.%s: no default, GET shows %s", c.kind, k, gokong.JSON(got[k]))
				}
			}
		}
	}
}

// TestSchemaValidateEntity ports Kong's spec of POST
// /schemas/{entity}/validate (02-kong_routes_spec.lua) and checks the
// kinds whose foreign keys name entities the check stands in for.
func TestSchemaValidateEntity(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	before := f.holder.Load()
	cert, key := standInCertificate()
	post := func(path string, body any) (int, map[string]any) {
		t.Helper()
		code, out, _ := f.do(http.MethodPost, path, gokong.JSON(body), "Content-Type", "application/json")
		return code, out
	}
	ok := []struct {
		kind string
		body any
	}{
		{"services", map[string]any{"host": "example.com"}},
		{"certificates", map[string]any{"cert": cert, "key": key, "snis": []any{"a", "b", "c"}}},
		{"routes", map[string]any{"paths": []any{"/x"}, "service": map[string]any{"id": "5b1484f2-5209-49d9-b43e-92ba09dd9d52"}}},
		{"routes", map[string]any{"hosts": []any{"x.example"}}},
		{"targets", map[string]any{"target": "10.0.0.1:80", "upstream": map[string]any{"id": "5b1484f2-5209-49d9-b43e-92ba09dd9d52"}}},
		{"snis", map[string]any{"name": "x.example", "certificate": map[string]any{"id": "5b1484f2-5209-49d9-b43e-92ba09dd9d52"}}},
		{"consumers", map[string]any{"username": "alice"}},
		{"upstreams", map[string]any{"name": "u.internal", "algorithm": "least-connections"}},
		{"keyauth_credentials", map[string]any{"key": "k", "consumer": map[string]any{"id": "5b1484f2-5209-49d9-b43e-92ba09dd9d52"}}},
		{"acls", map[string]any{"group": "g", "consumer": map[string]any{"id": "5b1484f2-5209-49d9-b43e-92ba09dd9d52"}}},
		{"vaults", map[string]any{"name": "env", "prefix": "my-env", "config": map[string]any{"prefix": "SECRET_"}}},
	}
	for _, c := range ok {
		if code, body := post("/schemas/"+c.kind+"/validate", c.body); code != 200 || body["message"] != "schema validation successful" {
			t.Errorf("%s %v = %d %v", c.kind, c.body, code, body)
		}
	}
	bad := []struct {
		kind  string
		body  any
		field string
	}{
		// Kong's shape: the message on the list of names ({"snis":
		// ["must not be an IP"]}; the loader's text differs).
		{"certificates", map[string]any{"cert": cert, "key": key, "snis": []any{"120.0.9.32:90"}}, "snis[0]"},
		{"services", map[string]any{"host": "example.com", "port": 70000}, "port"},
		{"services", map[string]any{"host": "example.com", "protocol": "carrier-pigeon"}, "protocol"},
		{"routes", map[string]any{"paths": []any{"/x"}, "https_redirect_status_code": 303}, "https_redirect_status_code"},
		{"upstreams", map[string]any{"name": "u.internal", "slots": 5}, "slots"},
		{"targets", map[string]any{"target": "10.0.0.1:80", "weight": 70000, "upstream": map[string]any{"id": "5b1484f2-5209-49d9-b43e-92ba09dd9d52"}}, "weight"},
		{"basicauth_credentials", map[string]any{"username": "u", "consumer": map[string]any{"id": "5b1484f2-5209-49d9-b43e-92ba09dd9d52"}}, "password"},
		{"vaults", map[string]any{}, "name"},
	}
	for _, c := range bad {
		code, body := post("/schemas/"+c.kind+"/validate", c.body)
		if code != 400 || body["code"] != float64(2) || body["name"] != "schema violation" {
			t.Errorf("%s %v = %d %v", c.kind, c.body, code, body)
			continue
		}
		if _, ok := fieldAt(body["fields"], c.field).(string); !ok {
			t.Errorf("%s %v: no message at %s in %v", c.kind, c.body, c.field, body["fields"])
		}
	}
	if f.holder.Load() != before || f.loader.Last().Trigger != "startup" {
		t.Errorf("validation applied something")
	}
	if code, body := post("/schemas/nope/validate", map[string]any{}); code != 404 || body["message"] != "No entity named 'nope'" {
		t.Errorf("unknown entity = %d %v", code, body)
	}
	if code, _, _ := f.do(http.MethodGet, "/schemas/services/validate", ""); code != 405 {
		t.Errorf("GET validate = %d", code)
	}
	if code, _, _ := f.do(http.MethodPost, "/schemas/plugins/cors", "{}"); code != 405 {
		t.Errorf("POST a plugin schema = %d", code)
	}
	big := `{"host":"` + strings.Repeat("x", maxEntityBody) + `"}`
	if code, _, _ := f.do(http.MethodPost, "/schemas/services/validate", big, "Content-Type", "application/json"); code != 413 {
		t.Errorf("oversized body = %d", code)
	}
}

// TestSchemaEntityConstraints: every one_of and between an entity
// schema states is what the loader accepts: no listed value or bound is
// refused as outside the list or range, a value outside is refused on
// the field.
func TestSchemaEntityConstraints(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	const id = "5b1484f2-5209-49d9-b43e-92ba09dd9d52"
	base := map[string]map[string]any{
		"services":           {"host": "example.com", "protocol": "https"},
		"routes":             {"paths": []any{"/x"}},
		"upstreams":          {"name": "u.internal", "hash_on": "consumer"},
		"targets":            {"target": "10.0.0.1:80", "upstream": map[string]any{"id": id}},
		"oauth2_credentials": {"name": "o", "consumer": map[string]any{"id": id}},
	}
	// fieldErr is the error a value of field gets ("" when none).
	fieldErr := func(kind, field string, v any) string {
		body := gokong.DeepCopy(base[kind])
		body[field] = v
		code, out, _ := f.do(http.MethodPost, "/schemas/"+kind+"/validate", gokong.JSON(body), "Content-Type", "application/json")
		if code == 200 {
			return ""
		}
		msg, _ := fieldAt(out["fields"], field).(string)
		return msg
	}
	checked := 0
	for kind, fields := range mergedAttrs() {
		if base[kind] == nil {
			continue
		}
		for field, attrs := range fields {
			if list, ok := attrs["one_of"].([]any); ok {
				// A listed value may still be refused for another field's
				// sake (hash_fallback with hash_on none), never as not one
				// of the values.
				for _, v := range list {
					if msg := fieldErr(kind, field, v); strings.HasPrefix(msg, "expected one of") {
						t.Errorf("%s.%s = %v (in one_of): %s", kind, field, v, msg)
					}
				}
				outside := any("not-one-of-them")
				if _, isInt := list[0].(int); isInt {
					outside = 999
				}
				if !strings.HasPrefix(fieldErr(kind, field, outside), "expected one of") {
					t.Errorf("%s.%s = %v (not in one_of) is accepted", kind, field, outside)
				}
				checked++
			}
			if b, ok := attrs["between"].([]any); ok {
				lo, hi := b[0].(int), b[1].(int)
				for _, v := range []int{lo, hi} {
					if msg := fieldErr(kind, field, v); strings.Contains(msg, "between") {
						t.Errorf("%s.%s = %d (a bound of %v): %s", kind, field, v, b, msg)
					}
				}
				for _, v := range []int{lo - 1, hi + 1} {
					if !strings.Contains(fieldErr(kind, field, v), "between") {
						t.Errorf("%s.%s = %d (outside %v) is accepted", kind, field, v, b)
					}
				}
				checked++
			}
		}
	}
	if checked < 12 {
		t.Errorf("only %d constraints checked", checked)
	}
}

func mergedAttrs() map[string]map[string]fieldAttrs {
	out := map[string]map[string]fieldAttrs{}
	for _, m := range []map[string]map[string]fieldAttrs{entityAttrs, credentialAttrs} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// TestSchemaReadOnlyToken: a read-only credential reads every schema and
// checks entities, which apply nothing.
func TestSchemaReadOnlyToken(t *testing.T) {
	f := newFixture(t, smallConfig, func(s *Source) { roleSource(s, nil) })
	reader := []string{"Kong-Admin-Token", "reader-token"}
	for _, p := range []string{"/schemas/services", "/schemas/keyauth_credentials", "/schemas/plugins/cors"} {
		if code, body, _ := f.do(http.MethodGet, p, "", reader...); code != 200 {
			t.Errorf("read-only GET %s = %d %v", p, code, body)
		}
	}
	checks := map[string]string{
		"/schemas/services/validate": `{"host":"example.com"}`,
		"/schemas/plugins/validate":  `{"name":"cors"}`,
	}
	for p, b := range checks {
		if code, body, _ := f.do(http.MethodPost, p, b, append(reader, "Content-Type", "application/json")...); code != 200 {
			t.Errorf("read-only POST %s = %d %v", p, code, body)
		}
	}
	if code, _, _ := f.do(http.MethodPost, "/schemas/services/validate", `{"host":"example.com"}`); code != 401 {
		t.Errorf("no token = %d", code)
	}
}

// TestSchemaValidatePluginKongSpec ports Kong's cases of POST
// /schemas/plugins/validate (02-kong_routes_spec.lua).
func TestSchemaValidatePluginKongSpec(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	code, body, _ := f.do(http.MethodPost, "/schemas/plugins/validate",
		`{"name":"key-auth","config":{"key_names":["foo","bar"],"hide_credentials":true}}`, "Content-Type", "application/json")
	if code != 200 || !reflect.DeepEqual(body, map[string]any{"message": "schema validation successful"}) {
		t.Errorf("valid key-auth = %d %v", code, body)
	}
	code, body, _ = f.do(http.MethodPost, "/schemas/plugins/validate",
		`{"name":"key-auth","config":{"keys":"foo"}}`, "Content-Type", "application/json")
	if code != 400 || body["name"] != "schema violation" || fieldAt(body["fields"], "config.keys") == nil {
		t.Errorf("key-auth with an unknown field = %d %v", code, body)
	}
}
