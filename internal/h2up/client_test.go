package h2up

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/grpcdemo"
)

func newTestClient() *Client {
	return New(Config{ConnectTimeout: 2 * time.Second, WriteTimeout: 5 * time.Second})
}

func startDemoT(t *testing.T) *grpcdemo.Server {
	t.Helper()
	srv, err := grpcdemo.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// listStepped is ListUsersRequest{step: true}: each message after the
// first waits for grpcdemo.Server.Step.
var listStepped = []byte{0x28, 1}

// grpcCall is a unary gRPC request for method with message msg (unframed).
func grpcCall(addr, method string, msg []byte, hdr http.Header) *Request {
	h := http.Header{"Content-Type": {"application/grpc"}, "Te": {"trailers"}}
	for k, vs := range hdr {
		h[k] = vs
	}
	body := append([]byte{0, 0, 0, 0, byte(len(msg))}, msg...)
	return &Request{Addr: addr, Method: "POST", Scheme: "http", Authority: "users", Path: method,
		Header: h, Body: body, HeadTimeout: 5 * time.Second}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return b
}

// TestUnaryRealServer calls the real grpc-go demo server: the answer,
// its metadata (header and trailer) and an error status with details.
func TestUnaryRealServer(t *testing.T) {
	srv := startDemoT(t)
	c := newTestClient()
	defer c.CloseIdle()
	ctx := context.Background()
	resp, err := c.RoundTrip(ctx, grpcCall(srv.Addr(), getUserPath, []byte{0x0a, 1, '1'}, http.Header{"X-Echo-Color": {"blue"}}))
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/grpc" || resp.Header.Get("X-Echo-Color") != "blue" {
		t.Fatalf("head %d %v", resp.StatusCode, resp.Header)
	}
	if len(body) < 5 || !strings.Contains(string(body), "alice@example.com") {
		t.Fatalf("body %q", body)
	}
	if resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("X-Echo-Trailer-Color") != "blue" {
		t.Fatalf("trailer %v", resp.Trailer)
	}
	resp, err = c.RoundTrip(ctx, grpcCall(srv.Addr(), getUserPath, []byte{0x0a, 2, '9', '9'}, nil))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	// A trailers-only answer: the status is in the head, as net/http has it.
	if resp.Header.Get("Grpc-Status") != "5" || resp.Header.Get("Grpc-Status-Details-Bin") == "" || resp.Body != http.NoBody {
		t.Fatalf("not found: head %v", resp.Header)
	}
}

// TestServerStreamReadsEachMessage reads a server-streaming answer message
// by message, before the server sends the next.
func TestServerStreamReadsEachMessage(t *testing.T) {
	srv := startDemoT(t)
	c := newTestClient()
	defer c.CloseIdle()
	// ListUsers{step: true} waits for Step before each message.
	resp, err := c.RoundTrip(context.Background(), grpcCall(srv.Addr(), "/turnpike.demo.v1.UserService/ListUsers", listStepped, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for i := range 3 {
		if i > 0 && !srv.Step(5*time.Second) {
			t.Fatalf("message %d: the stream did not wait for a step", i)
		}
		readMessage(t, resp.Body)
	}
}

// readMessage reads one gRPC message of r.
func readMessage(t *testing.T, r io.Reader) {
	t.Helper()
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		t.Fatal(err)
	}
	n := int(head[1])<<24 | int(head[2])<<16 | int(head[3])<<8 | int(head[4])
	if _, err := io.ReadFull(r, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
}

// TestHeadTimeoutResetsStream gives up on a slow answer, and the connection
// still carries the next call.
func TestHeadTimeoutResetsStream(t *testing.T) {
	srv := startDemoT(t)
	c := newTestClient()
	defer c.CloseIdle()
	// Sleep{millis: 2000}
	r := grpcCall(srv.Addr(), "/turnpike.demo.v1.UserService/Sleep", []byte{0x08, 0xd0, 0x0f}, nil)
	r.HeadTimeout = 100 * time.Millisecond
	start := time.Now()
	if _, err := c.RoundTrip(context.Background(), r); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the head deadline", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("gave up after %v", d)
	}
	resp, err := c.RoundTrip(context.Background(), grpcCall(srv.Addr(), getUserPath, []byte{0x0a, 1, '1'}, nil))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.Trailer.Get("Grpc-Status") != "0" {
		t.Fatalf("trailer %v", resp.Trailer)
	}
	conns := c.pools[srv.Addr()].conns
	if len(conns) != 1 {
		t.Fatalf("%d connections, want the one", len(conns))
	}
	// The abandoned stream was reset and let go of.
	cn := conns[0]
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.reserved != 0 || len(cn.streams) != 0 {
		t.Fatalf("%d slots taken, %d streams open after both calls", cn.reserved, len(cn.streams))
	}
}

// TestContextEndsBodyRead: a caller that goes away stops waiting for the
// body at once.
func TestContextEndsBodyRead(t *testing.T) {
	srv := startDemoT(t)
	c := newTestClient()
	defer c.CloseIdle()
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := c.RoundTrip(ctx, grpcCall(srv.Addr(), "/turnpike.demo.v1.UserService/ListUsers", listStepped, nil))
	if err != nil {
		t.Fatal(err)
	}
	readMessage(t, resp.Body)
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := resp.Body.Read(make([]byte, 10)); !errors.Is(err, context.Canceled) {
		t.Fatalf("read: %v", err)
	}
	resp.Body.Close()
}

// TestDialErrorIsMarked: a refused connection is a DialError, which the
// proxy retries elsewhere.
func TestDialErrorIsMarked(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = newTestClient().RoundTrip(context.Background(), grpcCall(addr, getUserPath, nil, nil))
	var de *DialError
	if !errors.As(err, &de) {
		t.Fatalf("err %v (%T), want a DialError", err, err)
	}
}

// Calls that arrive while a dial to their target is under way wait for
// it, and when it fails they get its error: one dial, not one each in turn.
func TestFailedDialShared(t *testing.T) {
	var dials atomic.Int32
	release := make(chan struct{})
	c := New(Config{ConnectTimeout: 5 * time.Second, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		dials.Add(1)
		<-release
		return nil, errors.New("connection refused")
	}})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := c.RoundTrip(context.Background(), grpcCall("127.0.0.1:1", getUserPath, nil, nil))
			errs <- err
		}()
	}
	time.Sleep(200 * time.Millisecond) // let the calls queue behind the first dial
	close(release)
	for range 8 {
		var de *DialError
		if err := <-errs; !errors.As(err, &de) {
			t.Errorf("err %v, want the dial's DialError", err)
		}
	}
	// Each call dialled again in turn before (8 dials); a call scheduled
	// only after the failure may still make one of its own.
	if n := dials.Load(); n >= 8 {
		t.Errorf("%d dials for 8 calls that waited on one", n)
	}
}

// TestUnsupportedRequests are left to net/http before anything is sent.
func TestUnsupportedRequests(t *testing.T) {
	srv := startDemoT(t)
	c := newTestClient()
	defer c.CloseIdle()
	for name, r := range map[string]*Request{
		"connection header": grpcCall(srv.Addr(), getUserPath, nil, http.Header{"Connection": {"close"}}),
		"te not trailers":   grpcCall(srv.Addr(), getUserPath, nil, http.Header{"Te": {"gzip"}}),
		"body over window":  {Addr: srv.Addr(), Method: "POST", Scheme: "http", Path: getUserPath, Body: make([]byte, 70000)},
	} {
		if _, err := c.RoundTrip(context.Background(), r); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

// TestRefusedHeaderLeavesConnectionWhole: a header net/http would refuse
// is refused before anything of it is encoded, so the connection's HPACK
// table stays in step and its next call works.
func TestRefusedHeaderLeavesConnectionWhole(t *testing.T) {
	srv := startDemoT(t)
	c := newTestClient()
	defer c.CloseIdle()
	mustGetUser := func() {
		t.Helper()
		resp, err := c.RoundTrip(context.Background(), grpcCall(srv.Addr(), getUserPath, []byte{0x0a, 1, '1'}, http.Header{"X-A": {"one"}, "X-B": {"two"}}))
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if resp.Trailer.Get("Grpc-Status") != "0" {
			t.Fatalf("trailer %v", resp.Trailer)
		}
	}
	mustGetUser()
	bad := grpcCall(srv.Addr(), getUserPath, []byte{0x0a, 1, '1'}, http.Header{"X-A": {"three"}, "X-B": {"four"}, "X-C": {"five"}, "X-D": {"six"}, "X-Z": {"bad\x00value"}})
	if _, err := c.RoundTrip(context.Background(), bad); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err %v, want ErrUnsupported", err)
	}
	mustGetUser()
	if n := len(c.pools[srv.Addr()].conns); n != 1 {
		t.Fatalf("%d connections, want the one", n)
	}
}
