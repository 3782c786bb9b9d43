package transcode

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// userProto is the patterns guide's UserService, with the methods the other tests need.
const userProto = `syntax = "proto3";
package demo.v1;
import "google/api/annotations.proto";
import "google/protobuf/timestamp.proto";

service UserService {
  rpc GetUser(GetUserRequest) returns (User) {
    option (google.api.http) = { get: "/v1/users/{id}" };
  }
  rpc CreateUser(CreateUserRequest) returns (User) {
    option (google.api.http) = { post: "/v1/users" body: "*" };
  }
  rpc ListUsers(ListUsersRequest) returns (stream User) {
    option (google.api.http) = { get: "/v1/users" };
  }
  rpc UpdateUser(UpdateUserRequest) returns (User) {
    option (google.api.http) = {
      patch: "/v1/users/{user.id}" body: "user"
      additional_bindings { put: "/v1/users/{user.id}" body: "user" }
    };
  }
  rpc GetUserName(GetUserRequest) returns (User) {
    option (google.api.http) = { get: "/v1/users/{id}/name" response_body: "name" };
  }
  rpc Chat(stream User) returns (stream User);
}

enum Role { ROLE_UNSPECIFIED = 0; ROLE_ADMIN = 1; ROLE_MEMBER = 2; }

message GetUserRequest { int64 id = 1; }
message CreateUserRequest { string name = 1; string email = 2; Role role = 3; }
message ListUsersRequest { int32 page_size = 1; repeated int64 ids = 2; Role role = 3; }
message UpdateUserRequest { User user = 1; bool validate_only = 2; }
message User {
  int64 id = 1;
  string name = 2;
  string email = 3;
  Role role = 4;
  google.protobuf.Timestamp created_at = 5;
  repeated string tags = 6;
}
`

// kitchenProto has a field of every kind and the well-known types, for the conversion tests.
const kitchenProto = `syntax = "proto3";
package kitchen;
import "google/api/annotations.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/any.proto";

enum Color { COLOR_UNSPECIFIED = 0; RED = 1; GREEN = 2; }

message Nested { string name = 1; Nested child = 2; int32 n = 3; }

message All {
  string s = 1; int32 i32 = 2; int64 i64 = 3; uint32 u32 = 4; uint64 u64 = 5;
  sint32 si32 = 6; sint64 si64 = 7; fixed32 f32 = 8; fixed64 f64 = 9; sfixed32 sf32 = 10;
  sfixed64 sf64 = 11; float fl = 12; double db = 13; bool b = 14; bytes by = 15;
  Color color = 16; Nested nested = 17; repeated int32 ids = 18; repeated Color colors = 19;
  google.protobuf.Timestamp ts = 20; google.protobuf.Duration dur = 21;
  google.protobuf.FieldMask mask = 22; google.protobuf.Int32Value wi32 = 23;
  google.protobuf.StringValue ws = 24; google.protobuf.BoolValue wb = 25;
  map<string, string> labels = 26;
  oneof choice { string one = 27; string two = 28; }
  repeated Nested items = 29; google.protobuf.Struct st = 30; google.protobuf.Any any = 31;
  repeated google.protobuf.Timestamp times = 32;
}

service Kitchen {
  rpc Get(All) returns (All) { option (google.api.http) = { get: "/v1/all" }; }
  rpc Post(All) returns (All) { option (google.api.http) = { post: "/v1/all/{s}" body: "*" }; }
  rpc PostNested(All) returns (All) { option (google.api.http) = { post: "/v1/all:nested" body: "nested" }; }
  rpc PostIds(All) returns (All) { option (google.api.http) = { post: "/v1/all:ids" body: "ids" }; }
  rpc Path(All) returns (All) {
    option (google.api.http) = {
      get: "/v1/path/{s}/{i32}/{i64}/{u32}/{u64}/{si32}/{si64}/{f32}/{f64}/{sf32}/{sf64}/{fl}/{db}/{b}/{by}/{color}"
    };
  }
  rpc PathWKT(All) returns (All) { option (google.api.http) = { get: "/v1/wkt/{nested.name}/{ts}/{dur}/{wi32}/{mask}" }; }
  rpc Deep(All) returns (All) { option (google.api.http) = { get: "/v1/{s=shelves/*/books/**}" }; }
  rpc Head(All) returns (All) { option (google.api.http) = { custom { kind: "HEAD" path: "/v1/all" } }; }
  rpc Ids(All) returns (All) { option (google.api.http) = { get: "/v1/ids" response_body: "ids" }; }
  rpc Color(All) returns (All) { option (google.api.http) = { get: "/v1/color" response_body: "color" }; }
  rpc Labels(All) returns (All) { option (google.api.http) = { get: "/v1/labels" response_body: "labels" }; }
  rpc Ts(All) returns (All) { option (google.api.http) = { get: "/v1/ts" response_body: "ts" }; }
}
`

func userSet(tb testing.TB) *Set {
	tb.Helper()
	s, err := CompileSource(map[string]string{"user.proto": userProto}, "user.proto")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func kitchenSet(tb testing.TB) *Set {
	tb.Helper()
	s, err := CompileSource(map[string]string{"kitchen.proto": kitchenProto}, "kitchen.proto")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// decodeInput renders wire bytes of a method's input as JSON (proto names) and decodes that into
// generic values, so tests compare meaning and not protojson's spacing.
func decodeInput(tb testing.TB, m *Method, wire []byte) map[string]any {
	tb.Helper()
	msg := m.input.New().Interface()
	if err := (proto.UnmarshalOptions{Resolver: m.set.types}).Unmarshal(wire, msg); err != nil {
		tb.Fatalf("request bytes do not decode: %v", err)
	}
	js, err := protojson.MarshalOptions{UseProtoNames: true, Resolver: m.set.types}.Marshal(msg)
	if err != nil {
		tb.Fatal(err)
	}
	return decodeAny(tb, js).(map[string]any)
}

func decodeAny(tb testing.TB, js []byte) any {
	tb.Helper()
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		tb.Fatalf("invalid JSON %s: %v", js, err)
	}
	return v
}

func diffJSON(tb testing.TB, got []byte, want string) {
	tb.Helper()
	if d := cmp.Diff(decodeAny(tb, []byte(want)), decodeAny(tb, got)); d != "" {
		tb.Errorf("JSON mismatch (-want +got):\n%s\ngot: %s", d, got)
	}
}
