package transcode

import (
	"strings"
	"testing"
)

const precedenceProto = `syntax = "proto3";
package p;
import "google/api/annotations.proto";
message Req { string id = 1; string name = 2; string post = 3; }
service P {
  rpc ByID(Req) returns (Req) { option (google.api.http) = { get: "/v1/users/{id}" }; }
  rpc Me(Req) returns (Req) { option (google.api.http) = { get: "/v1/users/me" }; }
  rpc Any(Req) returns (Req) { option (google.api.http) = { get: "/v1/{name=**}" }; }
  rpc Activate(Req) returns (Req) { option (google.api.http) = { get: "/v1/users/{id}:activate" }; }
  rpc StarMe(Req) returns (Req) { option (google.api.http) = { get: "/v1/*/me" }; }
  rpc List(Req) returns (Req) { option (google.api.http) = { get: "/v1/users" }; }
  rpc Post(Req) returns (Req) { option (google.api.http) = { get: "/v1/users/{id}/posts/{post}" }; }
  rpc First(Req) returns (Req) { option (google.api.http) = { get: "/v2/{id}" }; }
  rpc Second(Req) returns (Req) { option (google.api.http) = { get: "/v2/{name}" }; }
  rpc Shelf(Req) returns (Req) { option (google.api.http) = { get: "/v3/{name=shelves/*/books/**}" }; }
  rpc Head(Req) returns (Req) { option (google.api.http) = { custom { kind: "head" path: "/v1/users/{id}" } }; }
}
`

func TestMatchPrecedence(t *testing.T) {
	s, err := CompileSource(map[string]string{"p.proto": precedenceProto}, "p.proto")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path string
		want               string // method name, "" for no match
		vars               map[string]string
	}{
		{name: "literal beats variable", method: "GET", path: "/v1/users/me", want: "Me"},
		{name: "variable", method: "GET", path: "/v1/users/42", want: "ByID", vars: map[string]string{"id": "42"}},
		{name: "exact literal", method: "GET", path: "/v1/users", want: "List"},
		{name: "star beats deep", method: "GET", path: "/v1/groups/me", want: "StarMe"},
		{name: "verb", method: "GET", path: "/v1/users/42:activate", want: "Activate", vars: map[string]string{"id": "42"}},
		{name: "unknown verb is part of the segment", method: "GET", path: "/v1/users/42:other", want: "ByID", vars: map[string]string{"id": "42:other"}},
		{name: "longer", method: "GET", path: "/v1/users/42/posts/7", want: "Post", vars: map[string]string{"id": "42", "post": "7"}},
		{name: "deep fallback", method: "GET", path: "/v1/other/a/b", want: "Any", vars: map[string]string{"name": "other/a/b"}},
		{name: "deep matches zero segments", method: "GET", path: "/v1", want: "Any", vars: map[string]string{"name": ""}},
		{name: "declaration order breaks ties", method: "GET", path: "/v2/x", want: "First", vars: map[string]string{"id": "x"}},
		{name: "escaped literal", method: "GET", path: "/v1/us%65rs/me", want: "Me"},
		{name: "single segment decoded whole", method: "GET", path: "/v1/users/a%2Fb%20c", want: "ByID", vars: map[string]string{"id": "a/b c"}},
		{name: "deep keeps %2F", method: "GET", path: "/v1/a%2Fb/c%20d", want: "Any", vars: map[string]string{"name": "a%2Fb/c d"}},
		{name: "multi-segment variable", method: "GET", path: "/v3/shelves/1/books/x/y", want: "Shelf", vars: map[string]string{"name": "shelves/1/books/x/y"}},
		{name: "multi-segment variable, deep empty", method: "GET", path: "/v3/shelves/1/books", want: "Shelf", vars: map[string]string{"name": "shelves/1/books"}},
		{name: "multi-segment literal mismatch", method: "GET", path: "/v3/shelves/1/cds/x", want: ""},
		{name: "custom kind", method: "HEAD", path: "/v1/users/9", want: "Head", vars: map[string]string{"id": "9"}},
		{name: "other method", method: "POST", path: "/v1/users/me", want: ""},
		{name: "no rule", method: "GET", path: "/v2/a/b", want: ""},
		{name: "empty segment is no variable", method: "GET", path: "/v2/", want: ""},
		{name: "no leading slash", method: "GET", path: "v1/users", want: ""},
		{name: "empty path", method: "GET", path: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, vars, ok := s.Match(tt.method, tt.path)
			if tt.want == "" {
				if ok {
					t.Fatalf("matched %s, want no match", b.Method.FullPath)
				}
				return
			}
			if !ok {
				t.Fatalf("no match, want %s", tt.want)
			}
			if got := string(b.Method.Desc.Name()); got != tt.want {
				t.Fatalf("matched %s (%s), want %s", got, b.Template, tt.want)
			}
			got := map[string]string{}
			for i := range vars.Len() {
				v, err := vars.Value(i)
				if err != nil {
					t.Fatal(err)
				}
				got[vars.Field(i)] = v
			}
			if len(tt.vars) == 0 && len(got) == 0 {
				return
			}
			for k, v := range tt.vars {
				if got[k] != v {
					t.Errorf("var %s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

func TestMatchManyVars(t *testing.T) {
	s := kitchenSet(t)
	path := "/v1/path/s/1/2/3/4/5/6/7/8/9/10/1.5/2.5/true/AQI/RED"
	b, vars, ok := s.Match("GET", path)
	if !ok || b.Method.Desc.Name() != "Path" {
		t.Fatalf("no match for %s", path)
	}
	if vars.Len() != 16 || vars.Raw(15) != "RED" || vars.Raw(0) != "s" {
		t.Fatalf("vars: %d, first %q, last %q", vars.Len(), vars.Raw(0), vars.Raw(15))
	}
}

func TestVarsBadEscape(t *testing.T) {
	s := userSet(t)
	for _, path := range []string{"/v1/users/%zz", "/v1/users/%4"} {
		b, vars, ok := s.Match("GET", path)
		if !ok {
			t.Fatalf("%s: no match", path)
		}
		_, err := b.Request(nil, vars, "", nil)
		if e, ok := err.(*Error); !ok || e.Status != 400 || !strings.Contains(e.Message, "path variable id") {
			t.Fatalf("%s: error %v, want a 400 naming the variable", path, err)
		}
	}
}
