package responsetransformer

import (
	"encoding/json"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func build(t testing.TB, c *Config) *Instance {
	t.Helper()
	in, err := New(c, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return in.(*Instance)
}

// run applies the instance's json rules to body and decodes the result.
func run(t *testing.T, in *Instance, body string) any {
	t.Helper()
	j := jobs.Get().(*job)
	defer j.release()
	out, ok := in.json.transform(j, []byte(body))
	if !ok {
		t.Fatalf("transform refused %s", body)
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	return v
}

func obj(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		panic(err)
	}
	return v
}

// The cases of Kong's spec/03-plugins/15-response-transformer/02-body_transformer_spec.lua.
func TestKongBodyTransformerSpec(t *testing.T) {
	add := &Config{Add: TypedLists{
		JSON:      []string{"p1:v1", "p3:value:3", `p4:"v1"`, "p5:-1", "p6:false", "p7:true"},
		JSONTypes: []string{"string", "string", "string", "number", "boolean", "boolean"},
	}}
	apnd := &Config{Append: TypedLists{
		JSON:      []string{"p1:v1", `p3:"v1"`, "p4:-1", "p5:false", "p6:true"},
		JSONTypes: []string{"string", "string", "number", "boolean", "boolean"},
	}}
	rename := &Config{Rename: Lists{JSON: []string{"p1:k1", "p2:k2", "p3:k3", "p4:k4", "p5:k5"}}}
	replace := &Config{Replace: TypedLists{
		JSON:      []string{"p1:v2", `p2:"v2"`, "p3:-1", "p4:false", "p5:true"},
		JSONTypes: []string{"string", "string", "number", "boolean", "boolean"},
	}}
	combo := &Config{
		Remove:  Lists{JSON: []string{"p1"}},
		Rename:  Lists{JSON: []string{"p4:p2"}},
		Replace: TypedLists{JSON: []string{"p2:v2"}},
		Add:     TypedLists{JSON: []string{"p3:v1"}},
		Append:  TypedLists{JSON: []string{"p3:v2"}},
	}
	tests := []struct {
		name string
		cfg  *Config
		body string
		want string
	}{
		{"add parameter", add, `{"p2":"v1"}`, `{"p1":"v1","p2":"v1","p3":"value:3","p4":"\"v1\"","p5":-1,"p6":false,"p7":true}`},
		{"add number", add, `{"p2":-1}`, `{"p1":"v1","p2":-1,"p3":"value:3","p4":"\"v1\"","p5":-1,"p6":false,"p7":true}`},
		{"add boolean", add, `{"p2":false}`, `{"p1":"v1","p2":false,"p3":"value:3","p4":"\"v1\"","p5":-1,"p6":false,"p7":true}`},
		{"add preserves empty arrays", add, `{"p2":"v1", "a":[]}`, `{"p1":"v1","p2":"v1","p3":"value:3","p4":"\"v1\"","p5":-1,"p6":false,"p7":true,"a":[]}`},
		{"append new key", apnd, `{"p2":"v1"}`, `{"p2":"v1","p1":["v1"],"p3":["\"v1\""],"p4":[-1],"p5":[false],"p6":[true]}`},
		{"append to existing", apnd, `{"p1":"v2"}`, `{"p1":["v2","v1"],"p3":["\"v1\""],"p4":[-1],"p5":[false],"p6":[true]}`},
		{"append in double quotes", apnd, `{"p3":"v2"}`, `{"p1":["v1"],"p3":["v2","\"v1\""],"p4":[-1],"p5":[false],"p6":[true]}`},
		{"append number", apnd, `{"p4":"v2"}`, `{"p1":["v1"],"p3":["\"v1\""],"p4":["v2",-1],"p5":[false],"p6":[true]}`},
		{"append boolean", apnd, `{"p5":"v5", "p6":"v6"}`, `{"p1":["v1"],"p3":["\"v1\""],"p4":[-1],"p5":["v5",false],"p6":["v6",true]}`},
		{"append preserves empty arrays", apnd, `{"p2":"v1", "a":[]}`, `{"p2":"v1","a":[],"p1":["v1"],"p3":["\"v1\""],"p4":[-1],"p5":[false],"p6":[true]}`},
		{"remove", &Config{Remove: Lists{JSON: []string{"p1", "p2"}}}, `{"p1" : "v1", "p2" : "v1"}`, `{}`},
		{"remove preserves empty arrays", &Config{Remove: Lists{JSON: []string{"p1", "p2"}}}, `{"p1" : "v1", "p2" : "v1", "a": []}`, `{"a":[]}`},
		{"rename", rename, `{"p1" : "v1", "p2" : "v2"}`, `{"k1":"v1","k2":"v2"}`},
		{"rename preserves empty arrays", rename, `{"p1" : "v1", "p2" : "v2", "p3": []}`, `{"k1":"v1","k2":"v2","k3":[]}`},
		{"rename number", rename, `{"p3" : -1}`, `{"k3":-1}`},
		{"rename boolean", rename, `{"p4" : false, "p5" : true}`, `{"k4":false,"k5":true}`},
		{"replace if it exists", replace, `{"p1" : "v1", "p2" : "v1"}`, `{"p1":"v2","p2":"\"v2\""}`},
		{"replace does not add", replace, `{"p1" : "v1"}`, `{"p1":"v2"}`},
		{"replace double quoted", replace, `{"p2" : "v1"}`, `{"p2":"\"v2\""}`},
		{"replace preserves empty arrays", replace, `{"p1" : "v1", "p2" : "v1", "a": []}`, `{"p1":"v2","p2":"\"v2\"","a":[]}`},
		{"replace number", replace, `{"p3" : "v1"}`, `{"p3":-1}`},
		{"replace boolean", replace, `{"p4" : "v4", "p5" : "v5"}`, `{"p4":false,"p5":true}`},
		{"combination", combo, `{"p1" : "v1", "p4" : "v1"}`, `{"p2":"v2","p3":["v1","v2"]}`},
		{"combination preserves empty array", combo, `{"p1" : "v1", "p4" : "v1", "a" : []}`, `{"p2":"v2","p3":["v1","v2"],"a":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, build(t, tt.cfg), tt.body)
			if d := cmp.Diff(obj(tt.want), got); d != "" {
				t.Fatalf("(-want +got)\n%s", d)
			}
		})
	}
}

// Lua's truth and table semantics the rules inherit from Kong.
func TestLuaSemantics(t *testing.T) {
	tests := []struct {
		name string
		cfg  *Config
		body string
		want string
	}{
		{"add overwrites false", &Config{Add: TypedLists{JSON: []string{"a:x"}}}, `{"a":false}`, `{"a":"x"}`},
		{"add keeps null", &Config{Add: TypedLists{JSON: []string{"a:x"}}}, `{"a":null}`, `{"a":null}`},
		{"replace skips false", &Config{Replace: TypedLists{JSON: []string{"a:x"}}}, `{"a":false}`, `{"a":false}`},
		{"replace takes null", &Config{Replace: TypedLists{JSON: []string{"a:x"}}}, `{"a":null}`, `{"a":"x"}`},
		{"rename onto itself removes", &Config{Rename: Lists{JSON: []string{"a:a"}}}, `{"a":1,"b":2}`, `{"b":2}`},
		{"rename over existing", &Config{Rename: Lists{JSON: []string{"a:b"}}}, `{"a":1,"b":2}`, `{"b":1}`},
		{"rename keeps nested value", &Config{Rename: Lists{JSON: []string{"a:b"}}}, `{"a":{"x":[1,{"y":"}"}]}}`, `{"b":{"x":[1,{"y":"}"}]}}`},
		{"duplicate keys: last wins", &Config{Rename: Lists{JSON: []string{"a:b"}}}, `{"a":1,"a":2}`, `{"b":2}`},
		{"duplicate keys all removed", &Config{Remove: Lists{JSON: []string{"a"}}}, `{"a":1,"c":0,"a":2}`, `{"c":0}`},
		{"escaped key matched", &Config{Remove: Lists{JSON: []string{"a"}}}, `{"\u0061":1,"b":2}`, `{"b":2}`},
		{"append to array", &Config{Append: TypedLists{JSON: []string{"a:x"}}}, `{"a":[1, 2 ]}`, `{"a":[1,2,"x"]}`},
		{"append to number", &Config{Append: TypedLists{JSON: []string{"a:x"}}}, `{"a":3}`, `{"a":["x"]}`},
		{"append to object", &Config{Append: TypedLists{JSON: []string{"a:x"}}}, `{"a":{"k":1}}`, `{"a":{"k":1,"1":"x"}}`},
		{"append to empty object", &Config{Append: TypedLists{JSON: []string{"a:x"}}}, `{"a":{ }}`, `{"a":["x"]}`},
		{"rename then append", &Config{Rename: Lists{JSON: []string{"a:b"}}, Append: TypedLists{JSON: []string{"b:y"}}},
			`{"a":"x"}`, `{"b":["x","y"]}`},
		{"replace before add, then append", &Config{Add: TypedLists{JSON: []string{"n:1"}}, Replace: TypedLists{JSON: []string{"n:2"}},
			Append: TypedLists{JSON: []string{"n:3", "a:4"}}}, `{"\u0061":[]}`, `{"n":["1","3"],"a":["4"]}`},
		{"append twice", &Config{Append: TypedLists{JSON: []string{"a:x", "a:y"}}}, `{}`, `{"a":["x","y"]}`},
		{"number forms", &Config{Add: TypedLists{JSON: []string{"a: 0x10", "b:1e3", "c:abc", "d:12345678901234567"}, JSONTypes: []string{"number", "number", "number", "number"}}},
			`{}`, `{"a":16,"b":1000,"d":12345678901235000}`},
		{"boolean other than true", &Config{Add: TypedLists{JSON: []string{"a:yes"}, JSONTypes: []string{"boolean"}}}, `{}`, `{"a":false}`},
		{"empty value does nothing", &Config{Add: TypedLists{JSON: []string{"a:"}}}, `{}`, `{}`},
		{"backslash escaped twice as Kong", &Config{Add: TypedLists{JSON: []string{`a:x\y/z`}}}, `{}`, `{"a":"x\\\\y/z"}`},
		{"untouched values kept as written", &Config{Add: TypedLists{JSON: []string{"z:1"}}}, `{"n":1.50000000000000000001}`, `{"n":1.50000000000000000001,"z":"1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, build(t, tt.cfg), tt.body)
			if d := cmp.Diff(obj(tt.want), got); d != "" {
				t.Fatalf("(-want +got)\n%s", d)
			}
		})
	}
}

// A member is held in offsets: an upstream's body of many tiny members
// costs a few times its size in members, not ten.
func TestMemberSize(t *testing.T) {
	if n := unsafe.Sizeof(member{}); n > 24 {
		t.Fatalf("member is %d bytes", n)
	}
}

func TestNotAnObjectPassesUnchanged(t *testing.T) {
	in := build(t, &Config{Add: TypedLists{JSON: []string{"a:x"}}})
	deep := ""
	for range maxDepth + 1 {
		deep += "["
	}
	for _, body := range []string{
		"not a json value", `[1,2]`, `"s"`, `12`, `null`, `{"a":1,}`, `{"a":1}x`, `{"a":01}`, `{"a":"\x01"}`,
		`{"a":"\q"}`, `{"a":[1,2}`, `{"a":{"b":1]}`, `{"a":tru}`, `{a:1}`, `{"a":1`, ``, `{"a":` + deep + `}`,
	} {
		j := jobs.Get().(*job)
		if out, ok := in.json.transform(j, []byte(body)); ok {
			t.Errorf("%q: transformed to %s", body, out)
		}
		j.release()
	}
	// Whitespace of every kind, and depth up to cjson's, are JSON.
	ok := `{"a":` + deep[:maxDepth-1] + deep[:0]
	for range maxDepth - 1 {
		ok += "]"
	}
	ok += "}"
	for _, body := range []string{" \t\r\n{ \"b\" : [ 1 , { } , \"\\u00e9\\n\" ] , \"c\":-0.5e+3 } \n", ok} {
		j := jobs.Get().(*job)
		if _, good := in.json.transform(j, []byte(body)); !good {
			t.Errorf("%.60q: refused", body)
		}
		j.release()
	}
}
