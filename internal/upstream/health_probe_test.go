package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// kongHealthDefaults are the checks of a healthchecks block with Kong's
// defaults (config's SetDefaults), as the snapshot compiles them.
func kongHealthDefaults() HealthCheck {
	return HealthCheck{
		Active: ActiveHealthCheck{Type: "http", Timeout: 1, Concurrency: 10, HTTPPath: "/", HTTPSVerifyCertificate: true,
			Healthy:   ActiveHealthy{HTTPStatuses: []int{200, 302}},
			Unhealthy: ActiveUnhealthy{HTTPStatuses: []int{429, 404, 500, 501, 502, 503, 504, 505}},
		},
		Passive: PassiveHealthCheck{Type: "http",
			Healthy: PassiveHealthy{HTTPStatuses: []int{200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
				300, 301, 302, 303, 304, 305, 306, 307, 308}},
			Unhealthy: PassiveUnhealthy{HTTPStatuses: []int{429, 500, 503}},
		},
	}
}

// probeOnce runs one probe of addr with cfg.
func probeOnce(t *testing.T, cfg HealthCheck, addr string, opts HealthOptions) probeResult {
	t.Helper()
	host, portS, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port := 0
	for _, ch := range portS {
		port = port*10 + int(ch-'0')
	}
	c := NewHealthChecker("up", cfg, []HealthTarget{{Host: host, Port: port, Weight: 100, State: &TargetState{}}}, nil, opts)
	defer c.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	return c.probe(ctx, c.targets[0])
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestProbeTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := kongHealthDefaults()
	cfg.Active.Type = "tcp"
	if r := probeOnce(t, cfg, ln.Addr().String(), HealthOptions{}); r.skip || r.kind != countSuccess {
		t.Errorf("listening port: %+v, want success", r)
	}
	if r := probeOnce(t, cfg, deadAddr(t), HealthOptions{}); r.kind != countTCP || !strings.Contains(r.detail, "refused") {
		t.Errorf("closed port: %+v, want a TCP failure (connection refused)", r)
	}
}

func TestProbeHTTP(t *testing.T) {
	var mu sync.Mutex
	var seen *http.Request
	status := 200
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		mu.Lock()
		seen = r
		st := status
		mu.Unlock()
		w.WriteHeader(st)
	}))
	defer srv.Close()
	defer close(release)
	setStatus := func(s int) {
		mu.Lock()
		status = s
		mu.Unlock()
	}

	cfg := kongHealthDefaults()
	cfg.Active.HTTPPath = "/status"
	cfg.Active.Headers = map[string][]string{"X-Probe": {"a", "b"}}
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, tt := range []struct {
		status int
		want   probeResult
	}{
		{200, probeResult{kind: countSuccess, detail: "200"}},
		{302, probeResult{kind: countSuccess, detail: "302"}},
		{503, probeResult{kind: countHTTP, detail: "503"}},
		{404, probeResult{kind: countHTTP, detail: "404"}},
		{418, probeResult{skip: true}},
	} {
		setStatus(tt.status)
		if got := probeOnce(t, cfg, addr, HealthOptions{}); got != tt.want {
			t.Errorf("status %d: %+v, want %+v", tt.status, got, tt.want)
		}
	}
	mu.Lock()
	if seen.URL.Path != "/status" || seen.Method != http.MethodGet || seen.Host != "127.0.0.1" ||
		strings.Join(seen.Header["X-Probe"], ",") != "a,b" || seen.ProtoMinor != 0 {
		t.Errorf("probe request: %s %s %s host %q headers %v", seen.Method, seen.URL.Path, seen.Proto, seen.Host, seen.Header)
	}
	mu.Unlock()

	// A server that accepts and never answers is a timeout.
	cfg.Active.HTTPPath = "/hang"
	cfg.Active.Timeout = 0.2
	start := time.Now()
	if r := probeOnce(t, cfg, addr, HealthOptions{}); r.kind != countTimeout {
		t.Errorf("hanging server: %+v, want a timeout", r)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}
	if r := probeOnce(t, cfg, deadAddr(t), HealthOptions{}); r.kind != countTCP {
		t.Errorf("refused: %+v, want a TCP failure", r)
	}
}

func TestProbeHTTPS(t *testing.T) {
	var mu sync.Mutex
	var sni string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sni = r.TLS.ServerName
		mu.Unlock()
	}))
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	addr := strings.TrimPrefix(srv.URL, "https://")

	cfg := kongHealthDefaults()
	cfg.Active.Type = "https"
	// httptest's certificate is for example.com and 127.0.0.1.
	cfg.Active.HTTPSSNI = "example.com"
	if r := probeOnce(t, cfg, addr, HealthOptions{RootCAs: roots}); r.kind != countSuccess {
		t.Errorf("verified: %+v, want success", r)
	}
	mu.Lock()
	if sni != "example.com" {
		t.Errorf("SNI %q, want https_sni", sni)
	}
	mu.Unlock()
	// Unknown issuer: the handshake fails, a TCP failure (as Kong counts it).
	if r := probeOnce(t, cfg, addr, HealthOptions{}); r.kind != countTCP {
		t.Errorf("unverifiable certificate: %+v, want a TCP failure", r)
	}
	cfg.Active.HTTPSSNI = "wrong.test"
	if r := probeOnce(t, cfg, addr, HealthOptions{RootCAs: roots}); r.kind != countTCP {
		t.Errorf("name mismatch: %+v, want a TCP failure", r)
	}
	cfg.Active.HTTPSVerifyCertificate = false
	if r := probeOnce(t, cfg, addr, HealthOptions{}); r.kind != countSuccess {
		t.Errorf("https_verify_certificate false: %+v, want success", r)
	}
}

func startHealthServer(t *testing.T, tlsConf *tls.Config) (*health.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if tlsConf != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConf)))
	}
	s := grpc.NewServer(opts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ln)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return hs, ln.Addr().String()
}

func TestProbeGRPC(t *testing.T) {
	hs, addr := startHealthServer(t, nil)
	cfg := kongHealthDefaults()
	cfg.Active.Type = "grpc"
	if r := probeOnce(t, cfg, addr, HealthOptions{}); r.kind != countSuccess {
		t.Errorf("serving: %+v, want success", r)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if r := probeOnce(t, cfg, addr, HealthOptions{}); r.kind != countHTTP || r.detail != "gRPC NOT_SERVING" {
		t.Errorf("not serving: %+v, want an HTTP failure", r)
	}
	if r := probeOnce(t, cfg, deadAddr(t), HealthOptions{}); r.kind != countTCP {
		t.Errorf("refused: %+v, want a TCP failure", r)
	}

	// grpcs with a verified certificate.
	tlsSrv := httptest.NewUnstartedServer(nil)
	tlsSrv.StartTLS()
	cert := tlsSrv.TLS.Certificates[0]
	roots := x509.NewCertPool()
	roots.AddCert(tlsSrv.Certificate())
	tlsSrv.Close()
	_, saddr := startHealthServer(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	cfg.Active.Type = "grpcs"
	if r := probeOnce(t, cfg, saddr, HealthOptions{RootCAs: roots}); r.kind != countSuccess {
		t.Errorf("grpcs: %+v, want success", r)
	}
	if r := probeOnce(t, cfg, saddr, HealthOptions{}); r.kind == countSuccess {
		t.Errorf("grpcs with an unknown issuer succeeded")
	}
}
