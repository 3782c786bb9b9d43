package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/turnpikegw/turnpike/internal/grpcdemo"
	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// alice is the seeded user 1 as the transcoder renders it with proto names.
var alice = map[string]any{
	"id": "1", "name": "Alice", "email": "alice@example.com", "role": "ROLE_ADMIN",
	"created_at": "2024-01-02T03:04:05Z", "tags": []any{"staff", "ops"},
}

// The patterns guide's config as written: no proto file, so the rules come
// from the upstream's reflection; the route prefix /api/v1 is removed to
// find the rule /v1/users/{id}.
func TestTranscodeGuideConfig(t *testing.T) {
	up := startUserService(t)
	gw := gwtest.Start(t, guideTranscodeConfig(up.Addr()), gwtest.Options{})

	resp, body := restCall(t, gw, http.MethodGet, "/api/v1/users/1", "")
	wantJSON(t, "GET /api/v1/users/1", resp, body, 200, map[string]any{"id": "1", "name": "Alice", "email": "alice@example.com", "role": "ROLE_ADMIN"})
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}

	resp, body = restCall(t, gw, http.MethodPost, "/api/v1/users", `{"name":"Dave","email":"dave@example.com","role":"ROLE_USER","tags":["new"]}`)
	created := wantJSON(t, "POST /api/v1/users", resp, body, 200, map[string]any{"id": "4", "name": "Dave", "role": "ROLE_USER", "tags": []any{"new"}})
	if created == nil {
		return
	}
	resp, body = restCall(t, gw, http.MethodGet, "/api/v1/users/4", "")
	wantJSON(t, "GET the created user", resp, body, 200, map[string]any{"name": "Dave", "email": "dave@example.com"})
}

// Kong's grpc-gateway config with a proto file; the JSON options change
// field names, enums and unpopulated fields.
func TestTranscodeKongGatewayWithProto(t *testing.T) {
	up := startUserService(t)
	proto := writeProto(t, t.TempDir(), "user.proto", grpcdemo.Proto)
	cfg := kongGatewayConfig(up.Addr(), proto, "") + `  - name: options
    protocols: [http]
    paths: [/opts]
    plugins:
    - name: grpc-gateway
      config:
        proto: ` + proto + `
        use_proto_names: false
        enums_as_ints: true
        emit_unpopulated: true
`
	gw := gwtest.Start(t, cfg, gwtest.Options{})

	resp, body := restCall(t, gw, http.MethodGet, "/v1/users/1", "")
	wantJSON(t, "GET /v1/users/1", resp, body, 200, alice)

	resp, body = restCall(t, gw, http.MethodPost, "/opts/v1/users", `{"name":"Erin"}`)
	got := wantJSON(t, "POST /opts/v1/users", resp, body, 200, map[string]any{"name": "Erin", "email": "", "role": 0, "tags": []any{}})
	if _, ok := got["createdAt"]; got != nil && !ok {
		t.Errorf("use_proto_names false: no createdAt in %s", body)
	}
}

// Every rule kind the service declares: patch with body "user" and a field
// mask from the query, delete returning Empty, a {name=orgs/*/users/*}
// template and an additional binding.
func TestTranscodeRuleKinds(t *testing.T) {
	up := startUserService(t)
	gw := gwtest.Start(t, kongGatewayConfig(up.Addr(), writeProto(t, t.TempDir(), "user.proto", grpcdemo.Proto), ""), gwtest.Options{})

	resp, body := restCall(t, gw, http.MethodPatch, "/v1/users/2?update_mask=email", `{"email":"bobby@example.com","name":"ignored"}`)
	wantJSON(t, "PATCH with update_mask", resp, body, 200, map[string]any{"id": "2", "name": "Bob", "email": "bobby@example.com"})
	resp, body = restCall(t, gw, http.MethodPatch, "/v1/users/2", `{"name":"Robert","email":"r@example.com","role":"ROLE_ADMIN"}`)
	wantJSON(t, "PATCH without a mask", resp, body, 200, map[string]any{"name": "Robert", "role": "ROLE_ADMIN", "tags": nil})

	resp, body = restCall(t, gw, http.MethodGet, "/v1/orgs/acme/users/carol", "")
	wantJSON(t, "GET {name=orgs/*/users/*}", resp, body, 200, map[string]any{"id": "3"})
	resp, body = restCall(t, gw, http.MethodGet, "/v1/names/alice", "")
	wantJSON(t, "GET additional binding", resp, body, 200, map[string]any{"id": "1"})

	resp, body = restCall(t, gw, http.MethodDelete, "/v1/users/3", "")
	if resp.StatusCode != 200 || strings.TrimSpace(body) != "{}" {
		t.Errorf("DELETE /v1/users/3: %d %q", resp.StatusCode, body)
	}
	resp, body = restCall(t, gw, http.MethodGet, "/v1/users/3", "")
	wantJSON(t, "GET a deleted user", resp, body, 404, map[string]any{"code": 5})
}

// ndjsonNames reads a finished NDJSON body into the users' names.
func ndjsonNames(t *testing.T, what, body string) []string {
	t.Helper()
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if line == "" {
			continue
		}
		names = append(names, fmt.Sprint(jsonObject(t, what, line)["name"]))
	}
	return names
}

// Fields the rule leaves unbound come from the query: enums by name and
// number, repeated fields, nested a.b fields.
func TestTranscodeQueryParameters(t *testing.T) {
	up := startUserService(t)
	gw := gwtest.Start(t, guideTranscodeConfig(up.Addr()), gwtest.Options{})
	for _, tc := range []struct{ query, want string }{
		{"", "Alice Bob Carol"},
		{"role=ROLE_USER", "Bob Carol"},
		{"role=2", "Alice"},
		{"tags=staff&tags=ops", "Alice"},
		{"tags=staff", "Alice Bob"},
		{"page.offset=1&page.size=1", "Bob"},
		{"page_size=2", "Alice Bob"},
	} {
		resp, body := restCall(t, gw, http.MethodGet, "/api/v1/users?"+tc.query, "")
		if got := strings.Join(ndjsonNames(t, tc.query, body), " "); resp.StatusCode != 200 || got != tc.want {
			t.Errorf("?%s: %d %q, want %q (body %s)", tc.query, resp.StatusCode, got, tc.want, body)
		}
	}
	// A parameter that names no field is ignored, as grpc-gateway does
	// (it may be meant for something else, a cache buster say).
	if resp, body := restCall(t, gw, http.MethodGet, "/api/v1/users?nosuchfield=1&role=ROLE_ADMIN", ""); resp.StatusCode != 200 ||
		strings.Join(ndjsonNames(t, "unknown parameter", body), " ") != "Alice" {
		t.Errorf("?nosuchfield=1: %d %s", resp.StatusCode, body)
	}
	for _, q := range []string{"role=ROLE_NOPE", "page_size=many", "page.size=x"} {
		resp, body := restCall(t, gw, http.MethodGet, "/api/v1/users?"+q, "")
		if resp.StatusCode != 400 {
			t.Errorf("?%s: %d %s, want 400", q, resp.StatusCode, body)
		}
	}
}

// gRPC errors come back with grpc-gateway's HTTP status and the details;
// what the client gets wrong is a 400 naming the field; no rule is a 404
// with Kong's JSON body.
func TestTranscodeErrors(t *testing.T) {
	up := startUserService(t)
	gw := gwtest.Start(t, guideTranscodeConfig(up.Addr()), gwtest.Options{})

	resp, body := restCall(t, gw, http.MethodGet, "/api/v1/users/99", "")
	got := wantJSON(t, "unknown user", resp, body, 404, map[string]any{"code": 5, "message": `user "99" not found`})
	if got != nil {
		details, _ := got["details"].([]any)
		d, _ := details[0].(map[string]any)
		if len(details) != 1 || d["@type"] != "type.googleapis.com/google.rpc.ErrorInfo" || d["reason"] != "USER_NOT_FOUND" ||
			!sameJSON(d["metadata"], map[string]any{"id": "99"}) {
			t.Errorf("NOT_FOUND details: %s", body)
		}
	}
	resp, body = restCall(t, gw, http.MethodGet, "/api/v1/users/abc", "")
	if got := wantJSON(t, "bad id", resp, body, 400, map[string]any{"code": 3}); got != nil &&
		!strings.Contains(body, `"@type":"type.googleapis.com/google.rpc.BadRequest"`) {
		t.Errorf("INVALID_ARGUMENT details: %s", body)
	}

	resp, body = restCall(t, gw, http.MethodGet, "/api/v1/nothing/here", "")
	if got := wantJSON(t, "no rule", resp, body, 404, nil); got != nil && got["message"] == nil {
		t.Errorf("no rule: body has no message: %s", body)
	}
	resp, body = restCall(t, gw, http.MethodPost, "/api/v1/users", `{"name":`)
	wantJSON(t, "truncated JSON", resp, body, 400, nil)
	resp, body = restCall(t, gw, http.MethodPost, "/api/v1/users", `{"nmae":"x"}`)
	if wantJSON(t, "unknown field", resp, body, 400, nil); !strings.Contains(body, "nmae") {
		t.Errorf("unknown field: the error does not name it: %s", body)
	}
	resp, body = restCall(t, gw, http.MethodPost, "/api/v1/users", `{"name":"x","role":"ROLE_NOPE"}`)
	if wantJSON(t, "bad enum", resp, body, 400, nil); !strings.Contains(body, "role") {
		t.Errorf("bad enum: the error does not name the field: %s", body)
	}
	resp, body = restCall(t, gw, http.MethodPost, "/api/v1/users:upload", `{"name":"x"}`)
	if resp.StatusCode != 501 {
		t.Errorf("client streaming method: %d %s, want 501", resp.StatusCode, body)
	}
}

// A request larger than max_message_size is refused before it reaches the
// upstream.
func TestTranscodeMaxMessageSize(t *testing.T) {
	up := startUserService(t)
	proto := writeProto(t, t.TempDir(), "user.proto", grpcdemo.Proto)
	gw := gwtest.Start(t, kongGatewayConfig(up.Addr(), proto, "        max_message_size: 1024\n"), gwtest.Options{})
	resp, body := restCall(t, gw, http.MethodPost, "/v1/users", `{"name":"`+strings.Repeat("x", 4096)+`"}`)
	if resp.StatusCode < 400 || resp.StatusCode > 499 {
		t.Errorf("4 KiB body over a 1 KiB limit: %d %s", resp.StatusCode, body)
	}
	resp, body = restCall(t, gw, http.MethodGet, "/v1/users", "")
	if resp.StatusCode != 200 || len(ndjsonNames(t, "list", body)) < 3 {
		t.Errorf("small list under the limit: %d %s", resp.StatusCode, body)
	}
}

// The client's Grpc-Timeout becomes the call's deadline: the sleeping
// method ends in DEADLINE_EXCEEDED, 504.
// The gateway's own failure of a transcoded call (here: nothing listens
// at the upstream) is answered in the call's error shape, as UNAVAILABLE.
func TestTranscodeUpstreamDown(t *testing.T) {
	proto := writeProto(t, t.TempDir(), "user.proto", grpcdemo.Proto)
	gw := gwtest.Start(t, kongGatewayConfig(deadAddr(t), proto, ""), gwtest.Options{})
	resp, body := restCall(t, gw, http.MethodGet, "/v1/users/1", "")
	wantJSON(t, "upstream down", resp, body, 502, map[string]any{"code": 14})
}

func TestTranscodeDeadline(t *testing.T) {
	up := startUserService(t)
	gw := gwtest.Start(t, guideTranscodeConfig(up.Addr()), gwtest.Options{})
	start := time.Now()
	resp, body := restCall(t, gw, http.MethodGet, "/api/v1/sleep/5000", "", "Grpc-Timeout", "100m")
	wantJSON(t, "sleep past the deadline", resp, body, 504, map[string]any{"code": 4})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the deadline was not applied: took %v", took)
	}
	resp, body = restCall(t, gw, http.MethodGet, "/api/v1/sleep/10", "", "Grpc-Timeout", "5S")
	wantJSON(t, "sleep within the deadline", resp, body, 200, map[string]any{"slept_millis": 10})
}

// Request headers reach the upstream as metadata; its response header and
// trailer come back as Grpc-Metadata- headers.
func TestTranscodeMetadata(t *testing.T) {
	up := startUserService(t)
	gw := gwtest.Start(t, guideTranscodeConfig(up.Addr()), gwtest.Options{})
	resp, body := restCall(t, gw, http.MethodGet, "/api/v1/users/1", "", "X-Echo-Token", "abc123")
	wantJSON(t, "GET with metadata", resp, body, 200, map[string]any{"id": "1"})
	if got := resp.Header.Get("Grpc-Metadata-X-Echo-Token"); got != "abc123" {
		t.Errorf("response header metadata: %q (headers %v)", got, resp.Header)
	}
	if got := resp.Header.Get("Grpc-Metadata-X-Echo-Trailer-Token"); got != "abc123" {
		t.Errorf("trailer metadata: %q (headers %v)", got, resp.Header)
	}
}

// A server-streaming method answers as NDJSON, each message flushed as the
// upstream sends it; a failure after the first message is a final error
// line.
func TestTranscodeServerStreamNDJSON(t *testing.T) {
	up := startUserService(t)
	gw := gwtest.Start(t, guideTranscodeConfig(up.Addr()), gwtest.Options{})

	s := openStream(t, gw, "/api/v1/users?step=true")
	if s.resp.StatusCode != 200 {
		t.Fatalf("stream status %d", s.resp.StatusCode)
	}
	for i, want := range []string{"Alice", "Bob", "Carol"} {
		if i > 0 {
			if !s.quiet(100 * time.Millisecond) {
				t.Fatalf("message %d arrived before the server sent it", i+1)
			}
			if !up.Step(5 * time.Second) {
				t.Fatalf("the upstream stream did not wait for step %d", i)
			}
		}
		line := s.next(5 * time.Second)
		if !strings.HasSuffix(line, "}\n") || jsonObject(t, "NDJSON line", line)["name"] != want {
			t.Fatalf("line %d = %q, want %s's JSON", i+1, line, want)
		}
	}
	s.end(5 * time.Second)

	s = openStream(t, gw, "/api/v1/users?fail_after=2")
	s.next(5 * time.Second)
	s.next(5 * time.Second)
	last := jsonObject(t, "error line", s.next(5*time.Second))
	e, _ := last["error"].(map[string]any)
	if e["code"] != float64(14) || e["message"] != "stream failed after 2 messages" {
		t.Errorf("error line: %v", last)
	}
	if d, _ := e["details"].([]any); len(d) != 1 {
		t.Errorf("error line details: %v", e["details"])
	}
	s.end(5 * time.Second)
}

// With Accept: text/event-stream a server stream is Server-Sent Events.
func TestTranscodeServerStreamSSE(t *testing.T) {
	up := startUserService(t)
	gw := gwtest.Start(t, guideTranscodeConfig(up.Addr()), gwtest.Options{})
	s := openStream(t, gw, "/api/v1/users?step=true&role=ROLE_USER", "Accept", "text/event-stream")
	if ct := s.resp.Header.Get("Content-Type"); s.resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("SSE: %d %q", s.resp.StatusCode, ct)
	}
	for i, want := range []string{"Bob", "Carol"} {
		if i > 0 {
			if !s.quiet(100 * time.Millisecond) {
				t.Fatal("second event arrived before the server sent it")
			}
			up.Step(5 * time.Second)
		}
		data, ok := strings.CutPrefix(s.next(5*time.Second), "data: ")
		if !ok || jsonObject(t, "SSE data", data)["name"] != want {
			t.Fatalf("event %d: %q", i+1, data)
		}
		if blank := s.next(5 * time.Second); blank != "\n" {
			t.Fatalf("event %d not ended by a blank line: %q", i+1, blank)
		}
	}
	s.end(5 * time.Second)
}

// A native gRPC client calls the same route through the gateway: requests
// with Content-Type application/grpc pass through untranscoded.
func TestTranscodeRouteKeepsNativeGrpc(t *testing.T) {
	up := startUserService(t)
	gw := gwtest.Start(t, kongGatewayConfig(up.Addr(), writeProto(t, t.TempDir(), "user.proto", grpcdemo.Proto), ""),
		gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
	fd, err := grpcdemo.File()
	if err != nil {
		t.Fatal(err)
	}
	md := fd.Services().ByName("UserService").Methods().ByName("GetUser")
	conn, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(gw.URL, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	in, out := dynamicpb.NewMessage(md.Input()), dynamicpb.NewMessage(md.Output())
	in.Set(md.Input().Fields().ByName("id"), protoreflect.ValueOfString("2"))
	var trl metadata.MD
	ctx := metadata.AppendToOutgoingContext(grpcCtx(t), "x-echo-via", "native")
	if err := conn.Invoke(ctx, "/"+grpcdemo.ServiceName+"/GetUser", in, out, grpc.Trailer(&trl)); err != nil {
		t.Fatalf("native GetUser through the gateway: %v", err)
	}
	if got := out.Get(md.Output().Fields().ByName("name")).String(); got != "Bob" {
		t.Errorf("native GetUser: name %q", got)
	}
	if got := trl.Get("x-echo-trailer-via"); len(got) != 1 || got[0] != "native" {
		t.Errorf("native trailer: %v", trl)
	}
	hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: grpcdemo.ServiceName})
	if err != nil || hc.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("native health check: %v %v", hc, err)
	}
	resp, body := restCall(t, gw, http.MethodGet, "/v1/users/2", "")
	wantJSON(t, "REST on the same route", resp, body, 200, map[string]any{"name": "Bob"})
}

// Reloads swap the proto file: a method the new file adds answers after
// SIGHUP; a file that does not compile is refused with the field path and
// the compiler's position, and the old descriptors stay in force.
func TestTranscodeReloadSwapsProto(t *testing.T) {
	up := startUserService(t)
	dir := t.TempDir()
	sleepRPC := `  rpc Sleep (SleepRequest) returns (SleepResponse) {
    option (google.api.http) = {
      get: "/v1/sleep/{millis}"
    };
  }
`
	without := strings.Replace(grpcdemo.Proto, sleepRPC, "", 1)
	if without == grpcdemo.Proto {
		t.Fatal("the Sleep rpc is not in grpcdemo.Proto as this test expects")
	}
	gw := gwtest.Start(t, kongGatewayConfig(up.Addr(), writeProto(t, dir, "old.proto", without), ""), gwtest.Options{})
	if resp, body := restCall(t, gw, http.MethodGet, "/v1/sleep/1", ""); resp.StatusCode != 404 {
		t.Fatalf("/v1/sleep/1 before the reload: %d %s", resp.StatusCode, body)
	}

	cfg := kongGatewayConfig(up.Addr(), writeProto(t, dir, "new.proto", grpcdemo.Proto), "")
	if err := os.WriteFile(gw.ConfigPath(), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	gw.Signal(syscall.SIGHUP)
	waitUntil(t, "the new proto's Sleep rule", func() bool {
		resp, _ := restCall(t, gw, http.MethodGet, "/v1/sleep/1", "")
		return resp.StatusCode == 200
	})

	broken := writeProto(t, dir, "broken.proto", "syntax = \"proto3\";\npackage broken;\nmessage M { int32 a = 1 }\n")
	code, res := adminCall(t, gw, http.MethodPost, "/config", kongGatewayConfig(up.Addr(), broken, ""))
	msg := kongField(res["fields"], "services[0].routes[0].plugins[0].config.proto")
	if code != 400 || msg == nil || !strings.Contains(fmt.Sprint(msg), "broken.proto:3:") {
		raw, _ := json.Marshal(res)
		t.Errorf("POST /config with a broken proto: %d %s", code, raw)
	}
	if resp, body := restCall(t, gw, http.MethodGet, "/v1/sleep/1", ""); resp.StatusCode != 200 {
		t.Errorf("after the refused config: %d %s", resp.StatusCode, body)
	}
}
