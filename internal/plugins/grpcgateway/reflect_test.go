package grpcgateway

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// h2cUpstreams reaches one real gRPC server over cleartext HTTP/2, as
// the gateway's plugin.Upstreams reaches a service's target.
type h2cUpstreams struct {
	addr  string
	tr    *http.Transport
	calls atomic.Int32
}

func (u *h2cUpstreams) RoundTrip(_ string, r *http.Request) (*http.Response, error) {
	u.calls.Add(1)
	r.URL.Scheme, r.URL.Host = "http", u.addr
	return u.tr.RoundTrip(r)
}

func grpcServer(t *testing.T, withReflection bool) *h2cUpstreams {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	if withReflection {
		reflection.Register(s)
	}
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &h2cUpstreams{addr: ln.Addr().String(), tr: tr}
}

// The descriptors of a grpc-go server come from its reflection service;
// a server without one is an error, asked of v1 and then v1alpha.
func TestFetchDescriptors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	up := grpcServer(t, true)
	set, err := fetchDescriptors(ctx, up, "svc")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := set.Method("/grpc.health.v1.Health/Check"); !ok {
		t.Error("the health service's Check is not among the descriptors")
	}
	bare := grpcServer(t, false)
	if _, err := fetchDescriptors(ctx, bare, "svc"); err == nil {
		t.Error("a server without reflection gave descriptors")
	}
	if n := bare.calls.Load(); n != 2 {
		t.Errorf("%d calls to a server without reflection, want v1 then v1alpha", n)
	}
}

// Requests arriving together share one fetch; a failed fetch is not
// repeated within retryAfter, and is repeated after it.
func TestReflectorSharesAndRetries(t *testing.T) {
	up := grpcServer(t, true)
	r := newReflector(up, discard)
	ctx := context.Background()
	done := make(chan error, 8)
	for range 8 {
		go func() { _, err := r.get(ctx, "svc"); done <- err }()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := up.calls.Load(); n != 2 {
		t.Errorf("%d reflection calls for 8 requests, want one fetch (list, then files)", n)
	}

	bare := grpcServer(t, false)
	r = newReflector(bare, discard)
	if _, err := r.get(ctx, "svc"); err == nil {
		t.Fatal("descriptors from a server without reflection")
	}
	if _, err := r.get(ctx, "svc"); err == nil || bare.calls.Load() != 2 {
		t.Errorf("second request: %v after %d calls, want the last error without a new fetch", err, bare.calls.Load())
	}
	r.entry("svc").mu.Lock()
	r.entry("svc").last = time.Now().Add(-2 * retryAfter)
	r.entry("svc").mu.Unlock()
	r.get(ctx, "svc")
	if n := bare.calls.Load(); n != 4 {
		t.Errorf("%d calls after the retry delay, want a new fetch", n)
	}
}

// A started instance fetches its services' descriptors before any
// request asks; a request then finds them in hand.
func TestStartFetchesDescriptors(t *testing.T) {
	up := grpcServer(t, true)
	c := &Config{}
	c.SetDefaults()
	inst, err := newInstance(Name, c, plugin.Env{Upstreams: up, Services: []string{"svc"}, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	in := inst.(*instance)
	in.Start()
	deadline := time.Now().Add(5 * time.Second)
	for in.reflected.entry("svc").set.Load() == nil {
		if time.Now().After(deadline) {
			t.Fatal("no descriptors fetched after Start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := in.reflected.get(context.Background(), "svc"); err != nil || up.calls.Load() != 2 {
		t.Errorf("request after Start: %v, %d calls", err, up.calls.Load())
	}
}
