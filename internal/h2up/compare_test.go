package h2up

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"

	"github.com/turnpikegw/turnpike/internal/grpcdemo"
)

// getUserFrame is GetUser{id: "1"} framed as gRPC frames it.
var getUserFrame = []byte{0, 0, 0, 0, 3, 0x0a, 1, '1'}

const getUserPath = "/turnpike.demo.v1.UserService/GetUser"

// gatewayHeader is what the gateway sends upstream for a transcoded call.
func gatewayHeader() http.Header {
	return http.Header{
		"Content-Type":      {"application/grpc"},
		"Te":                {"trailers"},
		"User-Agent":        {"wrk"},
		"X-Forwarded-For":   {"127.0.0.1"},
		"X-Forwarded-Proto": {"http"},
		"X-Forwarded-Host":  {"127.0.0.1"},
		"X-Forwarded-Port":  {"18542"},
		"X-Forwarded-Path":  {"/grpc/v1/users/1"},
		"X-Real-Ip":         {"127.0.0.1"},
	}
}

func startDemo(b *testing.B) string {
	b.Helper()
	srv, err := grpcdemo.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Stop)
	return srv.Addr()
}

func netHTTPTransport() *http.Transport {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true,
		HTTP2: &http.HTTP2Config{WriteByteTimeout: 60 * time.Second}, Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return tr
}

// drain reads a response as the proxy does and checks its status.
func drain(b *testing.B, resp *http.Response, buf []byte) {
	for {
		_, err := resp.Body.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Trailer.Get("Grpc-Status") != "0" {
		b.Fatalf("status %d trailer %v", resp.StatusCode, resp.Trailer)
	}
}

// BenchmarkUnaryNetHTTPAsH2Go is net/http driven as internal/proxy/h2.go
// drove it: a context and a timer per request, a request copy.
func BenchmarkUnaryNetHTTPAsH2Go(b *testing.B) {
	addr := startDemo(b)
	tr := netHTTPTransport()
	defer tr.CloseIdleConnections()
	hdr, buf := gatewayHeader(), make([]byte, 32<<10)
	b.ReportAllocs()
	defer cpuPerOp(b)()
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		t := time.AfterFunc(60*time.Second, cancel)
		out := &http.Request{Method: "POST", URL: &url.URL{Scheme: "http", Host: addr, Opaque: getUserPath},
			Header: hdr, Body: io.NopCloser(bytes.NewReader(getUserFrame)), ContentLength: int64(len(getUserFrame)), Host: "users"}
		out = out.WithContext(ctx)
		resp, err := tr.RoundTrip(out)
		t.Stop()
		if err != nil {
			b.Fatal(err)
		}
		drain(b, resp, buf)
		cancel()
	}
}

// BenchmarkUnaryNetHTTPLean is net/http without the per-request context,
// timer and copy, and with only the headers gRPC needs.
func BenchmarkUnaryNetHTTPLean(b *testing.B) {
	addr := startDemo(b)
	tr := netHTTPTransport()
	tr.ResponseHeaderTimeout = 60 * time.Second
	defer tr.CloseIdleConnections()
	hdr := http.Header{"Content-Type": {"application/grpc"}, "Te": {"trailers"}}
	buf := make([]byte, 32<<10)
	b.ReportAllocs()
	defer cpuPerOp(b)()
	for b.Loop() {
		out := &http.Request{Method: "POST", URL: &url.URL{Scheme: "http", Host: addr, Opaque: getUserPath},
			Header: hdr, Body: io.NopCloser(bytes.NewReader(getUserFrame)), ContentLength: int64(len(getUserFrame)), Host: "users"}
		resp, err := tr.RoundTrip(out)
		if err != nil {
			b.Fatal(err)
		}
		drain(b, resp, buf)
	}
}

// rawCodec passes message bytes through grpc-go untouched.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(d []byte, v any) error {
	*v.(*[]byte) = append((*v.(*[]byte))[:0], d...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

var _ encoding.Codec = rawCodec{}

// BenchmarkUnaryGrpcGo is grpc-go's client with a raw-bytes codec.
func BenchmarkUnaryGrpcGo(b *testing.B) {
	addr := startDemo(b)
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	in, out := getUserFrame[5:], []byte(nil)
	ctx := context.Background()
	b.ReportAllocs()
	defer cpuPerOp(b)()
	for b.Loop() {
		if err := conn.Invoke(ctx, getUserPath, &in, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuPerOp reports the process's CPU time (user+system, client and server
// alike) per iteration, steadier than wall time on a busy machine.
func cpuPerOp(b *testing.B) func() {
	start := cpuNow()
	return func() { b.ReportMetric(float64(cpuNow()-start)/float64(b.N), "cpu-ns/op") }
}

func cpuNow() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkUnaryLean is this package's client.
func BenchmarkUnaryLean(b *testing.B) {
	addr := startDemo(b)
	c := New(Config{ConnectTimeout: 5 * time.Second, WriteTimeout: 60 * time.Second})
	defer c.CloseIdle()
	hdr, buf := gatewayHeader(), make([]byte, 32<<10)
	ctx := context.Background()
	b.ReportAllocs()
	defer cpuPerOp(b)()
	for b.Loop() {
		resp, err := c.RoundTrip(ctx, &Request{Addr: addr, Method: "POST", Scheme: "http", Authority: "users",
			Path: getUserPath, Header: hdr, Body: getUserFrame, HeadTimeout: 60 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		drain(b, resp, buf)
	}
}

// BenchmarkUnaryLeanGRPCHeaders is this package's client sending only
// the headers grpc-go's client sends, to compare with it alone.
func BenchmarkUnaryLeanGRPCHeaders(b *testing.B) {
	addr := startDemo(b)
	c := New(Config{ConnectTimeout: 5 * time.Second, WriteTimeout: 60 * time.Second})
	defer c.CloseIdle()
	hdr := http.Header{"Content-Type": {"application/grpc"}, "Te": {"trailers"}, "User-Agent": {"grpc-go/1.85.0"}}
	buf := make([]byte, 32<<10)
	ctx := context.Background()
	b.ReportAllocs()
	defer cpuPerOp(b)()
	for b.Loop() {
		resp, err := c.RoundTrip(ctx, &Request{Addr: addr, Method: "POST", Scheme: "http", Authority: "users",
			Path: getUserPath, Header: hdr, Body: getUserFrame, HeadTimeout: 60 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		drain(b, resp, buf)
	}
}
