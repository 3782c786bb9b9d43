package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// grpcWebConfig puts the grpc-web plugin on three routes to the health
// service: the method paths themselves (which native gRPC clients may use
// too), a prefix passed upstream stripped, and one with its own origin.
func grpcWebConfig(upstreamAddr string) string {
	return fmt.Sprintf(`
_format_version: "3.0"
services:
- name: health
  url: grpc://%s
  routes:
  - name: web
    paths: [/grpc.health.v1.Health/]
    strip_path: false
    plugins:
    - name: grpc-web
  - name: stripped
    paths: [/web]
    plugins:
    - name: grpc-web
      config:
        pass_stripped_path: true
  - name: origin
    paths: [/origin]
    plugins:
    - name: grpc-web
      config:
        pass_stripped_path: true
        allow_origin_header: https://app.example
`, upstreamAddr)
}

// webCall is a gRPC-Web answer, decoded.
type webCall struct {
	resp    *http.Response
	raw     []byte
	msgs    [][]byte
	trailer map[string]string
}

// grpcWebRequest builds a request as the grpc-web JavaScript client does:
// the message in a frame, base64 in text mode, POSTed over HTTP/1.1.
func grpcWebRequest(t *testing.T, url, contentType string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", contentType)
	req.Header.Set("X-Grpc-Web", "1")
	req.Header.Set("X-User-Agent", "grpc-web-javascript/0.1")
	req.Header.Set("Origin", "https://app.example")
	return req
}

func webFrame(flags byte, msg []byte) []byte {
	out := make([]byte, 5, 5+len(msg))
	out[0] = flags
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

// grpcWebDo sends req and decodes the frames of the answer (base64
// quantum by quantum in text mode, as browsers' clients read it).
func grpcWebDo(t *testing.T, req *http.Request) webCall {
	t.Helper()
	resp, err := http.DefaultClient.Do(req.WithContext(grpcCtx(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	call := webCall{resp: resp, raw: raw}
	ct := resp.Header.Get("Content-Type")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "application/grpc-web") {
		return call
	}
	body := raw
	if strings.HasPrefix(ct, "application/grpc-web-text") {
		body = decodeQuanta(t, raw)
	}
	call.msgs, call.trailer = splitWebFrames(t, body)
	return call
}

func decodeQuanta(t *testing.T, s []byte) []byte {
	t.Helper()
	if len(s)%4 != 0 {
		t.Fatalf("text answer of %d characters", len(s))
	}
	var out []byte
	for i := 0; i < len(s); i += 4 {
		b, err := base64.StdEncoding.DecodeString(string(s[i : i+4]))
		if err != nil {
			t.Fatalf("text answer at %d: %v", i, err)
		}
		out = append(out, b...)
	}
	return out
}

func splitWebFrames(t *testing.T, body []byte) ([][]byte, map[string]string) {
	t.Helper()
	var msgs [][]byte
	for len(body) >= 5 {
		n := int(binary.BigEndian.Uint32(body[1:5]))
		if len(body) < 5+n {
			t.Fatalf("frame of %d bytes has %d", n, len(body)-5)
		}
		payload := body[5 : 5+n]
		if body[0]&0x80 != 0 {
			if len(body) != 5+n {
				t.Fatalf("%d bytes after the trailer frame", len(body)-5-n)
			}
			trailer := map[string]string{}
			for _, line := range strings.Split(strings.TrimSuffix(string(payload), "\r\n"), "\r\n") {
				k, v, ok := strings.Cut(line, ":")
				if !ok || k != strings.ToLower(k) {
					t.Fatalf("trailer line %q", line)
				}
				trailer[k] = v
			}
			return msgs, trailer
		}
		msgs = append(msgs, payload)
		body = body[5+n:]
	}
	t.Fatalf("no trailer frame (%d bytes left)", len(body))
	return nil, nil
}

func healthCheck(t *testing.T, service string) []byte {
	b, err := proto.Marshal(&healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkStatus(t *testing.T, msg []byte) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	var r healthpb.HealthCheckResponse
	if err := proto.Unmarshal(msg, &r); err != nil {
		t.Fatalf("answer message: %v", err)
	}
	return r.GetStatus()
}

func TestGrpcWebBinaryAndText(t *testing.T) {
	up := startGrpcUpstream(t)
	gw := gwtest.Start(t, grpcWebConfig(up.Addr), gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
	frame := webFrame(0, healthCheck(t, grpcService))
	text := base64.StdEncoding.EncodeToString(frame[:5]) + base64.StdEncoding.EncodeToString(frame[5:])
	tests := []struct {
		name, path, contentType string
		body                    []byte
	}{
		{"binary", "/grpc.health.v1.Health/Check", "application/grpc-web+proto", frame},
		{"binary without +proto", "/grpc.health.v1.Health/Check", "application/grpc-web", frame},
		{"text in two padded pieces", "/grpc.health.v1.Health/Check", "application/grpc-web-text", []byte(text)},
		{"text+proto", "/grpc.health.v1.Health/Check", "application/grpc-web-text+proto", []byte(base64.StdEncoding.EncodeToString(frame))},
		{"pass_stripped_path", "/web/grpc.health.v1.Health/Check", "application/grpc-web-text", []byte(text)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			call := grpcWebDo(t, grpcWebRequest(t, gw.URL+tc.path, tc.contentType, tc.body))
			h := call.resp.Header
			if call.resp.StatusCode != http.StatusOK || h.Get("Content-Type") != tc.contentType {
				t.Fatalf("got %d %q, want 200 %q: %q", call.resp.StatusCode, h.Get("Content-Type"), tc.contentType, call.raw)
			}
			if len(call.msgs) != 1 || checkStatus(t, call.msgs[0]) != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("messages %q, want one SERVING", call.msgs)
			}
			if call.trailer["grpc-status"] != "0" || call.trailer["x-upstream-trailer"] != "/grpc.health.v1.Health/Check" {
				t.Errorf("trailer frame %v", call.trailer)
			}
			if len(call.resp.Trailer) != 0 {
				t.Errorf("the status went in the trailer frame and again as an HTTP trailer: %v", call.resp.Trailer)
			}
			if h.Get("X-Upstream") != "health" {
				t.Errorf("upstream's response header x-upstream = %q", h.Get("X-Upstream"))
			}
			if h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "grpc-status,grpc-message") {
				t.Errorf("CORS headers: %v", h)
			}
		})
	}
	md := up.calls()
	if len(md) != len(tests) {
		t.Fatalf("upstream saw %d calls, want %d", len(md), len(tests))
	}
	for _, m := range md {
		if ct := m.Get("content-type"); len(ct) != 1 || ct[0] != "application/grpc" {
			t.Errorf("upstream content-type %q", ct)
		}
		if got := m.Get("x-grpc-web"); len(got) != 1 {
			t.Errorf("client metadata x-grpc-web did not reach the upstream: %v", m)
		}
	}

	// A native gRPC client on the same route is not touched.
	client := grpcDial(t, gw.URL, insecure.NewCredentials())
	if resp, err := client.Check(grpcCtx(t), &healthpb.HealthCheckRequest{Service: grpcService}); err != nil ||
		resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("native gRPC through the grpc-web route: %v %v", resp, err)
	}
}

// Errors come in the trailer frame, also when the upstream answered
// trailers-only; the gateway's own refusals carry the CORS origin.
func TestGrpcWebErrors(t *testing.T) {
	up := startGrpcUpstream(t)
	gw := gwtest.Start(t, grpcWebConfig(up.Addr), gwtest.Options{})
	url := gw.URL + "/grpc.health.v1.Health/"

	call := grpcWebDo(t, grpcWebRequest(t, url+"Check", "application/grpc-web+proto", webFrame(0, healthCheck(t, "nope"))))
	if call.resp.StatusCode != 200 || len(call.msgs) != 0 || call.trailer["grpc-status"] != "5" || call.trailer["grpc-message"] != "unknown service" {
		t.Errorf("unknown service: %d %q %v", call.resp.StatusCode, call.msgs, call.trailer)
	}

	// grpc-go answers an unknown method trailers-only: the status is in
	// the headers, and moves to the trailer frame.
	call = grpcWebDo(t, grpcWebRequest(t, url+"Nope", "application/grpc-web-text", []byte(base64.StdEncoding.EncodeToString(webFrame(0, nil)))))
	if call.resp.StatusCode != 200 || call.trailer["grpc-status"] != "12" {
		t.Errorf("unknown method: %d %v %q", call.resp.StatusCode, call.trailer, call.raw)
	}
	if v := call.resp.Header.Values("Grpc-Status"); len(v) != 0 {
		t.Errorf("a trailers-only answer's grpc-status stayed in the headers: %v", v)
	}

	refusals := []struct {
		name, contentType string
		body              []byte
		status            int
	}{
		{"body over the limit", "application/grpc-web+proto", webFrame(0, make([]byte, 4<<20+1)), http.StatusRequestEntityTooLarge},
		{"text body over the limit", "application/grpc-web-text", []byte(base64.StdEncoding.EncodeToString(webFrame(0, make([]byte, 4<<20+1)))), http.StatusRequestEntityTooLarge},
		{"bad base64", "application/grpc-web-text", []byte("AAAA*AAA"), http.StatusBadRequest},
		{"text ending inside a quantum", "application/grpc-web-text", []byte("AAAAAA"), http.StatusBadRequest},
		{"JSON without a proto", "application/grpc-web+json", webFrame(0, []byte(`{}`)), http.StatusBadRequest},
		{"not gRPC-Web", "text/plain", []byte("hi"), http.StatusBadRequest},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			call := grpcWebDo(t, grpcWebRequest(t, url+"Check", tc.contentType, tc.body))
			if call.resp.StatusCode != tc.status || call.resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("got %d (origin %q) %q, want %d", call.resp.StatusCode, call.resp.Header.Get("Access-Control-Allow-Origin"), call.raw, tc.status)
			}
		})
	}
	// Only the unknown service's Check reached the upstream's handler:
	// the refusals were not sent.
	if n := len(up.calls()); n != 1 {
		t.Errorf("upstream saw %d calls, want 1", n)
	}
}

func TestGrpcWebPreflightAndOrigin(t *testing.T) {
	up := startGrpcUpstream(t)
	gw := gwtest.Start(t, grpcWebConfig(up.Addr), gwtest.Options{})
	for _, tc := range []struct{ path, origin string }{
		{"/grpc.health.v1.Health/Check", "*"},
		{"/origin/grpc.health.v1.Health/Check", "https://app.example"},
	} {
		req, _ := http.NewRequest(http.MethodOptions, gw.URL+tc.path, nil)
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "x-grpc-web,authorization")
		resp, body := gwtest.Do(t, req)
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Access-Control-Allow-Origin") != tc.origin || h.Get("Access-Control-Allow-Methods") != "POST" ||
			h.Get("Access-Control-Allow-Headers") != "content-type,x-grpc-web,x-user-agent,x-grpc-web,authorization" ||
			h.Get("Content-Type") != "application/grpc-web-text+proto" || body != "OK" {
			t.Errorf("%s preflight: %d %v %q", tc.path, resp.StatusCode, h, body)
		}
	}
	if n := len(up.calls()); n != 0 {
		t.Errorf("preflights reached the upstream: %d calls", n)
	}
	call := grpcWebDo(t, grpcWebRequest(t, gw.URL+"/origin/grpc.health.v1.Health/Check", "application/grpc-web", webFrame(0, healthCheck(t, ""))))
	if call.trailer["grpc-status"] != "0" || call.resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("answer: %v %v", call.trailer, call.resp.Header)
	}
}

// A server-streaming call's messages reach the browser as they are sent,
// each a whole base64 piece in text mode, protobuf or JSON.
func TestGrpcWebServerStreaming(t *testing.T) {
	up := startGrpcUpstream(t)
	protoPath := filepath.Join(t.TempDir(), "health.proto")
	if err := os.WriteFile(protoPath, []byte(healthProto), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: health
  url: grpc://%s
  routes:
  - name: web
    paths: [/s]
    plugins:
    - name: grpc-web
      config:
        proto: %s
        pass_stripped_path: true
`, up.Addr, protoPath), gwtest.Options{})
	for _, tc := range []struct {
		contentType string
		request     func(service string) []byte
		status      func(t *testing.T, msg []byte) string
	}{
		{"application/grpc-web-text", func(s string) []byte { return healthCheck(t, s) },
			func(t *testing.T, msg []byte) string { return checkStatus(t, msg).String() }},
		{"application/grpc-web-text+json", func(s string) []byte { return []byte(`{"service":"` + s + `"}`) },
			func(t *testing.T, msg []byte) string {
				s, ok := strings.CutPrefix(string(msg), `{"status":"`)
				if !ok {
					t.Fatalf("message %q", msg)
				}
				return strings.TrimSuffix(s, `"}`)
			}},
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			service := "watch-" + tc.contentType
			up.Health.SetServingStatus(service, healthpb.HealthCheckResponse_SERVING)
			body := base64.StdEncoding.EncodeToString(webFrame(0, tc.request(service)))
			req := grpcWebRequest(t, gw.URL+"/s/grpc.health.v1.Health/Watch", tc.contentType, []byte(body))
			// The head, too, waits for the first message: bound the wait.
			resp, err := http.DefaultClient.Do(req.WithContext(grpcCtx(t)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			msgs := readTextFrames(resp.Body)
			next := func() []byte {
				select {
				case m, ok := <-msgs:
					if !ok {
						t.Fatal("stream ended")
					}
					return m
				case <-time.After(5 * time.Second):
					t.Fatal("no message within 5s: not flushed")
				}
				return nil
			}
			if s := tc.status(t, next()); s != "SERVING" {
				t.Errorf("first message %v", s)
			}
			up.Health.SetServingStatus(service, healthpb.HealthCheckResponse_NOT_SERVING)
			if s := tc.status(t, next()); s != "NOT_SERVING" {
				t.Errorf("second message %v", s)
			}
		})
	}
}

// readTextFrames decodes a text-mode answer as it arrives and sends the
// payload of each frame on the channel, closed when the body ends.
func readTextFrames(body io.Reader) <-chan []byte {
	msgs := make(chan []byte, 4)
	go func() {
		defer close(msgs)
		var buf, pending []byte
		chunk := make([]byte, 512)
		for {
			n, err := body.Read(chunk)
			buf = append(buf, chunk[:n]...)
			whole := len(buf) / 4 * 4
			for i := 0; i < whole; i += 4 {
				b, derr := base64.StdEncoding.DecodeString(string(buf[i : i+4]))
				if derr != nil {
					return
				}
				pending = append(pending, b...)
			}
			buf = buf[whole:]
			for len(pending) >= 5 && len(pending) >= 5+int(binary.BigEndian.Uint32(pending[1:5])) {
				n := 5 + int(binary.BigEndian.Uint32(pending[1:5]))
				msgs <- append([]byte(nil), pending[5:n]...)
				pending = pending[n:]
			}
			if err != nil {
				return
			}
		}
	}()
	return msgs
}

// healthProto is grpc.health.v1 as a .proto file, for the JSON modes.
const healthProto = `syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse {
  enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1;
}
service Health {
  rpc Check(HealthCheckRequest) returns (HealthCheckResponse);
  rpc Watch(HealthCheckRequest) returns (stream HealthCheckResponse);
}
`

func TestGrpcWebJSON(t *testing.T) {
	up := startGrpcUpstream(t)
	protoPath := filepath.Join(t.TempDir(), "health.proto")
	if err := os.WriteFile(protoPath, []byte(healthProto), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
_format_version: "3.0"
services:
- name: health
  url: grpc://%s
  routes:
  - name: json
    paths: [/json]
    plugins:
    - name: grpc-web
      config:
        proto: %s
        pass_stripped_path: true
`, up.Addr, protoPath)
	gw := gwtest.Start(t, cfg, gwtest.Options{})
	url := gw.URL + "/json/grpc.health.v1.Health/"
	req := []byte(`{"service":"` + grpcService + `"}`)

	for _, tc := range []struct{ contentType, body string }{
		{"application/grpc-web+json", string(webFrame(0, req))},
		{"application/grpc-web-text+json", base64.StdEncoding.EncodeToString(webFrame(0, req))},
	} {
		call := grpcWebDo(t, grpcWebRequest(t, url+"Check", tc.contentType, []byte(tc.body)))
		if call.resp.Header.Get("Content-Type") != tc.contentType || len(call.msgs) != 1 || string(call.msgs[0]) != `{"status":"SERVING"}` ||
			call.trailer["grpc-status"] != "0" {
			t.Errorf("%s: %d %q %q %v", tc.contentType, call.resp.StatusCode, call.resp.Header.Get("Content-Type"), call.msgs, call.trailer)
		}
	}
	call := grpcWebDo(t, grpcWebRequest(t, url+"Check", "application/grpc-web+json", webFrame(0, []byte(`{"service":"nope"}`))))
	if len(call.msgs) != 0 || call.trailer["grpc-status"] != "5" {
		t.Errorf("unknown service: %q %v", call.msgs, call.trailer)
	}

	// Kong's plain JSON: no frames, no trailer; a failed call gets
	// grpc-gateway's status and body.
	for _, tc := range []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"call", "Check", string(req), 200, `{"status":"SERVING"}`},
		{"gRPC error", "Check", `{"service":"nope"}`, 404, `{"code":5,"message":"unknown service","details":[]}`},
		{"unknown field", "Check", `{"servce":"x"}`, 400, "servce"},
		{"not JSON", "Check", `{`, 400, "invalid JSON"},
		{"method not in the proto", "Nope", `{}`, 400, "Unknown gRPC method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call := grpcWebDo(t, grpcWebRequest(t, url+tc.path, "application/json", []byte(tc.body)))
			if call.resp.StatusCode != tc.status || !strings.Contains(string(call.raw), tc.want) {
				t.Errorf("got %d %q, want %d %q", call.resp.StatusCode, call.raw, tc.status, tc.want)
			}
			if tc.status == 200 && (string(call.raw) != tc.want || call.resp.Header.Get("Content-Type") != "application/json") {
				t.Errorf("answer %q %q", call.resp.Header.Get("Content-Type"), call.raw)
			}
		})
	}
}
