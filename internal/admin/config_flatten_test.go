package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// kongFlatDoc holds the kinds of mistakes of Kong's 15-off_spec
// "[flattened errors]" cases; the first tag names each entity.
const kongFlatDoc = `{"_format_version":"3.0","abnormal_extra_field":123,
"consumers":[
 {"username":"valid_user","tags":["consumer-01"]},
 {"username":"bobby","not_allowed":true,"tags":["consumer-02"]},
 {"id":"cdac30ee-cd7e-465c-99b6-84f3e4e17015","username":"credentials","tags":["consumer-03"],"basicauth_credentials":[
   {"username":"superduper","password":"hard2guess","tags":["basicauth-01"]},
   {"username":"x","password":"1","extra_field":"NO!","tags":["basicauth-02","consumer-03"]}]}],
"services":[
 {"id":"cb019421-62c2-47a8-b714-d7567b114037","name":"nope","host":"localhost","port":1234,"protocol":"nope","tags":["service-01"],"routes":[
   {"name":"valid.route","protocols":["http","https"],"hosts":["test"],"tags":["route-01"]},
   {"name":"nope.route","protocols":["tcp"],"tags":["route-02","service-01"]}]},
 {"name":"invalid-id","id":123456,"url":"https://localhost:1234","tags":["service-02"]},
 {"name":false,"url":"https://localhost:1234","tags":["service-03","invalid-tags",[1,2,3],true]}],
"upstreams":[{"name":"ok-bad-targets","tags":["upstream-01"],"targets":[
   {"target":"127.0.0.1:99","tags":["target-01"]},
   {"target":"hostname:1.0","tags":["target-02"]}]}]
}`

// flatByTag indexes flattened_errors by their entity's first tag.
func flatByTag(t *testing.T, body map[string]any) map[string]map[string]any {
	t.Helper()
	flat, ok := body["flattened_errors"].([]any)
	if !ok {
		t.Fatalf("no flattened_errors: %v", body)
	}
	out := map[string]map[string]any{}
	for _, it := range flat {
		e := it.(map[string]any)
		tags, _ := e["entity"].(map[string]any)["tags"].([]any)
		if len(tags) == 0 {
			t.Fatalf("untagged entry %v", e)
		}
		out[tags[0].(string)] = e
	}
	return out
}

// errorFields lists an entry's errors as "type field: message".
func errorFields(e map[string]any) []string {
	var out []string
	for _, it := range e["errors"].([]any) {
		m := it.(map[string]any)
		f, _ := m["field"].(string)
		out = append(out, m["type"].(string)+" "+f)
	}
	return out
}

// Kong's 15-off_spec "[flattened errors]": each error is listed under its
// entity (nested ones on their own, with the parent's primary key), with
// entity_name, entity_id and entity_tags only when well-formed, fields in
// Kong's dotted 1-based form, and `fields` drained to what is in no entity.
func TestAdminPostConfigFlattenedErrors(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	before := f.holder.Load()
	code, body, _ := f.do(http.MethodPost, "/config?flatten_errors=1", kongFlatDoc, "Content-Type", js)
	if code != 400 || body["code"] != 14.0 || body["name"] != "invalid declarative configuration" {
		t.Fatalf("POST = %d %v", code, body)
	}
	if want := map[string]any{"abnormal_extra_field": "unknown field"}; !reflect.DeepEqual(body["fields"], want) ||
		body["message"] != `declarative config is invalid: {abnormal_extra_field="unknown field"}` {
		t.Errorf("fields %v, message %q", body["fields"], body["message"])
	}
	got := flatByTag(t, body)
	want := map[string]struct {
		typ, name, id string
		tags          bool
		errors        []string
	}{
		"consumer-02":  {typ: "consumer", tags: true, errors: []string{"field not_allowed"}},
		"basicauth-02": {typ: "basicauth_credential", tags: true, errors: []string{"field extra_field"}},
		"service-01":   {typ: "service", name: "nope", id: "cb019421-62c2-47a8-b714-d7567b114037", tags: true, errors: []string{"field protocol"}},
		"route-02":     {typ: "route", name: "nope.route", tags: true, errors: []string{"entity "}},
		"service-02":   {typ: "service", name: "invalid-id", tags: true, errors: []string{"field id"}},
		"service-03":   {typ: "service", errors: []string{"field name", "field tags.3", "field tags.4"}},
		"target-02":    {typ: "target", tags: true, errors: []string{"field target"}},
	}
	for tag, w := range want {
		e := got[tag]
		if e == nil {
			t.Errorf("%s: no entry in %v", tag, body["flattened_errors"])
			continue
		}
		delete(got, tag)
		name, _ := e["entity_name"].(string)
		id, _ := e["entity_id"].(string)
		_, hasTags := e["entity_tags"]
		errs := errorFields(e)
		if e["entity_type"] != w.typ || name != w.name || id != w.id || hasTags != w.tags || !reflect.DeepEqual(errs, w.errors) {
			t.Errorf("%s: type %v name %q id %q tags %v errors %v, want %+v", tag, e["entity_type"], name, id, hasTags, errs, w)
		}
	}
	for tag, e := range got {
		t.Errorf("unexpected entry %s: %v", tag, e)
	}

	flat := flatByTag(t, body)
	// Nested lists are left out of the entity shown; a nested entity gets
	// its parent's primary key when the parent has a valid id.
	if svc := flat["service-01"]["entity"].(map[string]any); svc["routes"] != nil || svc["protocol"] != "nope" {
		t.Errorf("service shown as %v", svc)
	}
	if r := flat["route-02"]["entity"].(map[string]any); !reflect.DeepEqual(r["service"], map[string]any{"id": "cb019421-62c2-47a8-b714-d7567b114037"}) {
		t.Errorf("route shown as %v", r)
	}
	if c := flat["basicauth-02"]["entity"].(map[string]any); !reflect.DeepEqual(c["consumer"], map[string]any{"id": "cdac30ee-cd7e-465c-99b6-84f3e4e17015"}) {
		t.Errorf("credential shown as %v", c)
	}
	if tg := flat["target-02"]["entity"].(map[string]any); tg["upstream"] != nil {
		t.Errorf("target of an upstream without id shown as %v", tg)
	}
	// What was sent stays in the entity even where entity_* leave it out.
	if s := flat["service-02"]["entity"].(map[string]any); s["id"] != 123456.0 {
		t.Errorf("invalid id shown as %v", s["id"])
	}
	// Turnpike's own path and line are kept beside Kong's field.
	first := flat["consumer-02"]["errors"].([]any)[0].(map[string]any)
	if first["path"] != "consumers[1].not_allowed" || first["line"] != 4.0 || first["message"] != "unknown field" {
		t.Errorf("error item %v", first)
	}
	if f.holder.Load() != before {
		t.Errorf("a refused document was applied")
	}
}

// Kong's truthy flatten_errors, and its answers without it: the nested
// fields whole, no flattened_errors; a document that does not parse is
// never flattened; all errors in entities drain fields to {}.
func TestAdminPostConfigFlattenFlag(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	for _, v := range []string{"1", "true", "TRUE", "on", "yes"} {
		if code, body, _ := f.do(http.MethodPost, "/config?flatten_errors="+v, kongFlatDoc, "Content-Type", js); code != 400 || body["flattened_errors"] == nil {
			t.Errorf("flatten_errors=%s: %d %v", v, code, body)
		}
	}
	for _, v := range []string{"", "0", "off", "no", "2"} {
		code, body, _ := f.do(http.MethodPost, "/config?flatten_errors="+v, kongFlatDoc, "Content-Type", js)
		if code != 400 || body["flattened_errors"] != nil || fieldAt(body["fields"], "consumers[1].not_allowed") != "unknown field" {
			t.Errorf("flatten_errors=%q: %d %v", v, code, body)
		}
	}
	code, body, _ := f.do(http.MethodPost, "/config?flatten_errors=1", "{not yaml: [")
	if code != 400 || body["flattened_errors"] != nil || fieldAt(body["fields"], "error") == nil {
		t.Errorf("unparsable = %d %v", code, body)
	}
	bad := strings.Replace(smallConfig, "paths: [/a]", "paths: [a]\n    tags: [t1]", 1)
	code, body, _ = f.do(http.MethodPost, "/config?flatten_errors=1", bad)
	flat, _ := body["flattened_errors"].([]any)
	if code != 400 || len(flat) != 1 || !reflect.DeepEqual(body["fields"], map[string]any{}) ||
		body["message"] != "declarative config is invalid: {}" {
		t.Fatalf("YAML body = %d %v", code, body)
	}
	if e := flat[0].(map[string]any); e["entity_type"] != "route" || e["entity_name"] != "a" ||
		!reflect.DeepEqual(e["entity_tags"], []any{"t1"}) || !reflect.DeepEqual(errorFields(e), []string{"field paths.1"}) {
		t.Errorf("YAML entry = %v", e)
	}
}

// GET /status, and GET / with it, report Kong's empty-config hash while
// no entity is loaded: Kong's ingress controller pushes again to such a
// gateway.
func TestAdminStatusEmptyConfigHash(t *testing.T) {
	f := newFixture(t, `_format_version: "3.0"`+"\n", nil)
	hashes := func(want, when string) {
		t.Helper()
		for _, path := range []string{"/status", "/"} {
			if h := f.get(path)["configuration_hash"]; h != want {
				t.Errorf("%s: %s hash %v, want %s", when, path, h, want)
			}
		}
	}
	hashes(emptyConfigHash, "empty config")
	if code, _, _ := f.do(http.MethodPost, "/config", smallConfig); code != 201 {
		t.Fatalf("POST = %d", code)
	}
	if f.holder.Load().Hash == emptyConfigHash {
		t.Fatal("loaded config hashes as empty")
	}
	hashes(f.holder.Load().Hash, "loaded config")
	if code, _, _ := f.do(http.MethodPost, "/config", `{"_format_version":"3.0"}`, "Content-Type", js); code != 201 {
		t.Fatalf("POST empty = %d", code)
	}
	hashes(emptyConfigHash, "emptied config")
}

// BenchmarkAdminPostConfigFlattened is one refused POST /config of 1,000
// services, each with a route whose path is invalid, answered with and
// without flatten_errors: the flattened form parses the document again
// for its entities.
func BenchmarkAdminPostConfigFlattened(b *testing.B) {
	var doc strings.Builder
	doc.WriteString(`{"_format_version":"3.0","services":[`)
	for i := range 1000 {
		if i > 0 {
			doc.WriteByte(',')
		}
		fmt.Fprintf(&doc, `{"name":"s%d","url":"http://127.0.0.1:9/","tags":["k8s-name:s%d","k8s-uid:u%d"],"routes":[{"name":"r%d","paths":["p%d"]}]}`, i, i, i, i, i)
	}
	doc.WriteString(`]}`)
	f := newFixture(b, smallConfig, nil)
	for _, query := range []string{"", "?flatten_errors=1"} {
		b.Run("query="+query, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/config"+query, strings.NewReader(doc.String()))
				req.Header.Set("Content-Type", js)
				rec := httptest.NewRecorder()
				f.h.ServeHTTP(rec, req)
				if rec.Code != 400 {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// One entity with a wrong field per key is copied into the answer once,
// not once per error: with a copy per error (up to config.MaxErrors) this
// 1 MB document took a minute to answer (0.8 s now).
func TestAdminPostConfigFlattenWideEntity(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	var doc strings.Builder
	doc.WriteString(`{"_format_version":"3.0","services":[{"name":"s","url":"http://a/"`)
	for i := range 100000 {
		fmt.Fprintf(&doc, `,"k%d":1`, i)
	}
	doc.WriteString(`}]}`)
	start := time.Now()
	code, body, _ := f.do(http.MethodPost, "/config?flatten_errors=1", doc.String(), "Content-Type", js)
	took := time.Since(start)
	flat, _ := body["flattened_errors"].([]any)
	if code != 400 || len(flat) != 1 || len(flat[0].(map[string]any)["errors"].([]any)) == 0 {
		t.Fatalf("%d %.300v", code, body)
	}
	if took > 10*time.Second {
		t.Errorf("answered in %v", took)
	}
}

// Aliases let a small document repeat a large entity: the entities echoed
// fit in the document's size (and some slack), the rest are listed
// without them.
func TestAdminPostConfigFlattenAliasedEntitiesBounded(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	var doc strings.Builder
	doc.WriteString("_format_version: \"3.0\"\n_ignore:\n- &s\n  host: example.com\n  tags: [big]\n")
	for i := range 30 {
		fmt.Fprintf(&doc, "  k%d%s: 1\n", i, strings.Repeat("a", 900))
	}
	doc.WriteString("services: [*s" + strings.Repeat(", *s", 999) + "]\n")
	code, body, _ := f.do(http.MethodPost, "/config?flatten_errors=1", doc.String(), "Content-Type", "application/yaml")
	flat, _ := body["flattened_errors"].([]any)
	if code != 400 || len(flat) < 2 {
		t.Fatalf("%d %.300v", code, body)
	}
	echoed, without := 0, 0
	for _, it := range flat {
		e := it.(map[string]any)
		if e["entity"] == nil {
			without++
			continue
		}
		b, _ := json.Marshal(e["entity"])
		echoed += len(b)
	}
	if echoed == 0 || without == 0 || echoed > doc.Len()+echoSlack {
		t.Errorf("%d entries: %d bytes of entities echoed, %d left out (document %d bytes)", len(flat), echoed, without, doc.Len())
	}
}

// The echo budget counts a string as JSON writes it: a YAML escape of
// two bytes (`\a`) is six in the answer (`\u0007`), so a document of them
// counted by their decoded size would be echoed three times over.
func TestAdminPostConfigFlattenEchoCountsEscapes(t *testing.T) {
	f := newFixture(t, smallConfig, nil)
	var doc strings.Builder
	doc.WriteString("_format_version: \"3.0\"\n_ignore:\n- &s\n  host: example.com\n")
	doc.WriteString("  bad: \"" + strings.Repeat(`\a`, 2000) + "\"\n")
	doc.WriteString("services: [*s" + strings.Repeat(", *s", 499) + "]\n")
	code, body, _ := f.do(http.MethodPost, "/config?flatten_errors=1", doc.String(), "Content-Type", "application/yaml")
	flat, _ := body["flattened_errors"].([]any)
	if code != 400 || len(flat) != 500 {
		t.Fatalf("%d %.300v", code, body)
	}
	echoed := 0
	for _, it := range flat {
		if e := it.(map[string]any)["entity"]; e != nil {
			b, _ := json.Marshal(e)
			echoed += len(b)
		}
	}
	if echoed == 0 || echoed > doc.Len()+echoSlack {
		t.Errorf("%d bytes of entities echoed (document %d bytes)", echoed, doc.Len())
	}
}
