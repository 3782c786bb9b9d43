package transcode

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// userWire encodes a 5-field User of the guide's service.
func userWire(tb testing.TB, s *Set) []byte {
	tb.Helper()
	m, _ := s.Method("/demo.v1.UserService/GetUser")
	msg := m.output.New()
	fields := msg.Descriptor().Fields()
	msg.Set(fields.ByName("id"), protoreflect.ValueOfInt64(42))
	msg.Set(fields.ByName("name"), protoreflect.ValueOfString("Ada Lovelace"))
	msg.Set(fields.ByName("email"), protoreflect.ValueOfString("ada@example.com"))
	msg.Set(fields.ByName("role"), protoreflect.ValueOfEnum(1))
	ts := msg.Mutable(fields.ByName("created_at")).Message()
	ts.Set(ts.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(1700000000))
	wire, err := proto.Marshal(msg.Interface())
	if err != nil {
		tb.Fatal(err)
	}
	return wire
}

func TestResponseOptions(t *testing.T) {
	s := userSet(t)
	b, _, _ := s.Match("GET", "/v1/users/42")
	wire := userWire(t, s)
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{name: "defaults", want: `{"id":"42","name":"Ada Lovelace","email":"ada@example.com","role":"ROLE_ADMIN","createdAt":"2023-11-14T22:13:20Z"}`},
		{name: "proto names", o: Options{UseProtoNames: true}, want: `{"id":"42","name":"Ada Lovelace","email":"ada@example.com","role":"ROLE_ADMIN","created_at":"2023-11-14T22:13:20Z"}`},
		{name: "enums as ints and unpopulated", o: Options{EnumsAsInts: true, EmitUnpopulated: true},
			want: `{"id":"42","name":"Ada Lovelace","email":"ada@example.com","role":1,"createdAt":"2023-11-14T22:13:20Z","tags":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.Response([]byte("prefix:"), wire, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(got), "prefix:") {
				t.Fatalf("dst not appended to: %s", got)
			}
			diffJSON(t, got[len("prefix:"):], tt.want)
		})
	}
}

func TestResponseBody(t *testing.T) {
	s := kitchenSet(t)
	m, _ := s.Method("/kitchen.Kitchen/Get")
	full := m.output.New()
	f := full.Descriptor().Fields()
	ids := full.Mutable(f.ByName("ids")).List()
	ids.Append(protoreflect.ValueOfInt32(1))
	ids.Append(protoreflect.ValueOfInt32(2))
	full.Set(f.ByName("color"), protoreflect.ValueOfEnum(2))
	full.Mutable(f.ByName("labels")).Map().Set(protoreflect.ValueOfString("k").MapKey(), protoreflect.ValueOfString("v"))
	fullWire, err := proto.Marshal(full.Interface())
	if err != nil {
		t.Fatal(err)
	}
	tsWire, err := proto.Marshal(&timestamppb.Timestamp{Seconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	withTS := protowire.AppendBytes(protowire.AppendTag(nil, 20, protowire.BytesType), tsWire)
	tests := []struct {
		name, path string
		wire       []byte
		o          Options
		want       string
	}{
		{name: "repeated", path: "/v1/ids", wire: fullWire, want: `[1,2]`},
		{name: "repeated unset", path: "/v1/ids", want: `[]`},
		{name: "enum", path: "/v1/color", wire: fullWire, want: `"GREEN"`},
		{name: "enum as int", path: "/v1/color", wire: fullWire, o: Options{EnumsAsInts: true}, want: `2`},
		{name: "enum unset", path: "/v1/color", want: `"COLOR_UNSPECIFIED"`},
		{name: "map", path: "/v1/labels", wire: fullWire, want: `{"k":"v"}`},
		{name: "timestamp", path: "/v1/ts", wire: withTS, want: `"1970-01-01T00:00:01Z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, ok := s.Match("GET", tt.path)
			if !ok {
				t.Fatal("no match")
			}
			got, err := b.Response(nil, tt.wire, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			diffJSON(t, got, tt.want)
		})
	}
	us := userSet(t)
	b, _, _ := us.Match("GET", "/v1/users/1/name")
	got, err := b.Response(nil, userWire(t, us), Options{})
	if err != nil || string(got) != `"Ada Lovelace"` {
		t.Fatalf("response_body name: %s, %v", got, err)
	}
}

func TestResponseMalformed(t *testing.T) {
	s := userSet(t)
	b, _, _ := s.Match("GET", "/v1/users/42")
	for _, wire := range [][]byte{{0x0a}, {0xff, 0xff}, {0x12, 0x05, 'a'}} {
		if _, err := b.Response(nil, wire, Options{}); err == nil {
			t.Errorf("%x: no error for a malformed message", wire)
		}
	}
}

// protojson adds spaces at random; the answers are compact, the same
// bytes every time.
func TestCompact(t *testing.T) {
	for in, want := range map[string]string{
		`{"a": 1, "b": [1, 2]}`:         `{"a":1,"b":[1,2]}`,
		`{"s": "x, \"y\": z\\", "t":1}`: `{"s":"x, \"y\": z\\","t":1}`,
		"{\n\t\"a\" :\r\n true}":        `{"a":true}`,
	} {
		if got := string(compact([]byte(in))); got != want {
			t.Errorf("compact(%q) = %q, want %q", in, got, want)
		}
	}
}
