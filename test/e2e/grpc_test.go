package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// grpcService is the name the test upstreams report as SERVING.
const grpcService = "turnpike.test"

// grpcUpstream is a real grpc-go server with the standard health service on
// loopback (cleartext HTTP/2). Its unary interceptor records the metadata of
// every call and sets a response header and a trailer, so tests can see
// both pass through the gateway.
type grpcUpstream struct {
	Addr   string
	Health *health.Server

	mu sync.Mutex
	md []metadata.MD
}

func startGrpcUpstream(t *testing.T) *grpcUpstream {
	t.Helper()
	u := &grpcUpstream{Health: health.NewServer()}
	u.Health.SetServingStatus(grpcService, healthpb.HealthCheckResponse_SERVING)
	u.Addr, _ = serveHealth(t, u.Health, grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo,
		handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		u.mu.Lock()
		u.md = append(u.md, md.Copy())
		u.mu.Unlock()
		grpc.SetHeader(ctx, metadata.Pairs("x-upstream", "health"))
		grpc.SetTrailer(ctx, metadata.Pairs("x-upstream-trailer", info.FullMethod))
		return handler(ctx, req)
	}))
	return u
}

// serveHealth serves hs, grpc-go's health service, with opts on a
// loopback port until the test ends; it returns the address and server.
func serveHealth(t *testing.T, hs *health.Server, opts ...grpc.ServerOption) (string, *grpc.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), srv
}

// calls returns the metadata of the unary calls seen so far.
func (u *grpcUpstream) calls() []metadata.MD {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]metadata.MD(nil), u.md...)
}

// grpcConfig is a gateway config with one grpc service for the health API.
func grpcConfig(upstreamAddr, protocol string) string {
	return fmt.Sprintf(`
_format_version: "3.0"
services:
- name: health
  url: grpc://%s
  routes:
  - name: health
    protocols: [%s]
    paths: [/grpc.health.v1.Health/]
`, upstreamAddr, protocol)
}

// grpcDial opens a client connection to the gateway's proxy listener.
func grpcDial(t *testing.T, gwURL string, creds credentials.TransportCredentials) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(gwURL, "http://"),
		grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func grpcCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Unary calls through an h2c listener: the response, the upstream's header
// and trailer, and an error status with its message all arrive intact.
func TestGrpcUnaryThroughGateway(t *testing.T) {
	up := startGrpcUpstream(t)
	gw := gwtest.Start(t, grpcConfig(up.Addr, "grpc"), gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
	client := grpcDial(t, gw.URL, insecure.NewCredentials())
	ctx := grpcCtx(t)

	var hdr, trl metadata.MD
	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: grpcService}, grpc.Header(&hdr), grpc.Trailer(&trl))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("Check status %v, want SERVING", resp.GetStatus())
	}
	if got := strings.Join(hdr.Get("x-upstream"), ","); got != "health" {
		t.Errorf("upstream response header x-upstream = %q; headers %v", got, hdr)
	}
	if got := strings.Join(hdr.Get("via"), ","); !strings.Contains(got, "turnpike/") {
		t.Errorf("response via = %q", got)
	}
	if id := strings.Join(hdr.Get("x-request-id"), ","); len(id) != 32 {
		t.Errorf("response x-request-id = %q", id)
	}
	if got := strings.Join(trl.Get("x-upstream-trailer"), ","); got != "/grpc.health.v1.Health/Check" {
		t.Errorf("upstream trailer x-upstream-trailer = %q; trailers %v", got, trl)
	}

	// The overall server status ("") is SERVING by default.
	if resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf(`Check(""): %v %v`, resp.GetStatus(), err)
	}

	// An error status is a trailers-only response from the upstream.
	trl = nil
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.service"}, grpc.Trailer(&trl))
	st, _ := status.FromError(err)
	if st.Code() != codes.NotFound || st.Message() != "unknown service" {
		t.Errorf("unknown service: got %v %q, want NotFound %q", st.Code(), st.Message(), "unknown service")
	}
	if got := strings.Join(trl.Get("x-upstream-trailer"), ","); got != "/grpc.health.v1.Health/Check" {
		t.Errorf("error trailer x-upstream-trailer = %q; trailers %v", got, trl)
	}
	if n := len(up.calls()); n != 3 {
		t.Errorf("upstream saw %d unary calls, want 3", n)
	}

	lines := gw.AccessLog(3)
	if len(lines) != 3 {
		t.Fatalf("access log lines: %d\n%s", len(lines), gw.Stdout())
	}
	for _, l := range lines {
		if l["status"] != float64(200) || l["route"] != "health" || l["service"] != "health" {
			t.Errorf("access log line: %v", l)
		}
	}
}

// A server stream is relayed as it is produced: a status change made on the
// upstream reaches the client through the gateway right away.
func TestGrpcServerStreamingWatch(t *testing.T) {
	up := startGrpcUpstream(t)
	gw := gwtest.Start(t, grpcConfig(up.Addr, "grpc"), gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
	client := grpcDial(t, gw.URL, insecure.NewCredentials())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: grpcService})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	type result struct {
		st  healthpb.HealthCheckResponse_ServingStatus
		err error
	}
	updates := make(chan result, 8)
	go func() {
		for {
			resp, err := stream.Recv()
			updates <- result{resp.GetStatus(), err}
			if err != nil {
				return
			}
		}
	}()
	// next waits for the update the upstream sent at start.
	next := func(want healthpb.HealthCheckResponse_ServingStatus, start time.Time, within time.Duration) {
		t.Helper()
		select {
		case r := <-updates:
			if r.err != nil || r.st != want {
				t.Fatalf("Watch update: %v %v, want %v", r.st, r.err, want)
			}
		case <-time.After(within):
			t.Fatalf("no Watch update within %v, want %v (the stream is buffered?)", within, want)
		}
		t.Logf("%v after %v", want, time.Since(start).Round(time.Millisecond))
	}
	next(healthpb.HealthCheckResponse_SERVING, time.Now(), 5*time.Second)
	start := time.Now()
	up.Health.SetServingStatus(grpcService, healthpb.HealthCheckResponse_NOT_SERVING)
	next(healthpb.HealthCheckResponse_NOT_SERVING, start, time.Second)
	start = time.Now()
	up.Health.SetServingStatus(grpcService, healthpb.HealthCheckResponse_SERVING)
	next(healthpb.HealthCheckResponse_SERVING, start, time.Second)

	// Cancelling the call ends the stream on the client; the gateway
	// must not hold it open.
	cancel()
	select {
	case r := <-updates:
		if status.Code(r.err) != codes.Canceled {
			t.Errorf("after cancel: %v %v, want Canceled", r.st, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("stream did not end after cancel")
	}
}

// gRPC over TLS to the gateway (ALPN h2), cleartext HTTP/2 to the upstream.
func TestGrpcOverTLS(t *testing.T) {
	up := startGrpcUpstream(t)
	cert, key := selfSigned(t, "grpc.example.com")
	cfg := grpcConfig(up.Addr, "grpcs") + fmt.Sprintf(`certificates:
- cert: |
%s
  key: |
%s
  snis: [grpc.example.com]
`, indent(cert, "    "), indent(key, "    "))
	gw := gwtest.Start(t, cfg, gwtest.Options{ProxyListen: "127.0.0.1:0 ssl"})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(cert))
	client := grpcDial(t, gw.URL, credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "grpc.example.com"}))
	ctx := grpcCtx(t)

	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: grpcService})
	if err != nil {
		t.Fatalf("Check over TLS: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("Check status %v, want SERVING", resp.GetStatus())
	}
	calls := up.calls()
	if len(calls) != 1 {
		t.Fatalf("upstream saw %d calls", len(calls))
	}
	if got := strings.Join(calls[0].Get("x-forwarded-proto"), ","); got != "https" {
		t.Errorf("upstream x-forwarded-proto = %q", got)
	}
}

// Client metadata reaches the upstream along with the gateway's own
// forwarding headers.
func TestGrpcMetadataReachesUpstream(t *testing.T) {
	up := startGrpcUpstream(t)
	gw := gwtest.Start(t, grpcConfig(up.Addr, "grpc"), gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
	client := grpcDial(t, gw.URL, insecure.NewCredentials())
	ctx := metadata.AppendToOutgoingContext(grpcCtx(t),
		"x-tenant", "acme",
		"x-multi", "one", "x-multi", "two",
		"trace-bin", string([]byte{0, 1, 0xfe, 0xff}))

	var hdr metadata.MD
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: grpcService}, grpc.Header(&hdr)); err != nil {
		t.Fatalf("Check: %v", err)
	}
	calls := up.calls()
	if len(calls) != 1 {
		t.Fatalf("upstream saw %d calls", len(calls))
	}
	md := calls[0]
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	t.Logf("upstream metadata keys: %v", keys)
	checks := map[string]string{
		"x-tenant":          "acme",
		"x-multi":           "one,two",
		"trace-bin":         string([]byte{0, 1, 0xfe, 0xff}),
		"x-forwarded-for":   "127.0.0.1",
		"x-forwarded-proto": "http",
		"x-real-ip":         "127.0.0.1",
	}
	for k, want := range checks {
		if got := strings.Join(md.Get(k), ","); got != want {
			t.Errorf("upstream %s = %q, want %q", k, got, want)
		}
	}
	id := strings.Join(md.Get("x-request-id"), ",")
	if len(id) != 32 || strings.Join(hdr.Get("x-request-id"), ",") != id {
		t.Errorf("x-request-id upstream %q, downstream %q", id, hdr.Get("x-request-id"))
	}
	if got := strings.Join(md.Get("user-agent"), ","); !strings.Contains(got, "grpc-go/") {
		t.Errorf("upstream user-agent = %q", got)
	}
}

// A grpc-only route refuses HTTP/1.1 with Kong's 426.
func TestGrpcRouteRejectsHTTP1(t *testing.T) {
	up := startGrpcUpstream(t)
	gw := gwtest.Start(t, grpcConfig(up.Addr, "grpc"), gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})

	resp, body := gw.Get("/grpc.health.v1.Health/Check")
	if resp.ProtoMajor != 1 {
		t.Fatalf("request went over %s, want HTTP/1.1", resp.Proto)
	}
	id := resp.Header.Get("X-Request-Id")
	want := "{\n  \"message\":\"Please use HTTP2 protocol\",\n  \"request_id\":\"" + id + "\"\n}"
	if resp.StatusCode != http.StatusUpgradeRequired || body != want {
		t.Errorf("got %d %q, want 426 %q", resp.StatusCode, body, want)
	}
	if got := resp.Header.Get("Upgrade"); got != "HTTP/2" {
		t.Errorf("Upgrade header %q", got)
	}

	// A gRPC-framed request over HTTP/1.1 gets the same refusal, with the
	// message in the gRPC headers.
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/grpc.health.v1.Health/Check", bytes.NewReader(make([]byte, 5)))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	resp, body = gwtest.Do(t, req)
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Grpc-Message") != "Please use HTTP2 protocol" {
		t.Errorf("grpc over HTTP/1.1: %d %q headers %v", resp.StatusCode, body, resp.Header)
	}
	if n := len(up.calls()); n != 0 {
		t.Errorf("upstream saw %d calls", n)
	}
}

// With nothing listening at the upstream, the client gets Unavailable from
// the gateway's 502, sent as gRPC's trailers-only response.
func TestGrpcUpstreamDown(t *testing.T) {
	dead := deadAddr(t)
	gw := gwtest.Start(t, grpcConfig(dead, "grpc"), gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
	client := grpcDial(t, gw.URL, insecure.NewCredentials())

	var hdr metadata.MD
	_, err := client.Check(grpcCtx(t), &healthpb.HealthCheckRequest{Service: grpcService}, grpc.Header(&hdr))
	st, _ := status.FromError(err)
	t.Logf("client sees: %v %q", st.Code(), st.Message())
	if st.Code() != codes.Unavailable {
		t.Errorf("code %v (%q), want Unavailable", st.Code(), st.Message())
	}
	if st.Message() != "An invalid response was received from the upstream server" {
		t.Errorf("message %q", st.Message())
	}

	// What the gateway sends on the wire, read with a plain h2c client.
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/grpc.health.v1.Health/Check", bytes.NewReader(make([]byte, 5)))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("wire: %s %d headers %v body %q", resp.Proto, resp.StatusCode, resp.Header, body)
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		t.Errorf("got %s %d, want HTTP/2.0 200", resp.Proto, resp.StatusCode)
	}
	if resp.Header.Get("Grpc-Status") != "14" || resp.Header.Get("Content-Type") != "application/grpc" ||
		resp.Header.Get("Grpc-Message") != "An invalid response was received from the upstream server" {
		t.Errorf("gRPC error headers: %v", resp.Header)
	}
	if len(body) != 0 {
		t.Errorf("body %q, want none", body)
	}
}
