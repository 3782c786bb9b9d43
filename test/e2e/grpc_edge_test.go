package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// slowService is the health service name the edge upstream answers only
// after slowDelay, so that the gateway's read_timeout fires first.
const (
	slowService = "slow"
	slowDelay   = 3 * time.Second
)

// startSlowGrpcUpstream is a grpc-go health server that holds calls for
// slowService before answering.
func startSlowGrpcUpstream(t *testing.T) string {
	t.Helper()
	hs := health.NewServer()
	hs.SetServingStatus(grpcService, healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(slowService, healthpb.HealthCheckResponse_SERVING)
	addr, _ := serveHealth(t, hs, grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo,
		handler grpc.UnaryHandler) (any, error) {
		if r, ok := req.(*healthpb.HealthCheckRequest); ok && r.GetService() == slowService {
			select {
			case <-time.After(slowDelay):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return handler(ctx, req)
	}))
	return addr
}

// grpcEdgeConfig routes the health API by host: each host is one way the
// gateway answers a call itself.
func grpcEdgeConfig(upAddr, deadAddr string) string {
	return fmt.Sprintf(`
_format_version: "3.0"
consumers:
- username: alice
  keyauth_credentials: [{key: alice-key}]
  acls: [{group: users}]
services:
- name: health
  url: grpc://%[1]s
  read_timeout: 300
  routes:
  - name: open
    protocols: [grpc]
    hosts: [open.test]
  - name: keyauth
    protocols: [grpc]
    hosts: [keyauth.test]
    plugins:
    - name: key-auth
  - name: acl
    protocols: [grpc]
    hosts: [acl.test]
    plugins:
    - name: key-auth
    - name: acl
      config: {allow: [admins]}
  - name: ratelimit
    protocols: [grpc]
    hosts: [ratelimit.test]
    plugins:
    - name: rate-limiting
      config: {hour: 1, policy: local} # an hour: two calls in a row share the window
  - name: grpcs-only
    protocols: [grpcs]
    hosts: [grpcs.test]
  - name: terminated
    protocols: [grpc]
    hosts: [terminated.test]
    plugins:
    - name: request-termination
- name: down
  url: grpc://%[2]s
  routes:
  - name: down
    protocols: [grpc]
    hosts: [down.test]
routes:
- name: serviceless
  protocols: [grpc]
  hosts: [serviceless.test]
`, upAddr, deadAddr)
}

// edgeClient dials the gateway with host as the call's :authority.
func edgeClient(t *testing.T, gwURL, host string) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(gwURL, "http://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority(host))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// A grpc-go client through the gateway gets each of the gateway's own
// answers as a gRPC status with Kong's code and message, and the access log
// keeps the HTTP status the gateway decided, as Kong's log does.
func TestGrpcEdgeErrors(t *testing.T) {
	up := startSlowGrpcUpstream(t)
	gw := gwtest.Start(t, grpcEdgeConfig(up, deadAddr(t)), gwtest.Options{ProxyListen: "127.0.0.1:0 http2",
		Args: []string{"--client-max-body-size", "256"}})

	cases := []struct {
		name, host, service string
		md                  []string
		code                codes.Code
		msg                 string
		logStatus           int
		trailer             map[string]string
	}{
		{name: "served", host: "open.test", service: grpcService, code: codes.OK, logStatus: 200},
		{name: "no route", host: "nowhere.test", code: codes.NotFound, msg: "no Route matched with those values", logStatus: 404},
		{name: "no service", host: "serviceless.test", code: codes.Unavailable, msg: "no Service found with those values", logStatus: 503},
		{name: "key missing", host: "keyauth.test", code: codes.Unauthenticated, msg: "No API key found in request", logStatus: 401},
		{name: "key wrong", host: "keyauth.test", md: []string{"apikey", "nope"}, code: codes.Unauthenticated,
			msg: "Unauthorized", logStatus: 401},
		{name: "key good", host: "keyauth.test", md: []string{"apikey", "alice-key"}, service: grpcService, code: codes.OK, logStatus: 200},
		{name: "acl", host: "acl.test", md: []string{"apikey", "alice-key"}, code: codes.PermissionDenied,
			msg: "You cannot consume this service", logStatus: 403},
		{name: "under the limit", host: "ratelimit.test", service: grpcService, code: codes.OK, logStatus: 200},
		{name: "over the limit", host: "ratelimit.test", code: codes.ResourceExhausted, msg: "API rate limit exceeded",
			logStatus: 429, trailer: map[string]string{"ratelimit-remaining": "0", "x-ratelimit-limit-hour": "1"}},
		{name: "grpcs route over h2c", host: "grpcs.test", code: codes.Canceled, msg: "gRPC request matched gRPCs route", logStatus: 200},
		{name: "terminated", host: "terminated.test", code: codes.Unavailable, msg: "Service unavailable", logStatus: 503},
		{name: "upstream down", host: "down.test", code: codes.Unavailable,
			msg: "An invalid response was received from the upstream server", logStatus: 502},
		{name: "upstream timeout", host: "open.test", service: slowService, code: codes.DeadlineExceeded,
			msg: "The upstream server is timing out", logStatus: 504},
		{name: "body too large", host: "open.test", service: strings.Repeat("x", 300), code: codes.InvalidArgument,
			msg: "Payload too large", logStatus: 413},
	}
	for _, c := range cases {
		client := edgeClient(t, gw.URL, c.host)
		ctx := metadata.AppendToOutgoingContext(grpcCtx(t), c.md...)
		var trl metadata.MD
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: c.service}, grpc.Trailer(&trl))
		st := status.Convert(err)
		if st.Code() != c.code || st.Message() != c.msg {
			t.Errorf("%s: got %v %q, want %v %q", c.name, st.Code(), st.Message(), c.code, c.msg)
		}
		for k, want := range c.trailer {
			if got := strings.Join(trl.Get(k), ","); got != want {
				t.Errorf("%s: %s = %q, want %q (metadata %v)", c.name, k, got, want, trl)
			}
		}
		if c.code == codes.ResourceExhausted && len(trl.Get("retry-after")) == 0 {
			t.Errorf("%s: no retry-after in %v", c.name, trl)
		}
	}

	lines := gw.AccessLog(len(cases))
	if len(lines) != len(cases) {
		t.Fatalf("access log lines: %d, want %d\n%s", len(lines), len(cases), gw.Stdout())
	}
	for i, c := range cases {
		if got := lines[i]["status"]; got != float64(c.logStatus) {
			t.Errorf("%s: access log status %v, want %d", c.name, got, c.logStatus)
		}
	}
}

// On the wire the gateway's answer to a gRPC call is a trailers-only
// response: HTTP 200, gRPC's Content-Type, the status in the headers and no
// body, what any gRPC client reads as the call's status. Plain HTTP/2 and
// HTTP/1.1 clients keep the HTTP answer.
func TestGrpcEdgeWire(t *testing.T) {
	up := startSlowGrpcUpstream(t)
	gw := gwtest.Start(t, grpcEdgeConfig(up, deadAddr(t)), gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
	h2c := gwtest.H2CClient(t)
	call := func(client *http.Client, host, ct string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/grpc.health.v1.Health/Check", bytes.NewReader(make([]byte, 5)))
		req.Host = host
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Te", "trailers")
		if client == nil {
			return gwtest.Do(t, req)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp, b.String()
	}

	resp, body := call(h2c, "keyauth.test", "application/grpc")
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Type") != "application/grpc" ||
		resp.Header.Get("Grpc-Status") != "16" || resp.Header.Get("Grpc-Message") != "No API key found in request" {
		t.Errorf("gRPC call: %s %d %q %v", resp.Proto, resp.StatusCode, body, resp.Header)
	}
	if len(resp.Trailer) != 0 {
		t.Errorf("trailers after a trailers-only response: %v", resp.Trailer)
	}
	if resp.Header.Get("Www-Authenticate") == "" {
		t.Errorf("the plugin's headers are gone: %v", resp.Header)
	}

	resp, body = call(h2c, "nowhere.test", "application/json")
	if resp.StatusCode != 404 || !strings.Contains(body, "no Route matched with those values") || resp.Header.Get("Grpc-Status") != "" {
		t.Errorf("plain HTTP/2: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = call(nil, "open.test", "application/grpc")
	if resp.ProtoMajor != 1 || resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "HTTP/2" {
		t.Errorf("gRPC over HTTP/1.1: %s %d %q %v", resp.Proto, resp.StatusCode, body, resp.Header)
	}
}

// A server stream whose upstream goes away between two messages ends with
// the gateway's status in trailers (UNAVAILABLE and its message), not with
// a stream reset the client could only call INTERNAL.
func TestGrpcEdgeStreamCut(t *testing.T) {
	hs := health.NewServer()
	hs.SetServingStatus(grpcService, healthpb.HealthCheckResponse_SERVING)
	addr, srv := serveHealth(t, hs)
	gw := gwtest.Start(t, grpcConfig(addr, "grpc"), gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
	client := grpcDial(t, gw.URL, insecure.NewCredentials())

	stream, err := client.Watch(grpcCtx(t), &healthpb.HealthCheckRequest{Service: grpcService})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := stream.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first message: %v %v", r.GetStatus(), err)
	}
	srv.Stop() // closes the upstream connection under the open stream
	_, err = stream.Recv()
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || st.Message() != "An invalid response was received from the upstream server" {
		t.Errorf("after the upstream went away: %v %q, want Unavailable with the gateway's message", st.Code(), st.Message())
	}
	lines := gw.AccessLog(1)
	if len(lines) != 1 || lines[0]["status"] != float64(200) || !strings.HasPrefix(fmt.Sprint(lines[0]["error"]), "upstream body:") {
		t.Errorf("access log: %v", lines)
	}
}
