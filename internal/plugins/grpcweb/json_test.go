package grpcweb

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/transcode"
)

const testProto = `syntax = "proto3";
package t;
message Req { string name = 1; }
message Resp { string reply_text = 1; int32 n = 2; }
service S { rpc Call(Req) returns (stream Resp); }
`

func testMethod(t *testing.T) (*transcode.Set, *transcode.Method) {
	t.Helper()
	set, err := transcode.CompileSource(map[string]string{"t.proto": testProto}, "t.proto")
	if err != nil {
		t.Fatal(err)
	}
	m, ok := set.Method("/t.S/Call")
	if !ok {
		t.Fatal("no method")
	}
	return set, m
}

func TestWebBodyJSON(t *testing.T) {
	set, m := testMethod(t)
	// Resp{reply_text: "hi", n: 3} and Resp{n: 1}.
	msgs := frame(0, "\x0a\x02hi\x10\x03") + frame(0, "\x10\x01")
	ok := http.Header{"Grpc-Status": {"0"}}
	tests := []struct {
		name, ct, src string
		trailer       http.Header
		status        string
		wantStatus    int
		want          string // framed: messages joined by |, then the trailer
		readErr       bool
	}{
		{name: "framed", ct: "application/grpc-web+json", src: msgs, trailer: ok, wantStatus: 200,
			want: `{"reply_text":"hi","n":3}|{"n":1}|grpc-status:0` + "\r\n"},
		{name: "text", ct: "application/grpc-web-text+json", src: msgs, trailer: ok, wantStatus: 200,
			want: `{"reply_text":"hi","n":3}|{"n":1}|grpc-status:0` + "\r\n"},
		{name: "compressed message", ct: "application/grpc-web+json", src: frame(1, "x"), trailer: ok, wantStatus: 200,
			want: "grpc-status:13\r\ngrpc-message:grpc-web: compressed upstream message in a JSON call\r\n"},
		{name: "message not of the proto", ct: "application/grpc-web+json", src: frame(0, "\xff"), trailer: ok, wantStatus: 200,
			want: "grpc-status:13\r\ngrpc-message:grpc-web: upstream message does not match the proto\r\n"},
		{name: "plain, compressed message", ct: "application/json", src: frame(1, "x"), trailer: ok, wantStatus: 502,
			want: `{"code":13,"message":"grpc-web: compressed upstream message in a JSON call","details":[]}`},
		{name: "plain, bad message after a good one", ct: "application/json", src: frame(0, "\x10\x01") + frame(0, "\xff"),
			trailer: ok, wantStatus: 200, readErr: true},
		{name: "plain", ct: "application/json", src: frame(0, "\x10\x01"), trailer: ok, wantStatus: 200, want: `{"n":1}`},
		{name: "plain, trailers-only error", ct: "application/json", status: "5", wantStatus: 404,
			want: `{"code":5,"message":"","details":[]}`},
		{name: "plain, error after a message", ct: "application/json", src: frame(0, "\x10\x01"),
			trailer: http.Header{"Grpc-Status": {"13"}}, wantStatus: 200, readErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := bodyOf(modeOf(tc.ct), tc.src, tc.trailer, iotest.OneByteReader)
			b.set, b.method, b.status = set, m, tc.status
			got, err := io.ReadAll(b)
			if (err != nil) != tc.readErr {
				t.Fatalf("read error %v", err)
			}
			if tc.readErr {
				return
			}
			if b.resp.Status != tc.wantStatus {
				t.Errorf("status %d, want %d", b.resp.Status, tc.wantStatus)
			}
			if b.mode.text {
				got = decodeText(t, got)
			}
			if b.mode.framed {
				msgs, trailer := readFrames(t, got)
				got = []byte(strings.Join(append(msgs, trailer), "|"))
			}
			if string(got) != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRequestJSON(t *testing.T) {
	_, m := testMethod(t)
	got, err := requestJSON(m, []byte(frame(0, `{"name":"x"}`)), true)
	if err != nil || string(got) != frame(0, "\x0a\x01x") {
		t.Errorf("framed: %q %v", got, err)
	}
	if got, err := requestJSON(m, []byte(`{"name":"x"}`), false); err != nil || string(got) != frame(0, "\x0a\x01x") {
		t.Errorf("plain: %q %v", got, err)
	}
	for _, body := range []string{frame(1, `{}`), frame(0, `{}`) + frame(0, `{}`), frame(0, `{}`)[:4], ""} {
		if _, err := requestJSON(m, []byte(body), true); err != errNotOneFrame {
			t.Errorf("%q: %v", body, err)
		}
	}
	_, err = requestJSON(m, []byte(`{"nme":"x"}`), false)
	if e, ok := err.(*plugin.Exit); !ok || e.Status != 400 || !strings.Contains(e.Message, "nme") {
		t.Errorf("unknown field: %v", err)
	}
}
