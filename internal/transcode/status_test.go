package transcode

import (
	"encoding/base64"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestHTTPStatus(t *testing.T) {
	want := map[int]int{0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400,
		10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401, 17: 500, -1: 500, 1000: 500}
	for code, st := range want {
		if got := HTTPStatus(code); got != st {
			t.Errorf("HTTPStatus(%d) = %d, want %d", code, got, st)
		}
	}
}

func detailsBin(tb testing.TB, details ...*anypb.Any) []byte {
	tb.Helper()
	raw, err := proto.Marshal(&status.Status{Code: 3, Message: "bad", Details: details})
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func TestErrorJSON(t *testing.T) {
	s := kitchenSet(t)
	br, err := anypb.New(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "id", Description: "must be positive"}}})
	if err != nil {
		t.Fatal(err)
	}
	nested := &anypb.Any{TypeUrl: "type.googleapis.com/kitchen.Nested", Value: []byte{0x0a, 0x01, 'x'}}
	unknown := &anypb.Any{TypeUrl: "type.googleapis.com/x.Unknown", Value: []byte{1, 2, 3}}
	raw := detailsBin(t, br, nested, unknown)
	tests := []struct {
		name, message, bin string
		o                  Options
		want               string
	}{
		{name: "no details", message: "user 7 not found", want: `{"code":5,"message":"user 7 not found","details":[]}`},
		{
			name: "details padded", message: "bad", bin: base64.StdEncoding.EncodeToString(raw),
			want: `{"code":5,"message":"bad","details":[
				{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"id","description":"must be positive"}]},
				{"@type":"type.googleapis.com/kitchen.Nested","name":"x"},
				{"@type":"type.googleapis.com/x.Unknown","value":"AQID"}]}`,
		},
		{
			name: "details unpadded, proto names", message: "bad", bin: base64.RawStdEncoding.EncodeToString(detailsBin(t, br)), o: Options{UseProtoNames: true},
			want: `{"code":5,"message":"bad","details":[
				{"@type":"type.googleapis.com/google.rpc.BadRequest","field_violations":[{"field":"id","description":"must be positive"}]}]}`,
		},
		{name: "bad base64 ignored", message: "m", bin: "!!!", want: `{"code":5,"message":"m","details":[]}`},
		{name: "bad status ignored", message: "m", bin: base64.StdEncoding.EncodeToString([]byte{0xff}), want: `{"code":5,"message":"m","details":[]}`},
		{name: "message escaped", message: "a\"b\\c\n\x01\xff", want: `{"code":5,"message":"a\"b\\c\n\u0001\ufffd","details":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.ErrorJSON([]byte("x"), 5, tt.message, tt.bin, tt.o)
			if got[0] != 'x' {
				t.Fatal("dst not appended to")
			}
			diffJSON(t, got[1:], tt.want)
		})
	}
}

func TestDecodeMessage(t *testing.T) {
	tests := map[string]string{
		"plain":            "plain",
		"a%20b":            "a b",
		"%E2%82%AC%20euro": "€ euro",
		"100%":             "100%",
		"%zz%4":            "%zz%4",
		"50%25 off":        "50% off",
		"%":                "%",
		"trailing %2":      "trailing %2",
		"mixed %41%zz%42":  "mixed A%zzB",
	}
	for in, want := range tests {
		if got := DecodeMessage(in); got != want {
			t.Errorf("DecodeMessage(%q) = %q, want %q", in, got, want)
		}
	}
	if !strings.Contains(DecodeMessage("x%0Ay"), "\n") {
		t.Error("newline not decoded")
	}
}
