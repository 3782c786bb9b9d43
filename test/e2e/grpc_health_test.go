package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// healthTarget is a real grpc-go server with the standard health service.
// It names itself in an x-upstream response header and counts the calls
// the gateway proxied apart from the gateway's own health probes.
type healthTarget struct {
	name   string
	addr   string
	health *health.Server
	calls  atomic.Int64
	probes atomic.Int64
}

func startHealthTarget(t *testing.T, name string) *healthTarget {
	t.Helper()
	h := &healthTarget{name: name, health: health.NewServer()}
	h.health.SetServingStatus(grpcService, healthpb.HealthCheckResponse_SERVING)
	h.addr, _ = serveHealth(t, h.health, grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo,
		handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		if strings.HasPrefix(strings.Join(md.Get("user-agent"), ","), "turnpike-healthcheck") {
			h.probes.Add(1)
		} else {
			h.calls.Add(1)
			grpc.SetHeader(ctx, metadata.Pairs("x-upstream", h.name))
		}
		return handler(ctx, req)
	}))
	return h
}

// callsBy makes n calls through the gateway and counts them by the
// upstream that answered.
func callsBy(t *testing.T, client healthpb.HealthClient, n int) map[string]int {
	t.Helper()
	by := map[string]int{}
	for range n {
		var hdr metadata.MD
		_, err := client.Check(grpcCtx(t), &healthpb.HealthCheckRequest{Service: grpcService}, grpc.Header(&hdr))
		if err != nil {
			by["error: "+err.Error()]++
			continue
		}
		by[strings.Join(hdr.Get("x-upstream"), ",")]++
	}
	return by
}

// An active gRPC health check (grpc.health.v1.Health/Check of the server
// as a whole) ejects a target whose server reports NOT_SERVING, so gRPC
// calls stop going to it, and brings it back once it reports SERVING.
func TestGrpcHealthCheckActive(t *testing.T) {
	a, b := startHealthTarget(t, "a"), startHealthTarget(t, "b")
	const interval = 250 * time.Millisecond
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: s
  url: grpc://backend
  retries: 0
  routes: [{protocols: [grpc], paths: [/grpc.health.v1.Health/]}]
upstreams:
- name: backend
  healthchecks:
    active:
      type: grpc
      timeout: 2 # generous: a probe timing out on a busy machine would eject a serving target
      healthy: {interval: 0.25, successes: 1}
      unhealthy: {interval: 0.25, tcp_failures: 1, http_failures: 1, timeouts: 1}
  targets:
  - target: %s
  - target: %s
`, a.addr, b.addr), gwtest.Options{ProxyListen: "127.0.0.1:0 http2", Args: []string{"--access-log", "off"}})
	client := grpcDial(t, gw.URL, insecure.NewCredentials())
	// Two intervals, plus the probe timeout and the admin polling.
	const within = 2*interval + 2*time.Second + 100*time.Millisecond

	waitUntil(t, "b probed", func() bool { return b.probes.Load() > 0 })
	if by := callsBy(t, client, 10); by["a"] != 5 || by["b"] != 5 {
		t.Fatalf("both serving: calls by upstream %v", by)
	}

	b.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	th, took := waitHealth(t, gw, "backend", b.addr, "UNHEALTHY", within)
	t.Logf("NOT_SERVING: ejected after %v: %s", took, th.Reason)
	if !strings.Contains(th.Reason, "NOT_SERVING") {
		t.Errorf("ejection reason %q, want it to name NOT_SERVING", th.Reason)
	}
	before := b.calls.Load()
	if by := callsBy(t, client, 20); by["a"] != 20 {
		t.Errorf("b ejected: calls by upstream %v, want all on a", by)
	}
	if n := b.calls.Load() - before; n != 0 {
		t.Errorf("the ejected target got %d calls", n)
	}

	b.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	th, took = waitHealth(t, gw, "backend", b.addr, "HEALTHY", within)
	t.Logf("SERVING: restored after %v: %s", took, th.Reason)
	if by := callsBy(t, client, 10); by["a"] != 5 || by["b"] != 5 {
		t.Errorf("b restored: calls by upstream %v, want half on each", by)
	}
	if th := upstreamHealth(t, gw, "backend")[a.addr]; th.Health != "HEALTHY" {
		t.Errorf("a: %+v", th)
	}
}
