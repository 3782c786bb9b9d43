package transcode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

func TestCompileGuideUserService(t *testing.T) {
	s := userSet(t)
	m, ok := s.Method("/demo.v1.UserService/GetUser")
	if !ok || m.ClientStreaming || m.ServerStreaming {
		t.Fatalf("GetUser: %v %+v", ok, m)
	}
	if m, _ := s.Method("/demo.v1.UserService/ListUsers"); !m.ServerStreaming {
		t.Error("ListUsers is server streaming")
	}
	if m, _ := s.Method("/demo.v1.UserService/Chat"); !m.ClientStreaming || !m.ServerStreaming {
		t.Error("Chat is bidi streaming")
	}
	b, _, ok := s.Match("POST", "/v1/users")
	if !ok || b.Method.FullPath != "/demo.v1.UserService/CreateUser" || b.Body != "*" {
		t.Fatalf("POST /v1/users: %v %+v", ok, b)
	}
	if b, _, ok := s.Match("PUT", "/v1/users/7"); !ok || b.Method.FullPath != "/demo.v1.UserService/UpdateUser" {
		t.Fatalf("additional binding PUT: %v %+v", ok, b)
	}
	if s.Files().NumFiles() < 4 {
		t.Errorf("registry holds %d files, want the file and its imports", s.Files().NumFiles())
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{
			name:  "syntax error keeps file:line:col",
			files: map[string]string{"a.proto": "syntax = \"proto3\";\nmessage A {\n  int32 x = ;\n}\n"},
			want:  "a.proto:3:13:",
		},
		{
			name:  "missing import names the file",
			files: map[string]string{"a.proto": "syntax = \"proto3\";\nimport \"nowhere/b.proto\";\n"},
			want:  "nowhere/b.proto",
		},
		{
			name:  "unknown type",
			files: map[string]string{"a.proto": "syntax = \"proto3\";\nmessage A { Missing m = 1; }\n"},
			want:  "a.proto:2:13:",
		},
		{
			name: "bad template names method and template",
			files: map[string]string{"a.proto": `syntax = "proto3";
import "google/api/annotations.proto";
message A { string id = 1; }
service S { rpc M(A) returns (A) { option (google.api.http) = { get: "/v1/**/x" }; } }`},
			want: `method S.M: http rule "/v1/**/x": ** must be the last segment`,
		},
		{
			name: "variable naming no field",
			files: map[string]string{"a.proto": `syntax = "proto3";
import "google/api/annotations.proto";
message A { string id = 1; }
service S { rpc M(A) returns (A) { option (google.api.http) = { get: "/v1/{nope}" }; } }`},
			want: `method S.M: http rule "/v1/{nope}": field path nope: no field "nope" in A`,
		},
		{
			name: "repeated path variable",
			files: map[string]string{"a.proto": `syntax = "proto3";
import "google/api/annotations.proto";
message A { repeated string id = 1; }
service S { rpc M(A) returns (A) { option (google.api.http) = { get: "/v1/{id}" }; } }`},
			want: "a repeated, map or group field cannot be a path variable",
		},
		{
			name: "body naming no field",
			files: map[string]string{"a.proto": `syntax = "proto3";
import "google/api/annotations.proto";
message A { string id = 1; }
service S { rpc M(A) returns (A) { option (google.api.http) = { post: "/v1" body: "nope" }; } }`},
			want: `body: no field "nope" in A`,
		},
		{
			name: "response_body naming no field",
			files: map[string]string{"a.proto": `syntax = "proto3";
import "google/api/annotations.proto";
message A { string id = 1; }
service S { rpc M(A) returns (A) { option (google.api.http) = { get: "/v1" response_body: "nope" }; } }`},
			want: `response_body: no field "nope" in A`,
		},
		{
			name: "nested additional bindings",
			files: map[string]string{"a.proto": `syntax = "proto3";
import "google/api/annotations.proto";
message A { string id = 1; }
service S { rpc M(A) returns (A) { option (google.api.http) = { get: "/v1"
  additional_bindings { get: "/v2" additional_bindings { get: "/v3" } } }; } }`},
			want: "additional_bindings cannot nest",
		},
		{
			name:  "file over the limit",
			files: map[string]string{"a.proto": strings.Repeat(" ", MaxProtoFile+1)},
			want:  "a.proto: file is over 4194304 bytes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileSource(tt.files, "a.proto")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCompileFileImportsBeside(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("types/user.proto", `syntax = "proto3"; package t; message User { string id = 1; }`)
	write("svc.proto", `syntax = "proto3";
package s;
import "types/user.proto";
import "google/api/annotations.proto";
import "google/api/field_behavior.proto";
import "google/api/httpbody.proto";
import "google/rpc/status.proto";
service S { rpc Get(t.User) returns (t.User) { option (google.api.http) = { get: "/u/{id}" }; } }`)
	s, err := Compile(filepath.Join(dir, "svc.proto"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.Match("GET", "/u/1"); !ok {
		t.Fatal("GET /u/1 does not match")
	}

	write("bad.proto", "syntax = \"proto3\";\nmessage B {\n  strin x = 1;\n}\n")
	if _, err := Compile(filepath.Join(dir, "bad.proto")); err == nil || !strings.Contains(err.Error(), "bad.proto:3:3:") {
		t.Fatalf("error %v, want bad.proto:3:3", err)
	}
	if _, err := Compile(filepath.Join(dir, "absent.proto")); err == nil || !strings.Contains(err.Error(), "absent.proto") {
		t.Fatalf("error %v, want it to name absent.proto", err)
	}
	big := filepath.Join(dir, "big.proto")
	if err := os.WriteFile(big, make([]byte, MaxProtoFile+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(big); err == nil || !strings.Contains(err.Error(), "over 4194304 bytes") {
		t.Fatalf("error %v, want the size limit", err)
	}
}

// TestNewSetFromReflection feeds a set's own descriptors back in reverse order, with a duplicate
// and without the bundled google/api files, as a reflection answer may come.
func TestNewSetFromReflection(t *testing.T) {
	src := userSet(t)
	fd, err := src.Files().FindFileByPath("user.proto")
	if err != nil {
		t.Fatal(err)
	}
	// Through the wire with no extension known, as a reflection client reads it: the http option
	// arrives as unknown bytes.
	raw, err := proto.Marshal(protodesc.ToFileDescriptorProto(fd))
	if err != nil {
		t.Fatal(err)
	}
	user := new(descriptorpb.FileDescriptorProto)
	if err := (proto.UnmarshalOptions{Resolver: new(protoregistry.Types)}).Unmarshal(raw, user); err != nil {
		t.Fatal(err)
	}
	extra := &descriptorpb.FileDescriptorProto{
		Name:       new("extra.proto"),
		Package:    new("extra"),
		Dependency: []string{"user.proto"},
		Syntax:     new("proto3"),
	}
	s, err := NewSet([]*descriptorpb.FileDescriptorProto{extra, user, user})
	if err != nil {
		t.Fatal(err)
	}
	b, _, ok := s.Match("GET", "/v1/users/42")
	if !ok || b.Method.FullPath != "/demo.v1.UserService/GetUser" {
		t.Fatalf("match after NewSet: %v %+v", ok, b)
	}

	_, err = NewSet([]*descriptorpb.FileDescriptorProto{extra})
	if err == nil || !strings.Contains(err.Error(), "user.proto") {
		t.Fatalf("missing dependency: error %v, want it to name user.proto", err)
	}
	cyc := &descriptorpb.FileDescriptorProto{Name: new("c.proto"), Dependency: []string{"c.proto"}}
	if _, err := NewSet([]*descriptorpb.FileDescriptorProto{cyc}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("import cycle: error %v", err)
	}
}
