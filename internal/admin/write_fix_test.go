package admin

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/configstore"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// A key that looks like an index (`x0[2999999]`) is a map key in
// `fields`, not a list of three million slots: a read-only check of a
// hostile body cost gigabytes when it was.
func TestAdminCheckKeyLikeIndex(t *testing.T) {
	f := newFixture(t, writeConfig, nil)
	var doc strings.Builder
	doc.WriteString("_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://a/\n")
	for i := range 50 {
		fmt.Fprintf(&doc, "  x%d[2999999]: 1\n", i)
	}
	body, _ := json.Marshal(map[string]string{"config": doc.String()})
	code, out, _ := f.do("POST", "/config?check=true", string(body), "Content-Type", js)
	if code != 400 {
		t.Fatalf("%d %v", code, out)
	}
	svc := fieldAt(out["fields"], "services[0]")
	m, ok := svc.(map[string]any)
	if !ok || len(m) != 50 || m["x7[2999999]"] == nil {
		t.Fatalf("fields: %.300v", out["fields"])
	}
	code, out, _ = f.do("POST", "/config?check=true&flatten_errors=1", string(body), "Content-Type", js)
	flat, _ := out["flattened_errors"].([]any)
	if code != 400 || len(flat) != 1 || flat[0].(map[string]any)["entity_type"] != "service" {
		t.Errorf("flattened_errors: %d %.300v", code, flat)
	}
}

// The list slots of one answer are bounded together: a path past the
// budget is listed whole at the top, the others nest.
func TestNestedFieldsSlotBudget(t *testing.T) {
	var errs config.Errors
	for i := range 50 {
		errs = append(errs, config.FieldError{Path: fmt.Sprintf("l%d[%d]", i, maxFieldSlots/4), Message: "m"})
	}
	errs = append(errs, config.FieldError{Path: "services[1].port", Message: "bad"})
	fields := nestedFields(errs)
	slots := 0
	for _, v := range fields {
		if l, ok := v.(*[]any); ok {
			slots += len(*l)
		}
	}
	if slots > maxFieldSlots {
		t.Errorf("%d slots, the budget is %d", slots, maxFieldSlots)
	}
	if fields["l49["+fmt.Sprint(maxFieldSlots/4)+"]"] != "m" {
		t.Errorf("a path past the budget is not listed whole")
	}
	if fieldAt(mustJSON(t, fields), "services[1].port") != "bad" {
		t.Errorf("services: %v", fields["services"])
	}
}

func mustJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A quoted key in a path is one name; pathOf writes it back the same.
func TestPathTokensQuoted(t *testing.T) {
	p := `services[0].config.headers["a.b[1]"].x[2]`
	toks := pathTokens(p)
	want := []any{"services", 0, "config", "headers", "a.b[1]", "x", 2}
	if fmt.Sprint(toks) != fmt.Sprint(want) || len(toks) != len(want) {
		t.Fatalf("%q", toks)
	}
	if got := pathOf(toks); got != p {
		t.Errorf("pathOf = %q", got)
	}
}

// Empty array slots are charged to the body's one budget of values:
// `a[20000]` per key took gigabytes over a thousand keys.
func TestAdminFormIndexBudget(t *testing.T) {
	f := newWriteFixture(t)
	code, out := f.send("POST", "/services", form, "name=sx&url=http://127.0.0.1:9/&a0[20000]=x&a1[20000]=x")
	if code != 400 || !strings.Contains(fmt.Sprint(out["message"]), "too many values in the form body at 'a1[20000]'") {
		t.Fatalf("%d %v", code, out)
	}
	got, err := decodeForm(map[string][]string{"paths[2]": {"/b"}, "paths[1]": {"/a"}, "tags[3]": {"t"}})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := got.Get("paths"); fmt.Sprint(p) != "[/a /b]" {
		t.Errorf("paths: %v", p)
	}
	if tg, _ := got.Get("tags"); fmt.Sprint(tg) != "[<nil> <nil> t]" {
		t.Errorf("tags: %v", tg)
	}
}

// A store that fails is 503 for an entity write as for POST /config,
// not a 400 schema violation.
func TestAdminWriteStoreUnavailable(t *testing.T) {
	f := newFixture(t, writeConfig, func(src *Source) {
		src.Commit = func([]byte, string, string) (*snapshot.Snapshot, error) {
			return nil, fmt.Errorf("%w: writing it: no space left on device", configstore.ErrUnavailable)
		}
	})
	code, out := f.send("PATCH", "/services/s1", js, `{"retries": 3}`)
	if code != 503 || !strings.Contains(fmt.Sprint(out["message"]), "no space left") {
		t.Errorf("PATCH: %d %v", code, out)
	}
	code, out = f.send("POST", "/config", js, `{"config": "_format_version: \"3.0\"\n"}`)
	if code != 503 {
		t.Errorf("POST /config: %d %v", code, out)
	}
}

// A write whose commit panics leaves the next write free to run (the
// lock was held for good: every later write answered 429).
func TestAdminWritePanicReleasesLock(t *testing.T) {
	var f *fixture
	panics := 2
	f = newFixture(t, writeConfig, func(src *Source) {
		src.Commit = func(data []byte, _, who string) (*snapshot.Snapshot, error) {
			if panics > 0 {
				panics--
				panic("store bug")
			}
			return f.loader.TryApply(data, who)
		}
	})
	for _, req := range [][3]string{{"PATCH", "/services/s1", `{"retries": 3}`}, {"POST", "/config", `{"config": "_format_version: \"3.0\"\n"}`}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s %s did not panic", req[0], req[1])
				}
			}()
			f.send(req[0], req[1], js, req[2])
		}()
	}
	f.expect(200, "PATCH", "/services/s1", js, `{"retries": 3}`)
}

// An SNI named by a vault reference is not found under its name in the
// document as written: the export took it for missing and panicked,
// every write with it (and, the lock held, every later one) failing.
func TestAdminWriteSNIFromVault(t *testing.T) {
	t.Setenv("TP_SNI", "v.example")
	c, k := selfSigned(t)
	f := newWriteFixture(t)
	cfg := map[string]any{"_format_version": "3.0", "certificates": []any{map[string]any{
		"cert": c, "key": k, "snis": []any{map[string]any{"name": "{vault://env/tp-sni}", "tags": []string{"t1"}}},
	}}}
	doc, _ := json.Marshal(cfg)
	body, _ := json.Marshal(map[string]string{"config": string(doc)})
	f.expect(201, "POST", "/config", js, string(body))
	f.expect(201, "POST", "/services", js, `{"name": "x", "url": "http://127.0.0.1:9/"}`)
	snis := f.get("/snis")["data"].([]any)
	if len(snis) != 1 || snis[0].(map[string]any)["name"] != "v.example" || fmt.Sprint(snis[0].(map[string]any)["tags"]) != "[t1]" {
		t.Errorf("snis: %v", snis)
	}
}

// An entity the flat form does not list is not found, not an index of
// -1 (a panic, the write lock held until it was deferred).
func TestEditEntityNotInFlatForm(t *testing.T) {
	ed := &edit{flat: &config.Flat{Lists: map[string][]*config.Object{}}, kind: &writeKind{kind: "services"}}
	if out := ed.patch("gone", &config.Object{}); out == nil || out["code"] != codeNotFound {
		t.Errorf("patch: %v", out)
	}
	if out := ed.put(&entity{id: "gone"}, "gone", nil, &config.Object{}); out == nil || out["code"] != codeNotFound {
		t.Errorf("put: %v", out)
	}
}
