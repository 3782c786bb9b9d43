package transcode

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRequest(t *testing.T) {
	s := kitchenSet(t)
	tests := []struct {
		name, method, path, query, body string
		want                            string // the request message as JSON with proto names
	}{
		{
			name: "every scalar kind from the path", method: "GET",
			path: "/v1/path/h%C3%A9/-1/-2/3/18446744073709551615/-6/-7/8/9/-10/-11/1.5/-2.5/true/AQI/GREEN",
			want: `{"s":"hé","i32":-1,"i64":"-2","u32":3,"u64":"18446744073709551615","si32":-6,"si64":"-7",
				"f32":8,"f64":"9","sf32":-10,"sf64":"-11","fl":1.5,"db":-2.5,"b":true,"by":"AQI=","color":"GREEN"}`,
		},
		{
			name: "enum by number, bytes url alphabet padded", method: "GET",
			path: "/v1/path/s/0/0/0/0/0/0/0/0/0/0/0/0/false/-_8=/1",
			want: `{"s":"s","by":"+/8=","color":"RED"}`,
		},
		{
			name: "nested and well-known types from the path", method: "GET",
			path: "/v1/wkt/n1/2024-01-02T03:04:05Z/1.5s/7/a,b.c",
			want: `{"nested":{"name":"n1"},"ts":"2024-01-02T03:04:05Z","dur":"1.500s","wi32":7,"mask":"a,b.c"}`,
		},
		{
			name: "query: nested, repeated, enums by name and number, json names, unknown ignored", method: "GET", path: "/v1/all",
			query: "s=x&nested.child.name=deep&nested.n=3&ids=1&ids=2&colors=RED&colors=2&wi32=5&ws=w&wb=true&unknown=1&nested.nope=2&i64=9&ts=2024-01-02T03:04:05Z&times=2024-01-02T03:04:05Z&times=2025-01-02T03:04:05Z&one=1",
			want: `{"s":"x","nested":{"child":{"name":"deep"},"n":3},"ids":[1,2],"colors":["RED","GREEN"],
				"wi32":5,"ws":"w","wb":true,"i64":"9","ts":"2024-01-02T03:04:05Z",
				"times":["2024-01-02T03:04:05Z","2025-01-02T03:04:05Z"],"one":"1"}`,
		},
		{
			name: "query: JSON name and percent-encoding", method: "GET", path: "/v1/all",
			query: "s=a+b%26c&by=AQI%3D",
			want:  `{"s":"a b&c","by":"AQI="}`,
		},
		{
			name: "body star, path variable overrides the body", method: "POST", path: "/v1/all/frompath",
			query: "i32=99",
			body:  `{"s":"frombody","i32":4,"nested":{"name":"n"},"st":{"k":[1,"x"]},"any":{"@type":"type.googleapis.com/kitchen.Nested","name":"in any"}}`,
			want: `{"s":"frompath","i32":4,"nested":{"name":"n"},"st":{"k":[1,"x"]},
				"any":{"@type":"type.googleapis.com/kitchen.Nested","name":"in any"}}`,
		},
		{
			name: "body star, empty body", method: "POST", path: "/v1/all/p",
			want: `{"s":"p"}`,
		},
		{
			name: "body field (message), rest from the query", method: "POST", path: "/v1/all:nested",
			query: "s=q&nested.name=ignored", body: `{"name":"b","child":{"n":2}}`,
			want: `{"s":"q","nested":{"name":"b","child":{"n":2}}}`,
		},
		{
			name: "body field (repeated)", method: "POST", path: "/v1/all:ids",
			query: "ids=9", body: ` [1, 2, 3] `,
			want: `{"ids":[1,2,3]}`,
		},
		{
			name: "deep variable keeps %2F", method: "GET", path: "/v1/shelves/1/books/a%2Fb/c",
			want: `{"s":"shelves/1/books/a%2Fb/c"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, vars, ok := s.Match(tt.method, tt.path)
			if !ok {
				t.Fatalf("no match for %s %s", tt.method, tt.path)
			}
			wire, err := b.Request(nil, vars, tt.query, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(decodeAny(t, []byte(tt.want)), any(decodeInput(t, b.Method, wire))); d != "" {
				t.Errorf("request (-want +got):\n%s", d)
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	s := kitchenSet(t)
	tests := []struct {
		name, method, path, query, body string
		want                            string
	}{
		{name: "int32 path", method: "GET", path: "/v1/path/s/x/0/0/0/0/0/0/0/0/0/0/0/true/AQI/RED", want: "path variable i32: invalid int32 value \"x\""},
		{name: "int32 overflow", method: "GET", path: "/v1/path/s/2147483648/0/0/0/0/0/0/0/0/0/0/0/true/AQI/RED", want: "path variable i32"},
		{name: "uint negative", method: "GET", path: "/v1/path/s/0/0/-3/0/0/0/0/0/0/0/0/0/true/AQI/RED", want: "path variable u32"},
		{name: "bool", method: "GET", path: "/v1/path/s/0/0/0/0/0/0/0/0/0/0/0/0/yes/AQI/RED", want: "path variable b: invalid bool"},
		{name: "bytes", method: "GET", path: "/v1/path/s/0/0/0/0/0/0/0/0/0/0/0/0/true/!!/RED", want: "path variable by: invalid bytes"},
		{name: "enum", method: "GET", path: "/v1/path/s/0/0/0/0/0/0/0/0/0/0/0/0/true/AQI/BLUE", want: `path variable color: "BLUE" is not a value of kitchen.Color`},
		{name: "float", method: "GET", path: "/v1/path/s/0/0/0/0/0/0/0/0/0/0/x/0/true/AQI/RED", want: "path variable fl: invalid float"},
		{name: "double", method: "GET", path: "/v1/path/s/0/0/0/0/0/0/0/0/0/0/0/x/true/AQI/RED", want: "path variable db: invalid double"},
		{name: "timestamp", method: "GET", path: "/v1/wkt/n/yesterday/1s/1/a", want: `path variable ts: invalid Timestamp value "yesterday"`},
		{name: "wrapper", method: "GET", path: "/v1/wkt/n/2024-01-02T03:04:05Z/1s/x/a", want: "path variable wi32: invalid int32"},
		{name: "invalid utf-8", method: "GET", path: "/v1/all", query: "s=%ff", want: "query parameter s: invalid UTF-8"},
		{name: "query message field", method: "GET", path: "/v1/all", query: "nested=x", want: "query parameter nested: names the message field nested"},
		{name: "query map field", method: "GET", path: "/v1/all", query: "labels=x", want: "query parameter labels: map fields"},
		{name: "query through a scalar", method: "GET", path: "/v1/all", query: "s.x=1", want: "query parameter s.x: s is not a message"},
		{name: "query bad escape", method: "GET", path: "/v1/all", query: "s=%zz", want: "query parameter s: invalid percent-encoding"},
		{name: "query bad key escape", method: "GET", path: "/v1/all", query: "%zz=1", want: "invalid percent-encoding"},
		{name: "query too deep", method: "GET", path: "/v1/all", query: "nested." + strings.Repeat("child.", 16) + "name=x", want: "nested too deep"},
		{name: "query oneof twice", method: "GET", path: "/v1/all", query: "one=1&two=2", want: "oneof choice already has one set"},
		{name: "query repeated bad element", method: "GET", path: "/v1/all", query: "ids=1&ids=x", want: "query parameter ids: invalid int32"},
		{name: "unknown JSON field", method: "POST", path: "/v1/all/p", body: `{"nope":1}`, want: `invalid JSON body: (line 1:2): unknown field "nope"`},
		{name: "malformed JSON", method: "POST", path: "/v1/all/p", body: `{"s":`, want: "invalid JSON body"},
		{name: "JSON of the wrong type", method: "POST", path: "/v1/all/p", body: `{"i32":"x"}`, want: "invalid JSON body"},
		{name: "unresolvable Any", method: "POST", path: "/v1/all/p", body: `{"any":{"@type":"type.googleapis.com/x.Y"}}`, want: "invalid JSON body"},
		{name: "body field not one value", method: "POST", path: "/v1/all:ids", body: `[1], "s": "x"`, want: "invalid JSON body for field ids"},
		{name: "body field wrong type", method: "POST", path: "/v1/all:ids", body: `{"a":1}`, want: "invalid JSON body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, vars, ok := s.Match(tt.method, tt.path)
			if !ok {
				t.Fatalf("no match for %s %s", tt.method, tt.path)
			}
			_, err := b.Request(nil, vars, tt.query, []byte(tt.body))
			e, ok := err.(*Error)
			if !ok || e.Status != 400 || !strings.Contains(e.Message, tt.want) {
				t.Fatalf("error %v, want a 400 containing %q", err, tt.want)
			}
		})
	}
}

// TestDirectRequestMatchesMarshal checks the wire shortcut for path-only requests against the
// general path through dynamicpb and proto.Marshal.
func TestDirectRequestMatchesMarshal(t *testing.T) {
	s := kitchenSet(t)
	path := "/v1/path/h%C3%A9/-1/-2/3/18446744073709551615/-6/-7/8/9/-10/-11/1.5/-2.5/true/AQI/GREEN"
	b, vars, ok := s.Match("GET", path)
	if !ok || !b.direct {
		t.Fatalf("match %v, direct %v", ok, ok && b.direct)
	}
	direct, err := b.Request(nil, vars, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	general, err := b.Request(nil, vars, "unknown=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(decodeInput(t, b.Method, general), decodeInput(t, b.Method, direct)); d != "" {
		t.Errorf("direct encoding differs (-general +direct):\n%s", d)
	}
}

func TestRequestFromJSON(t *testing.T) {
	s := userSet(t)
	m, _ := s.Method("/demo.v1.UserService/CreateUser")
	wire, err := m.RequestFromJSON(nil, []byte(`{"name":"Ada","email":"ada@example.com","role":"ROLE_ADMIN"}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]any{"name": "Ada", "email": "ada@example.com", "role": "ROLE_ADMIN"}, decodeInput(t, m, wire)); d != "" {
		t.Error(d)
	}
	if _, err := m.RequestFromJSON(nil, []byte(`{"nope":1}`)); err == nil {
		t.Error("unknown field accepted")
	}
}

func TestRequestRequiredField(t *testing.T) {
	s, err := CompileSource(map[string]string{"p2.proto": `syntax = "proto2";
package p2;
import "google/api/annotations.proto";
message R { required string id = 1; optional string name = 2; }
message Outer { optional R r = 1; }
service S {
  rpc Post(Outer) returns (R) { option (google.api.http) = { post: "/v1/outer" body: "*" }; }
  rpc Get(R) returns (R) { option (google.api.http) = { get: "/v1/r" }; }
  rpc ByName(R) returns (R) { option (google.api.http) = { get: "/v1/r/{name}" }; }
}`}, "p2.proto")
	if err != nil {
		t.Fatal(err)
	}
	b, vars, _ := s.Match("GET", "/v1/r")
	_, err = b.Request(nil, vars, "name=x", nil)
	if e, ok := err.(*Error); !ok || e.Status != 400 || !strings.Contains(e.Message, "p2.R.id") {
		t.Fatalf("error %v, want a 400 naming the required field", err)
	}
	if _, err := b.Request(nil, vars, "id=1", nil); err != nil {
		t.Fatal(err)
	}
	b, vars, _ = s.Match("GET", "/v1/r/x")
	if _, err := b.Request(nil, vars, "", nil); err == nil {
		t.Fatal("a path-only request without the required field was built")
	}
	b, vars, _ = s.Match("POST", "/v1/outer")
	if _, err := b.Request(nil, vars, "", []byte(`{"r":{"name":"x"}}`)); err == nil {
		t.Fatal("a body without the nested required field was accepted")
	}
}
