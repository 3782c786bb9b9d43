package admin

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
)

// An entity validate and the write of the same entity agree on the
// entities nested in it: the foreign keys a nested child gives (a plugin
// under a route naming a consumer, under a consumer naming a route) are
// not looked up by a validate, as the entity's own are not, and an error
// inside a nested child is named by the same field path.
func TestSchemaValidateNestedForeignKeys(t *testing.T) {
	f := newWriteFixture(t)
	cases := []struct{ kind, body, bad string }{
		{"services",
			`{"name":"sq","host":"h","routes":[{"name":"rq","paths":["/q"],"plugins":[{"name":"rate-limiting","consumer":"bob","config":{"minute":MINUTE}}]}]}`,
			"routes.1.plugins.1.config.minute"},
		{"routes",
			`{"name":"rr","paths":["/r"],"plugins":[{"name":"rate-limiting","consumer":{"id":"BOB"},"config":{"minute":MINUTE}},{"name":"rate-limiting","consumer":"alice","config":{"minute":5}}]}`,
			"plugins.1.config.minute"},
		{"consumers",
			`{"username":"cq","plugins":[{"name":"rate-limiting","route":"r1","config":{"minute":MINUTE}},{"name":"rate-limiting","service":"s1","config":{"minute":5}}]}`,
			"plugins.1.config.minute"},
	}
	bob := f.get("/consumers/bob")["id"].(string)
	for _, c := range cases {
		c.body = strings.ReplaceAll(c.body, "BOB", bob)
		bad := strings.ReplaceAll(c.body, "MINUTE", `"x"`)
		code, vout := f.send("POST", "/schemas/"+c.kind+"/validate", js, bad)
		wcode, wout := f.send("POST", "/"+c.kind, js, bad)
		if code != 400 || wcode != 400 || !reflect.DeepEqual(vout["fields"], wout["fields"]) {
			t.Errorf("%s: validate %d %v, write %d %v", c.kind, code, vout, wcode, wout)
		}
		if vout["message"] != "schema violation ("+c.bad+": expected a number)" {
			t.Errorf("%s: validate message %v", c.kind, vout["message"])
		}
		good := strings.ReplaceAll(c.body, "MINUTE", "10")
		if code, out := f.send("POST", "/schemas/"+c.kind+"/validate", js, good); code != 200 {
			t.Errorf("%s: validate %d %v", c.kind, code, out)
		}
		f.expect(201, "POST", "/"+c.kind, js, good)
	}
}

// A reference that is not one (a number, a mapping of other fields) is
// refused by a validate as by the write, not stood in for.
func TestSchemaValidateMalformedForeignKeys(t *testing.T) {
	f := newWriteFixture(t)
	for _, c := range []struct{ kind, body string }{
		{"routes", `{"name":"rx","paths":["/x"],"service":5}`},
		{"consumers", `{"username":"cq","plugins":[{"name":"rate-limiting","route":5,"config":{"minute":1}}]}`},
		{"consumers", `{"username":"cq","plugins":[{"name":"rate-limiting","service":{"host":"s1"},"config":{"minute":1}}]}`},
	} {
		code, out := f.send("POST", "/schemas/"+c.kind+"/validate", js, c.body)
		wcode, wout := f.send("POST", "/"+c.kind, js, c.body)
		if code != 400 || wcode != 400 {
			t.Errorf("%s %s: validate %d %v, write %d %v", c.kind, c.body, code, out, wcode, wout)
		}
	}
}

// An entity written with nested entities, one of which takes a name, key
// or scope another entity has, is refused with the error on the nested
// entity written (routes.1.name), not on the other entity's place in the
// configuration, which reads as a nested field of the written one
// (routes.3.name of a service written with one route).
func TestAdminWriteNestedDuplicateNamesWrittenField(t *testing.T) {
	f := newWriteFixture(t)
	f.expect(201, "POST", "/routes", js, `{"name":"r2","paths":["/two"]}`)
	f.expect(201, "POST", "/routes", js, `{"name":"r3","paths":["/three"]}`)
	f.expect(201, "POST", "/consumers", js, `{"username":"carol","keyauth_credentials":[{"key":"carol-key"}]}`)
	cases := []struct{ path, body, field, msg string }{
		{"/services", `{"name":"sz","host":"h","routes":[{"name":"rz","paths":["/z"]},{"name":"r3","paths":["/y"]}]}`,
			"routes.2.name", "duplicate name 'r3'"},
		{"/consumers", `{"username":"dave","keyauth_credentials":[{"key":"d1"},{"key":"carol-key"}]}`,
			"keyauth_credentials.2.key", "duplicate key"},
	}
	for _, c := range cases {
		code, out := f.send("POST", c.path, js, c.body)
		msg, _ := out["message"].(string)
		if code != 400 || !strings.Contains(msg, c.field+": "+c.msg) {
			t.Errorf("POST %s %s: %d %v", c.path, c.body, code, out)
		}
	}
}

// blameWritten moves a duplicate by the loader's FieldError.First, not by
// its wording: a reworded duplicate whose first place is in the written
// entity is blamed there, and an error that only reads like one is not.
func TestBlameWrittenReadsNoWording(t *testing.T) {
	svc := func(id string) *config.Object {
		o := &config.Object{}
		o.Set("id", id)
		return o
	}
	ed := &edit{kind: &writeKind{kind: "services"}, id: "mine", flat: &config.Flat{Lists: map[string][]*config.Object{
		"services": {svc("other"), svc("mine")},
	}}}
	said := "name 'r3' is taken"
	errs := ed.blameWritten(config.Errors{
		{Path: "routes[3].name", Message: said + ", see services[1].routes[0]", First: "services[1].routes[0]", Note: len(said)},
		{Path: "routes[4].name", Message: said + ", see services[0].routes[0]", First: "services[0].routes[0]", Note: len(said)},
		{Path: "routes[5].name", Message: "duplicate name 'r5' (first defined at services[1].routes[1])"},
	})
	want := config.Errors{
		{Path: "services[1].routes[0].name", Message: "name 'r3' is taken (an entity in force has it)"},
		{Path: "routes[4].name", Message: said + ", see services[0].routes[0]", First: "services[0].routes[0]", Note: len(said)},
		{Path: "routes[5].name", Message: "duplicate name 'r5' (first defined at services[1].routes[1])"},
	}
	if !slices.Equal(errs, want) {
		t.Errorf("blamed:\n%+v\nwant\n%+v", errs, want)
	}
}
