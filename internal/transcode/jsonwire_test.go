package transcode

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"
)

// compareDecoders encodes body directly and through protojson; when the direct encoder takes it,
// protojson must take it too and mean the same message. It reports whether the direct encoder took it.
func compareDecoders(t *testing.T, m *Method, body []byte) bool {
	t.Helper()
	direct, err := m.inPlan.encodeJSON(nil, body)
	if errors.Is(err, errDecline) {
		return false
	}
	if err != nil {
		t.Fatalf("direct encoder error %v: it only declines", err)
	}
	want := m.input.New().Interface()
	if err := (protojson.UnmarshalOptions{Resolver: m.set.types}).Unmarshal(body, want); err != nil {
		t.Fatalf("direct encoder took %s, protojson refuses it: %v", body, err)
	}
	got := m.input.New().Interface()
	if err := proto.Unmarshal(direct, got); err != nil {
		t.Fatalf("direct bytes do not decode: %v", err)
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Fatalf("%s (-protojson +direct):\n%s", body, d)
	}
	return true
}

func TestDirectBodyMatchesProtojson(t *testing.T) {
	s := plainSet(t)
	m, _ := s.Method("/plain.S/PutPlain")
	tests := []struct {
		body  string
		taken bool
	}{
		{`{}`, true},
		{` { "s" : "héllo" , "i32": -5, "i64": "-9223372036854775808", "u32": 4294967295, "u64": "18446744073709551615" } `, true},
		{`{"si32": -1, "si64": 2, "f32": 3, "f64": "4", "sf32": -6, "sf64": -7, "b": true, "e": "E_ONE"}`, true},
		{`{"i32": 0, "s": "", "b": false, "e": 0, "u64": "0", "i64": -0}`, true},
		{`{"inner": {"name": "x", "n": [1, 2, 3]}, "inners": [{}, {"name": "y"}], "ss": ["a", ""], "es": ["E_ONE", 0, 7], "bs": [true, false]}`, true},
		{`{"si64s": ["-3", 4]}`, true},
		{`{"i32": "12"}`, true},
		{`{"inner": {"pageSize": 1}, "inners": [{"page_size": 2}]}`, true},
		{`{"inner": {"pageSize": 1, "page_size": 2}}`, false},
		{`{"e": 5}`, true},
		{`{"s": "a\nb"}`, false},
		{`{"s": "a", "s": "b"}`, false},
		{`{"s": "a", "S": "b"}`, false},
		{`{"fl": 1.5}`, false},
		{`{"by": "AQI="}`, false},
		{`{"ts": "2024-01-02T03:04:05Z"}`, false},
		{`{"s": null}`, false},
		{`{"nope": 1}`, false},
		{`{"i32": 2147483648}`, false},
		{`{"i32": 1e3}`, false},
		{`{"i32": 01}`, false},
		{`{"i32": " 1"}`, false},
		{`{"e": "E_TWO"}`, false},
		{`{"s": "x"} trailing`, false},
		{`{"s": "x",}`, false},
		{`[1]`, false},
		{``, false},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			if got := compareDecoders(t, m, []byte(tt.body)); got != tt.taken {
				t.Fatalf("taken %v, want %v", got, tt.taken)
			}
		})
	}
}

// TestDirectBodyVariables checks a body "*" request with a path variable against the general path.
func TestDirectBodyVariables(t *testing.T) {
	s := plainSet(t)
	b, vars, ok := s.Match("PUT", "/v1/plain/frompath")
	if !ok || !b.directBody {
		t.Fatalf("match %v, directBody %v", ok, ok && b.directBody)
	}
	body := []byte(`{"s": "frombody", "i32": 3, "inner": {"name": "n"}}`)
	direct, err := b.Request(nil, vars, "", body)
	if err != nil {
		t.Fatal(err)
	}
	general := *b
	general.directBody = false
	want, err := general.Request(nil, vars, "", body)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(decodeInput(t, b.Method, want), decodeInput(t, b.Method, direct)); d != "" {
		t.Fatalf("(-general +direct):\n%s", d)
	}
	if got := decodeInput(t, b.Method, direct)["s"]; got != "frompath" {
		t.Fatalf("s = %v, want the path's value", got)
	}
}

// FuzzRequestJSON feeds arbitrary bodies to the direct encoder: what it takes, protojson must read
// the same.
func FuzzRequestJSON(f *testing.F) {
	f.Add(`{"s":"x","i32":-5,"i64":"7","e":"E_ONE","inner":{"name":"y","n":[1,2]},"inners":[{}],"bs":[true]}`)
	f.Add(`{"u64":"18446744073709551615","si64s":["-3",4],"es":[0,"E_ONE"]}`)
	f.Add(`{"i32":"12","f32":0,"b":false}`)
	f.Add(`{"inner":{"pageSize":1,"page_size":2},"u32":-1,"u64":"99999999999999999999","i32":"-0"}`)
	f.Add(`{"s":"a\nb","fl":1.5,"ts":"2024-01-02T03:04:05Z"}`)
	s := plainSet(f)
	m, _ := s.Method("/plain.S/PutPlain")
	f.Fuzz(func(t *testing.T, body string) {
		compareDecoders(t, m, []byte(body))
	})
}
