package jwt

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// parseObject must agree with encoding/json decoding into a map: the same
// members, the last of duplicates winning, the same value text.
func checkParseObject(t *testing.T, doc []byte) {
	t.Helper()
	if !json.Valid(doc) || !utf8.Valid(doc) {
		return
	}
	var want map[string]json.RawMessage
	isObject := json.Unmarshal(doc, &want) == nil && want != nil
	o, ok := parseObject(doc)
	if ok != isObject {
		t.Fatalf("%s: object %v, encoding/json says %v", doc, ok, isObject)
	}
	if !ok {
		return
	}
	for _, m := range o {
		got, _ := o.get(string(m.key))
		if string(got) != string(want[string(m.key)]) {
			t.Fatalf("%s: member %q = %s, want %s", doc, m.key, got, want[string(m.key)])
		}
	}
	for k := range want {
		if _, found := o.get(k); !found {
			t.Fatalf("%s: member %q missing", doc, k)
		}
	}
}

var objectSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a":1,"a":2}`, "{\n\t\"a\" :\r\n \"x\" , \"b\":[1,{\"c\":\"}\"}],\"d\":null}",
	`{"k\"ey":"v\\\"al","\u0061":true,"e":-1.5e+3,"f":{"g":[[],{}]},"h":"\u00e9\/"}`,
	`[1]`, `"s"`, `null`, `false`, `12`, `{"a":"]}","b":"{["}`,
}

func TestParseObject(t *testing.T) {
	for _, s := range objectSeeds {
		checkParseObject(t, []byte(s))
	}
	o, _ := parseObject([]byte(`{"iss":"https:\/\/idp\/","n":3,"s":"plain"}`))
	if s, ok := o.str("iss"); !ok || s != "https://idp/" {
		t.Errorf("escaped string: %q %v", s, ok)
	}
	if _, ok := o.str("n"); ok {
		t.Error("a number read as a string")
	}
	if n := o.number("n"); !n.isNumber || n.value != 3 {
		t.Errorf("number: %+v", n)
	}
	if n := o.number("s"); n.isNumber {
		t.Errorf("string read as a number: %+v", n)
	}
}

func FuzzParseObject(f *testing.F) {
	for _, s := range objectSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) { checkParseObject(t, doc) })
}
