package config

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The flat form of a document with nested entities, shorthands and a 2.1
// regex path re-loads to the same entities with the same ids and scopes.
func TestExportRoundTrip(t *testing.T) {
	cert, key := testPEM(t, false)
	src := `_format_version: "2.1"
_info: {select_tags: [a]}
certificates:
- id: 00000000-0000-4000-8000-00000000000c
  cert: ` + quote(cert) + `
  key: ` + quote(key) + `
  snis: [a.example, {name: b.example}]
upstreams:
- name: up
  targets: [{target: "10.0.0.1:80"}]
services:
- name: s1
  url: http://up/base
  routes:
  - name: r1
    paths: ["/v1/[0-9]+"]
    snis: [a.example]
    plugins: [{name: cors, config: {origins: ["*"], headers: [b, a]}}]
  plugins: [{name: key-auth}]
routes:
- name: r2
  url: http://other:81/x
  paths: [/plain]
consumers:
- username: alice
  keyauth_credentials: [{key: secret}]
  plugins: [{name: rate-limiting, config: {minute: 5}}]
- custom_id: c2
plugins:
- name: ip-restriction
  route: r2
  config: {allow: ["${NET}"]}
`
	m, err := Parse([]byte(src), Options{Credentials: []CredentialKind{keyAuthKind}, LookupEnv: func(string) (string, bool) { return "10.0.0.0/8", true }})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Export(m, []string{"keyauth_credentials"})
	if err != nil {
		t.Fatal(err)
	}
	data := f.Render()
	out := string(data)
	for _, want := range []string{`_format_version: "3.0"`, "select_tags:", "${NET}", "~/v1/[0-9]+", "name: b.example", "- b\n", "- a\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("flat form lacks %q:\n%s", want, out)
		}
	}
	m2, err := Parse(data, Options{Credentials: []CredentialKind{keyAuthKind}, LookupEnv: func(string) (string, bool) { return "10.0.0.0/8", true }})
	if err != nil {
		t.Fatalf("flat form does not load: %v\n%s", err, out)
	}
	ids := func(m *Model) []string {
		var out []string
		for _, e := range m.Services {
			out = append(out, "s:"+e.ID)
		}
		for _, e := range m.Routes {
			out = append(out, "r:"+e.ID+">"+e.Service.ID+":"+strings.Join(e.Route.Paths, ","))
		}
		for _, e := range m.Consumers {
			out = append(out, "c:"+e.ID)
		}
		for _, e := range m.Plugins {
			out = append(out, "p:"+e.ID+">"+entryID(e.Service)+"/"+routeEntryID(e.Route)+"/"+consumerEntryID(e.Consumer))
		}
		for _, e := range m.Credentials {
			out = append(out, "k:"+e.ID+">"+e.Consumer.ID)
		}
		for _, e := range m.Upstreams {
			out = append(out, "u:"+e.ID)
			for _, te := range e.Targets {
				out = append(out, "t:"+te.ID)
			}
		}
		for _, e := range m.Certificates {
			out = append(out, "cert:"+e.ID+":"+strings.Join(e.SNINames(), ","))
		}
		return out
	}
	a, b := ids(m), ids(m2)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("entities differ after the round trip:\n%s\n---\n%s\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"), out)
	}
}

func quote(s string) string { return strconv.Quote(s) }

func TestObjectOrder(t *testing.T) {
	v, err := ParseOrdered([]byte(`{"b": 1, "a": {"z": true, "y": null}}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*Object)
	o.Set("c", "x")
	o.Delete("b")
	if strings.Join(o.Keys, ",") != "a,c" || strings.Join(o.Vals[0].(*Object).Keys, ",") != "z,y" {
		t.Errorf("keys %v", o.Keys)
	}
	data := (&Flat{Head: o, Lists: map[string][]*Object{}}).Render()
	if string(data) != "a:\n  z: true\n  \"y\": null\nc: x\n" {
		t.Errorf("rendered %q", data)
	}
}

// BenchmarkExport is the flat form of 1,000 services with a route each,
// rendered: an admin write's own share of its cost, beside the load.
func BenchmarkExport(b *testing.B) {
	var cfg strings.Builder
	cfg.WriteString("_format_version: \"3.0\"\nservices:\n")
	for i := range 1000 {
		cfg.WriteString("- name: s" + strconv.Itoa(i) + "\n  url: http://127.0.0.1:9/\n  routes: [{name: r" + strconv.Itoa(i) + ", paths: [/p" + strconv.Itoa(i) + "]}]\n")
	}
	m, err := Parse([]byte(cfg.String()), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		f, err := Export(m, nil)
		if err != nil {
			b.Fatal(err)
		}
		f.Render()
	}
}

// Every string, number and shape renders to YAML that parses back to the
// same value.
func TestRenderRoundTrip(t *testing.T) {
	strs := []string{"", "~", "~/v1/[0-9]+", "/a b", "true", "No", "null", "1", "0x1f", "1e3", "12:30", "10.0.0.1:80",
		"a: b", "a:", ":a", "-a", "- a", "@x", "#c", "a #c", "'q'", "\"d\"", "{x}", "[x]", "*a", "&a", "!t", "%p", "|", ">",
		"line\n", "two\nlines", "two\nlines\n", "trail\n\n\n", " lead\nx", "x \ny", "tab\tin", "cr\r\nx", "\u2028x\ny",
		"é ünïcode", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "a\n\nb\n", "${NAME}", "{vault://env/x}"}
	list := make([]any, len(strs))
	for i, s := range strs {
		list[i] = s
	}
	nested := &Object{Keys: []string{"o", "e", "l", "n"}, Vals: []any{&Object{Keys: []string{"k"}, Vals: []any{[]any{}}}, &Object{}, []any{[]any{"x", &Object{Keys: []string{"a", "b"}, Vals: []any{int64(1), nil}}}, &Object{}}, 1.5}}
	doc := &Object{Keys: []string{"strs", "ints", "floats", "bools", "nested"}, Vals: []any{list, []any{int64(-3), int64(0), int64(1 << 62)}, []any{1.0, -0.5, 1e300}, []any{true, false}, nested}}
	for i, s := range strs {
		doc.Set("k"+strconv.Itoa(i)+s, s)
	}
	data := (&Flat{Head: doc, Lists: map[string][]*Object{}}).Render()
	v, err := parseTree(data, -1)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	got, want := plainOf(ordered(v)), plainOf(doc)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip\n%#v\nwant\n%#v\n%s", got, want, data)
	}
}

// plainOf turns Objects into maps, for comparing.
func plainOf(v any) any {
	switch t := v.(type) {
	case *Object:
		m := map[string]any{}
		for i, k := range t.Keys {
			m[k] = plainOf(t.Vals[i])
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, it := range t {
			out[i] = plainOf(it)
		}
		return out
	}
	return v
}

// An Object is sent as JSON with its keys in order, nested ones too.
func TestObjectMarshalJSON(t *testing.T) {
	o := &Object{Keys: []string{"z", "a"}, Vals: []any{1, &Object{Keys: []string{"y", "b"}, Vals: []any{"x", nil}}}}
	got, err := json.Marshal(o)
	if want := `{"z":1,"a":{"y":"x","b":null}}`; err != nil || string(got) != want {
		t.Errorf("got %s, %v; want %s", got, err, want)
	}
}
