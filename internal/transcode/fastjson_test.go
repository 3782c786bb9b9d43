package transcode

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
)

const plainProto = `syntax = "proto3";
package plain;
import "google/api/annotations.proto";
import "google/protobuf/timestamp.proto";
enum E { E_ZERO = 0; E_ONE = 1; }
message Inner { string name = 1; repeated int32 n = 2; int32 page_size = 3; }
message Plain {
  string s = 1; int32 i32 = 2; int64 i64 = 3; uint32 u32 = 4; uint64 u64 = 5;
  sint32 si32 = 6; sint64 si64 = 7; fixed32 f32 = 8; fixed64 f64 = 9; sfixed32 sf32 = 10;
  sfixed64 sf64 = 11; float fl = 12; double db = 13; bool b = 14; bytes by = 15; E e = 16;
  Inner inner = 17; repeated Inner inners = 18; google.protobuf.Timestamp ts = 19;
  repeated google.protobuf.Timestamp tss = 20; repeated string ss = 21; repeated double dbs = 22;
  repeated E es = 23; repeated sint64 si64s = 24; repeated bytes bys = 25; repeated bool bs = 26;
}
message WithOneof { oneof o { string a = 1; } }
message WithMap { map<string, string> m = 1; }
message WithOptional { optional int32 x = 1; }
message Recursive { Recursive r = 1; }
service S {
  rpc GetPlain(Plain) returns (Plain);
  rpc GetOneof(Plain) returns (WithOneof);
  rpc GetMap(Plain) returns (WithMap);
  rpc GetOptional(Plain) returns (WithOptional);
  rpc GetRecursive(Plain) returns (Recursive);
  rpc PutPlain(Plain) returns (Plain) { option (google.api.http) = { put: "/v1/plain/{s}" body: "*" }; }
}
`

func plainSet(tb testing.TB) *Set {
	tb.Helper()
	s, err := CompileSource(map[string]string{"plain.proto": plainProto}, "plain.proto")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestPlanCoverage(t *testing.T) {
	s := plainSet(t)
	for name, covered := range map[string]bool{"Plain": true, "Oneof": false, "Map": false, "Optional": false, "Recursive": false} {
		m, _ := s.Method("/plain.S/Get" + name)
		if (m.plan != nil) != covered {
			t.Errorf("%s: plan %v, want covered %v", name, m.plan != nil, covered)
		}
	}
	if m, _ := s.Method("/plain.S/GetPlain"); m.plan == nil {
		t.Fatal("Plain not covered")
	}
}

// wire builds a message from (number, type, value) triples; value is a uint64 for varint and
// fixed types and a []byte for length-delimited ones.
func wire(fields ...any) []byte {
	var b []byte
	for i := 0; i < len(fields); i += 3 {
		num, typ := protowire.Number(fields[i].(int)), fields[i+1].(protowire.Type)
		b = protowire.AppendTag(b, num, typ)
		switch typ {
		case protowire.VarintType:
			b = protowire.AppendVarint(b, fields[i+2].(uint64))
		case protowire.Fixed32Type:
			b = protowire.AppendFixed32(b, uint32(fields[i+2].(uint64)))
		case protowire.Fixed64Type:
			b = protowire.AppendFixed64(b, fields[i+2].(uint64))
		default:
			b = protowire.AppendBytes(b, fields[i+2].([]byte))
		}
	}
	return b
}

const (
	vt = protowire.VarintType
	bt = protowire.BytesType
	f4 = protowire.Fixed32Type
	f8 = protowire.Fixed64Type
)

// TestDirectMatchesProtojson renders wire messages both ways and wants the same JSON, numbers
// compared as written.
func TestDirectMatchesProtojson(t *testing.T) {
	s := plainSet(t)
	m, _ := s.Method("/plain.S/GetPlain")
	neg := uint64(math.MaxUint64) // -1 as a varint
	tests := []struct {
		name string
		wire []byte
	}{
		{name: "empty", wire: nil},
		{name: "every scalar", wire: wire(1, bt, []byte("hé\n\"\x7f"), 2, vt, neg, 3, vt, neg, 4, vt, uint64(math.MaxUint32), 5, vt, neg,
			6, vt, protowire.EncodeZigZag(-5), 7, vt, protowire.EncodeZigZag(math.MinInt64), 8, f4, uint64(7), 9, f8, uint64(9),
			10, f4, uint64(math.MaxUint32), 11, f8, neg, 12, f4, uint64(math.Float32bits(1.1)), 13, f8, math.Float64bits(1e-7),
			14, vt, uint64(1), 15, bt, []byte{0, 1, 0xfe}, 16, vt, uint64(1))},
		{name: "zeros on the wire", wire: wire(1, bt, []byte{}, 2, vt, uint64(0), 13, f8, uint64(0), 16, vt, uint64(0))},
		{name: "negative zero and specials", wire: wire(13, f8, math.Float64bits(math.Copysign(0, -1)), 12, f4, uint64(math.Float32bits(float32(math.Inf(1)))),
			22, f8, math.Float64bits(math.NaN()), 22, f8, math.Float64bits(math.Inf(-1)), 22, f8, math.Float64bits(1e21), 22, f8, math.Float64bits(123456.789))},
		{name: "unknown enum number", wire: wire(16, vt, uint64(7), 23, vt, uint64(1), 23, vt, uint64(9))},
		{name: "last scalar wins", wire: wire(2, vt, uint64(1), 1, bt, []byte("a"), 2, vt, uint64(2), 1, bt, []byte("b"))},
		{name: "wrong wire type is unknown", wire: wire(2, bt, []byte("x"), 1, vt, uint64(3), 99, vt, uint64(1))},
		{name: "packed and unpacked", wire: wire(22, bt, protowire.AppendFixed64(protowire.AppendFixed64(nil, math.Float64bits(1.5)), math.Float64bits(2)),
			22, f8, math.Float64bits(3), 24, bt, protowire.AppendVarint(nil, protowire.EncodeZigZag(-3)), 26, vt, uint64(1), 26, bt, []byte{0, 1})},
		{name: "nested and repeated messages", wire: wire(17, bt, wire(1, bt, []byte("in"), 2, bt, []byte{1, 2}), 18, bt, wire(), 18, bt, wire(2, vt, uint64(3)))},
		{name: "repeated strings and bytes", wire: wire(21, bt, []byte("a"), 25, bt, []byte{}, 21, bt, []byte(""), 25, bt, []byte{1})},
		{name: "timestamps", wire: wire(19, bt, wire(1, vt, uint64(1700000000), 2, vt, uint64(5000000)),
			20, bt, wire(), 20, bt, wire(2, vt, uint64(1)), 20, bt, wire(1, vt, uint64(253402300799), 2, vt, uint64(999999999)),
			20, bt, wire(2, vt, uint64(120000)), 20, bt, wire(1, vt, uint64(1<<64-62135596800)))},
		{name: "timestamp out of range", wire: wire(19, bt, wire(1, vt, uint64(253402300800)))},
		{name: "timestamp before year 1", wire: wire(19, bt, wire(1, vt, uint64(1<<64-62135596801)))},
		{name: "int32 high bits truncate to zero", wire: wire(2, vt, uint64(1<<32), 16, vt, uint64(1<<33), 14, vt, uint64(1<<40))},
		{name: "timestamp bad nanos", wire: wire(19, bt, wire(2, vt, neg))},
		{name: "invalid UTF-8", wire: wire(1, bt, []byte{0xff})},
		{name: "invalid UTF-8 nested", wire: wire(18, bt, wire(1, bt, []byte{0xc3}))},
		{name: "truncated", wire: []byte{0x0a, 0x05, 'a'}},
		{name: "bad nested", wire: wire(17, bt, []byte{0x0a})},
		{name: "bad tag", wire: []byte{0x00}},
		{name: "bad packed", wire: wire(22, bt, []byte{1, 2, 3})},
	}
	for _, tt := range tests {
		for _, o := range []Options{{}, {UseProtoNames: true, EmitUnpopulated: true, EnumsAsInts: true}} {
			t.Run(tt.name, func(t *testing.T) { compareRenders(t, m, tt.wire, o) })
		}
	}
}

func TestDirectDeclines(t *testing.T) {
	s := plainSet(t)
	m, _ := s.Method("/plain.S/GetPlain")
	var many, long []byte
	for range directBudget/len(m.plan.fields) + 1 {
		many = append(many, wire(21, bt, []byte("x"))...)
	}
	for range stackRecords + 1 {
		long = append(long, wire(21, bt, []byte("x"))...)
	}
	if out, err := m.plan.render(nil, long, Options{}); err != nil || !json.Valid(out) {
		t.Errorf("a list longer than the stack index: %.40s, %v", out, err)
	}
	for name, w := range map[string][]byte{
		"duplicate message": wire(17, bt, wire(1, bt, []byte("a")), 17, bt, wire(2, vt, uint64(1))),
		"many records":      many,
	} {
		if _, err := m.plan.render(nil, w, Options{}); !errors.Is(err, errDecline) {
			t.Errorf("%s: %v, want a decline", name, err)
		}
		got, err := m.ResponseJSON(nil, w, Options{})
		if err != nil || !json.Valid(got) {
			t.Errorf("%s: fallback %s, %v", name, got, err)
		}
	}
}

func compareRenders(t *testing.T, m *Method, w []byte, o Options) {
	t.Helper()
	direct, errD := m.plan.render(nil, w, o)
	if errors.Is(errD, errDecline) {
		return
	}
	msg, errP := m.decodeOutput(w)
	var viaProtojson []byte
	if errP == nil {
		viaProtojson, errP = m.set.marshalOptions(o).Marshal(msg.Interface())
	}
	if (errD == nil) != (errP == nil) {
		t.Fatalf("direct error %v, protojson error %v (direct %s)", errD, errP, direct)
	}
	if errD != nil {
		return
	}
	if d := cmp.Diff(decodeNumbers(t, viaProtojson), decodeNumbers(t, direct)); d != "" {
		t.Fatalf("(-protojson +direct):\n%s\nprotojson: %s\ndirect:    %s", d, viaProtojson, direct)
	}
	// The same bytes too, once protojson's random spaces are gone: a route's answers do not
	// change with the path that rendered them.
	if want := compact(viaProtojson); !bytes.Equal(direct, want) {
		t.Fatalf("bytes differ:\nprotojson: %s\ndirect:    %s", want, direct)
	}
}

// decodeNumbers decodes JSON keeping numbers as written, so a formatting difference shows.
func decodeNumbers(t *testing.T, js []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(js))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("invalid JSON %s: %v", js, err)
	}
	return v
}

// FuzzResponse renders arbitrary wire bytes directly and through protojson: both must fail, or
// both give the same JSON.
func FuzzResponse(f *testing.F) {
	f.Add([]byte(nil), uint8(0))
	f.Add(wire(1, bt, []byte("x"), 2, vt, uint64(5), 17, bt, wire(1, bt, []byte("in"))), uint8(7))
	f.Add(wire(19, bt, wire(1, vt, uint64(1700000000), 2, vt, uint64(5000000)), 22, f8, uint64(1)), uint8(1))
	f.Add(wire(22, bt, []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}, 24, bt, []byte{3, 4}, 26, vt, uint64(2)), uint8(2))
	f.Add(wire(12, f4, uint64(math.Float32bits(3.4e38)), 13, f8, math.Float64bits(5e-324)), uint8(4))
	s := plainSet(f)
	m, _ := s.Method("/plain.S/GetPlain")
	f.Fuzz(func(t *testing.T, w []byte, opts uint8) {
		compareRenders(t, m, w, Options{UseProtoNames: opts&1 != 0, EmitUnpopulated: opts&2 != 0, EnumsAsInts: opts&4 != 0})
	})
}
