package grpcgateway

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/transcode"
)

// userProto is the patterns guide's service, with a server-streaming and
// a client-streaming method beside it.
const userProto = `syntax = "proto3";
package demo.v1;
import "google/api/annotations.proto";

message GetUserRequest { string id = 1; }
message CreateUserRequest { string name = 1; string email = 2; }
message User { string id = 1; string name = 2; string email = 3; }
message ListUsersRequest { int32 page_size = 1; }

service UserService {
  rpc GetUser (GetUserRequest) returns (User) { option (google.api.http) = { get: "/v1/users/{id}" }; }
  rpc CreateUser (CreateUserRequest) returns (User) { option (google.api.http) = { post: "/v1/users" body: "*" }; }
  rpc ListUsers (ListUsersRequest) returns (stream User) { option (google.api.http) = { get: "/v1/users" }; }
  rpc UploadUsers (stream User) returns (User) { option (google.api.http) = { post: "/v1/users:upload" body: "*" }; }
}
`

func testInstance(t *testing.T) *instance {
	t.Helper()
	set, err := transcode.CompileSource(map[string]string{"user.proto": userProto}, "user.proto")
	if err != nil {
		t.Fatal(err)
	}
	c := &Config{}
	c.SetDefaults()
	return &instance{name: Name, max: c.MaxMessageSize, static: set, log: discard,
		opts: transcode.Options{UseProtoNames: true}}
}

func newCtx(method, target string, body io.Reader, routePaths ...string) *plugin.Ctx {
	r := httptest.NewRequest(method, target, body)
	return &plugin.Ctx{Req: r, Method: method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, ClientPath: r.URL.Path,
		Route: &plugin.RouteInfo{Paths: routePaths}, Service: &plugin.ServiceInfo{ID: "svc"},
		Resp: plugin.Response{Header: http.Header{}}}
}

// The guide's route /api/v1 serves the rule /v1/users/{id}: the rule is
// tried against the client's path and that path without each leading
// segment of the route prefix.
func TestMatchUnderRoutePrefix(t *testing.T) {
	in := testInstance(t)
	for _, tc := range []struct {
		path, paths, want, id string
	}{
		{"/v1/users/42", "/v1", "/demo.v1.UserService/GetUser", "42"},
		{"/api/v1/users/42", "/api/v1", "/demo.v1.UserService/GetUser", "42"},
		{"/api/v1/v1/users/7", "/api/v1", "/demo.v1.UserService/GetUser", "7"},
		{"/gw/users/9", "/gw", "", ""},
		{"/api/v1/users/42/more", "/api/v1", "", ""},
	} {
		c := newCtx(http.MethodGet, tc.path, nil, "~/nothing$", tc.paths)
		b, vars, ok := in.match(in.static, c)
		if tc.want == "" {
			if ok {
				t.Errorf("%s under %s matched %s", tc.path, tc.paths, b.Method.FullPath)
			}
			continue
		}
		if !ok || b.Method.FullPath != tc.want || vars.Len() != 1 {
			t.Errorf("%s under %s: ok=%v binding %+v", tc.path, tc.paths, ok, b)
			continue
		}
		if v, _ := vars.Value(0); v != tc.id {
			t.Errorf("%s: id %q", tc.path, v)
		}
	}
}

// Access turns a REST call into the gRPC call: POST to the method's path,
// the message framed, the query gone, gRPC's headers set.
func TestAccessRewritesIntoGRPC(t *testing.T) {
	in := testInstance(t)
	c := newCtx(http.MethodPost, "/api/v1/users?x=1", strings.NewReader(`{"name":"Ada","email":"ada@example.com"}`), "/api/v1")
	c.Req.Header.Set("Content-Type", "application/json")
	c.Req.Header.Set("X-Trace-Bin", "not base64!")
	c.Req.Header.Set("Grpc-Timeout", "100m")
	if err := in.Access(c); err != nil {
		t.Fatal(err)
	}
	if c.Method != http.MethodPost || c.Path != "/demo.v1.UserService/CreateUser" || c.RawQuery != "" {
		t.Fatalf("request line %s %s ?%s", c.Method, c.Path, c.RawQuery)
	}
	h := c.Req.Header
	if h.Get("Content-Type") != "application/grpc" || h.Get("Te") != "trailers" || h.Get("Grpc-Timeout") != "100m" {
		t.Errorf("headers %v", h)
	}
	if got, err := base64.RawStdEncoding.DecodeString(h.Get("X-Trace-Bin")); err != nil || string(got) != "not base64!" {
		t.Errorf("-bin header %q", h.Get("X-Trace-Bin"))
	}
	frame, _ := io.ReadAll(c.Req.Body)
	if int64(len(frame)) != c.Req.ContentLength || len(frame) < 5 || frame[0] != 0 {
		t.Fatalf("frame % x (length %d)", frame, c.Req.ContentLength)
	}
	msg := frame[5:]
	name, email := fieldString(t, msg, 1), fieldString(t, msg, 2)
	if name != "Ada" || email != "ada@example.com" {
		t.Errorf("message fields %q %q", name, email)
	}
}

func fieldString(t *testing.T, msg []byte, num protowire.Number) string {
	t.Helper()
	for len(msg) > 0 {
		n, typ, l := protowire.ConsumeTag(msg)
		if l < 0 {
			t.Fatal("bad tag")
		}
		msg = msg[l:]
		if typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(msg)
			if n == num {
				return string(v)
			}
			msg = msg[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, msg)
		msg = msg[l:]
	}
	return ""
}

// The client's mistakes and unmapped calls get their own answers.
func TestAccessRefusals(t *testing.T) {
	in := testInstance(t)
	for _, tc := range []struct {
		method, target, body string
		hdr                  map[string]string
		status               int
	}{
		{http.MethodGet, "/v1/nothing", "", nil, http.StatusNotFound},
		{http.MethodDelete, "/v1/users/1", "", nil, http.StatusNotFound},
		{http.MethodPost, "/v1/users", `{"name":`, nil, http.StatusBadRequest},
		{http.MethodPost, "/v1/users", `{"nope":1}`, nil, http.StatusBadRequest},
		{http.MethodPost, "/v1/users", `{"name":"` + strings.Repeat("a", 5<<20) + `"}`, nil, http.StatusRequestEntityTooLarge},
		{http.MethodPost, "/v1/users:upload", `{}`, nil, http.StatusNotImplemented},
		{http.MethodGet, "/v1/users/1", "", map[string]string{"Grpc-Timeout": "soon"}, http.StatusBadRequest},
		{http.MethodOptions, "/v1/users/1", "", nil, http.StatusOK},
	} {
		c := newCtx(tc.method, tc.target, strings.NewReader(tc.body), "/v1")
		for k, v := range tc.hdr {
			c.Req.Header.Set(k, v)
		}
		var e *plugin.Exit
		if err := in.Access(c); !errors.As(err, &e) || e.Status != tc.status {
			t.Errorf("%s %s %.20q: %v, want %d", tc.method, tc.target, tc.body, err, tc.status)
		}
	}
	// A native gRPC call passes untouched.
	c := newCtx(http.MethodPost, "/demo.v1.UserService/GetUser", strings.NewReader("\x00\x00\x00\x00\x00"), "/")
	c.Req.Header.Set("Content-Type", "application/grpc+proto")
	if err := in.Access(c); err != nil || c.Path != "/demo.v1.UserService/GetUser" || c.Shared != nil {
		t.Errorf("native gRPC: %v %s", err, c.Path)
	}
}

// user is a User message's wire form.
func user(id, name string) []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendString(b, id)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendString(b, name)
}

// respond runs the response side of a transcoded call over an upstream
// answer of the given head, frames and trailer, and returns what the
// client gets.
func respond(t *testing.T, in *instance, c *plugin.Ctx, head, trailer http.Header, frames ...[]byte) (int, http.Header, string) {
	t.Helper()
	c.Resp.Status, c.Resp.FromUpstream = http.StatusOK, true
	for k, v := range head {
		c.Resp.Header[k] = v
	}
	var body []byte
	for _, f := range frames {
		body = transcode.AppendFrame(body, false, f)
	}
	in.HeaderFilter(c)
	up := &trailerAtEOF{r: bytes.NewReader(body), c: c, trailer: trailer}
	out, err := io.ReadAll(in.BodyFilter(c, up))
	if err != nil {
		t.Fatal(err)
	}
	return c.Resp.Status, c.Resp.Header, string(out)
}

// trailerAtEOF sets the trailer as the proxy does, when the end is read.
type trailerAtEOF struct {
	r       io.Reader
	c       *plugin.Ctx
	trailer http.Header
}

func (u *trailerAtEOF) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if err == io.EOF {
		u.c.Resp.Trailer = u.trailer
	}
	return n, err
}

func accessed(t *testing.T, in *instance, method, target, accept string) *plugin.Ctx {
	t.Helper()
	c := newCtx(method, target, nil, "/v1")
	c.Req.Header.Set("Accept", accept)
	if err := in.Access(c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUnaryAnswers(t *testing.T) {
	in := testInstance(t)
	c := accessed(t, in, http.MethodGet, "/v1/users/1", "")
	status, h, body := respond(t, in, c, http.Header{"Content-Type": {"application/grpc"}, "X-Region": {"eu"}},
		http.Header{"Grpc-Status": {"0"}, "X-Served-By": {"a"}}, user("1", "Ada"))
	if status != 200 || body != `{"id":"1","name":"Ada"}` || h.Get("Content-Type") != "application/json" ||
		h.Get("Content-Length") != "23" || h.Get("Grpc-Metadata-X-Region") != "eu" || h.Get("Grpc-Metadata-X-Served-By") != "a" ||
		h.Get("X-Region") != "" || c.Resp.Trailer != nil {
		t.Errorf("ok: %d %v %s", status, h, body)
	}

	// Trailers-only: the status is in the head.
	c = accessed(t, in, http.MethodGet, "/v1/users/404", "")
	status, h, body = respond(t, in, c, http.Header{"Grpc-Status": {"5"}, "Grpc-Message": {"no user %2242%22"}}, nil)
	if status != 404 || body != `{"code":5,"message":"no user \"42\"","details":[]}` || h.Get("Grpc-Status") != "" {
		t.Errorf("not found: %d %v %s", status, h, body)
	}

	// Garbage from the upstream is a 502, not a panic.
	c = accessed(t, in, http.MethodGet, "/v1/users/1", "")
	c.Resp.Status, c.Resp.FromUpstream = 200, true
	in.HeaderFilter(c)
	out, _ := io.ReadAll(in.BodyFilter(c, strings.NewReader("\x00\xff\xff\xff\xffxx")))
	if c.Resp.Status != http.StatusBadGateway || !strings.Contains(string(out), `"code":13`) {
		t.Errorf("garbage: %d %s", c.Resp.Status, out)
	}

	// A compressed message was never invited and cannot be read.
	c = accessed(t, in, http.MethodGet, "/v1/users/1", "")
	c.Resp.Status, c.Resp.FromUpstream = 200, true
	in.HeaderFilter(c)
	frame := transcode.AppendFrame(nil, true, user("1", "Ada"))
	out, _ = io.ReadAll(in.BodyFilter(c, bytes.NewReader(frame)))
	if c.Resp.Status != http.StatusBadGateway || strings.Contains(string(out), "Ada") {
		t.Errorf("compressed: %d %s", c.Resp.Status, out)
	}
}

func TestServerStreamingAnswers(t *testing.T) {
	in := testInstance(t)
	c := accessed(t, in, http.MethodGet, "/v1/users?page_size=2", "")
	status, h, body := respond(t, in, c, nil, http.Header{"Grpc-Status": {"0"}}, user("1", "Ada"), user("2", "Bob"))
	if status != 200 || h.Get("Content-Type") != "application/x-ndjson" || body != "{\"id\":\"1\",\"name\":\"Ada\"}\n{\"id\":\"2\",\"name\":\"Bob\"}\n" {
		t.Errorf("ndjson: %d %v %q", status, h, body)
	}
	c = accessed(t, in, http.MethodGet, "/v1/users", "text/event-stream")
	status, h, body = respond(t, in, c, nil, http.Header{"Grpc-Status": {"14"}, "Grpc-Message": {"gone"}}, user("1", "Ada"))
	if status != 200 || h.Get("Content-Type") != "text/event-stream" ||
		body != "data: {\"id\":\"1\",\"name\":\"Ada\"}\n\ndata: {\"error\":{\"code\":14,\"message\":\"gone\",\"details\":[]}}\n\n" {
		t.Errorf("sse: %d %v %q", status, h, body)
	}
	// A stream that fails before its first message answers with the status.
	c = accessed(t, in, http.MethodGet, "/v1/users", "")
	status, _, body = respond(t, in, c, http.Header{"Grpc-Status": {"7"}, "Grpc-Message": {"no"}}, nil)
	if status != 403 || body != `{"code":7,"message":"no","details":[]}` {
		t.Errorf("refused stream: %d %q", status, body)
	}
}

// The gateway's own failures of a transcoded call are answered in the
// call's JSON error shape; upstream answers and other calls are left alone.
func TestFallbackRendersGatewayErrors(t *testing.T) {
	in := testInstance(t)
	c := accessed(t, in, http.MethodGet, "/v1/users/1", "")
	for status, want := range map[int]string{
		http.StatusGatewayTimeout:     `{"code":4,"message":"the upstream did not answer in time","details":[]}`,
		http.StatusBadGateway:         `{"code":14,"message":"the upstream is unavailable","details":[]}`,
		http.StatusServiceUnavailable: `{"code":14,"message":"the upstream is unavailable","details":[]}`,
	} {
		c.Resp.Status, c.Resp.FromUpstream = status, false
		e := in.Fallback(c)
		if e == nil || e.Status != status || string(e.Body) != want || e.ContentType != "application/json" {
			t.Errorf("%d: %+v", status, e)
		}
	}
	c.Resp.Status, c.Resp.FromUpstream = http.StatusBadGateway, true
	if e := in.Fallback(c); e != nil {
		t.Errorf("the upstream's own 502 replaced: %+v", e)
	}
	plain := newCtx(http.MethodGet, "/v1/users/1", nil, "/v1")
	plain.Resp.Status = http.StatusBadGateway
	if e := in.Fallback(plain); e != nil {
		t.Errorf("a call Access did not transcode: %+v", e)
	}
}
