package aggregate

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// The scanner accepts what encoding/json accepts, and nothing else,
// but for nesting past the bound and invalid UTF-8 (which encoding/json
// would replace, and the merge copies as is).
func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range validCorpus {
		if got, want := valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("valid(%q) = %v, encoding/json says %v", s, got, want)
		}
	}
}

var validCorpus = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `01`, `1.`, `1.5`, `1e5`, `1E+5`, `1e`, `-`, `--1`, `.5`, `true`, `tru`, `nul`, `null `,
	` {"a" : [1, 2, {"b": null}] } `, `{"a":1,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`, `"\u00e9"`, `"\u00g9"`,
	`"\x"`, `"a\"b"`, "\"a\tb\"", `"\/"`, `[1 2]`, `{"a":{"b":{"c":[true,false,null]}}}`, `{} {}`, `[`, `]`, `{`, `"`,
	`"\ud800"`, `1.0e-10`, `-1.5E3`, `[-]`, `{"":""}`, "\ufeff{}",
}

func FuzzValid(f *testing.F) {
	for _, s := range validCorpus {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		deep := strings.Count(s, "[")+strings.Count(s, "{") > maxDepth
		if got, want := valid([]byte(s)), json.Valid([]byte(s)) && utf8.ValidString(s); got != want && !(deep && !got) {
			t.Errorf("valid(%q) = %v, encoding/json says %v", s, got, want)
		}
	})
}

func TestScalarAt(t *testing.T) {
	doc := []byte(` {"a":{"b":"x\"y","n":-1.5,"t":true,"z":null,"o":{},"l":[1]},"s":"plain"} `)
	tests := []struct {
		path string
		want string
		ok   bool
	}{
		{"s", "plain", true}, {"a.b", `x"y`, true}, {"a.n", "-1.5", true}, {"a.t", "true", true},
		{"a.z", "", false}, {"a.o", "", false}, {"a.l", "", false}, {"a.missing", "", false}, {"s.x", "", false},
	}
	for _, tt := range tests {
		got, ok := scalarAt(doc, splitPath(tt.path))
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: %q %v, want %q %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

// Whatever a valid answer and the paths, the shaped value is valid JSON.
func FuzzShape(f *testing.F) {
	f.Add(`{"a":{"b":[{"c":1,"d":2}]},"e":"x"}`, "a.b.c", true, "e")
	f.Add(`[{"a":1},2,"x",[{"a":{}}]]`, "a", false, "a")
	f.Fuzz(func(t *testing.T, doc, path string, allow bool, mapped string) {
		b := []byte(doc)
		if !valid(b) || splitPath(path) == nil {
			return
		}
		k := &checker{}
		tr := k.tree([]string{path}, "allow")
		s := shaper{mapping: map[string]string{mapped: "m"}}
		if allow {
			s.allow = tr
		} else {
			s.deny = tr
		}
		start := skipWS(b, 0)
		ft, al := s.filter()
		out := s.valueOnly(nil, b, start, ft, al)
		if !json.Valid(out) {
			t.Errorf("shaped %s by %q (allow %v) into invalid %s", doc, path, allow, out)
		}
		w := writer{dedup: true, seen: map[string]struct{}{}}
		w.b = append(w.b, '{')
		if b[start] == '{' {
			w.merge(&s, b, start)
		}
		if w.b = append(w.b, '}'); !json.Valid(w.b) {
			t.Errorf("merged %s into invalid %s", doc, w.b)
		}
	})
}
