package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// testPKI is a private CA and a server certificate it signed.
type testPKI struct {
	caPEM string
	leaf  tls.Certificate
}

func newTestPKI(t *testing.T, names ...string) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "turnpike test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return testPKI{
		caPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		leaf:  tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
	}
}

// testGateway is the proxy handler on a loopback server that speaks
// HTTP/1.1 and h2c, with the snapshot it serves.
type testGateway struct {
	URL  string
	Snap *snapshot.Snapshot
	// H2 is a client that talks h2c with prior knowledge.
	H2      *http.Client
	Handler *Handler
	Holder  *snapshot.Holder
	compile func(cfg string, prev *snapshot.Snapshot) *snapshot.Snapshot
}

// newTestGateway compiles cfg (with ${NAME} looked up in env); edit may
// change the parsed model before it is compiled.
func newTestGateway(t testing.TB, cfg string, env map[string]string, edit func(*config.Model)) *testGateway {
	t.Helper()
	m, err := config.Parse([]byte(cfg), config.Options{ExpandEnv: true, LookupEnv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	reg, err := plugin.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	snap, err := snapshot.Compile(m, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})})
	if err != nil {
		t.Fatal(err)
	}
	recompile := func(cfg string, prev *snapshot.Snapshot) *snapshot.Snapshot {
		m, err := config.Parse([]byte(cfg), config.Options{ExpandEnv: true, LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		}})
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(m)
		}
		s, err := snapshot.Compile(m, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools}), Previous: prev})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	holder := &snapshot.Holder{}
	holder.Store(snap)
	h := NewHandler(holder, Options{Version: "test"})
	t.Cleanup(h.Close)
	srv := httptest.NewUnstartedServer(h.Listener("http", "80"))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &testGateway{URL: srv.URL, Snap: snap, H2: &http.Client{Transport: tr, Timeout: 20 * time.Second},
		Handler: h, Holder: holder, compile: recompile}
}

// target returns the only target of the gateway's only service.
func (g *testGateway) target(t *testing.T) *upstream.Target {
	t.Helper()
	ts := g.Snap.Services[0].Balancer.Targets()
	if len(ts) != 1 {
		t.Fatalf("%d targets", len(ts))
	}
	return ts[0]
}

// waitInFlight waits for the target's in-flight count to reach want (the
// handler ends the attempt after the response is out).
func waitInFlight(t *testing.T, tg *upstream.Target, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for tg.State.InFlight() != want {
		if time.Now().After(deadline) {
			t.Fatalf("in flight %d, want %d", tg.State.InFlight(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// grpcLike sends a gRPC-shaped request and returns the response, its body
// and trailers.
func grpcLike(t *testing.T, g *testGateway) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/pkg.Svc/Call", strings.NewReader("ping"))
	req.Header.Set("Content-Type", "application/grpc")
	resp, err := g.H2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return resp, string(b)
}

// h2Upstream answers over HTTP/2 only with the SNI it saw, the request
// body, and a grpc-status trailer.
func h2Upstream(t *testing.T, cert *tls.Certificate) *httptest.Server {
	t.Helper()
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "HTTP/2 only", http.StatusHTTPVersionNotSupported)
			return
		}
		body, _ := io.ReadAll(r.Body)
		sni := ""
		if r.TLS != nil {
			sni = r.TLS.ServerName
		}
		w.Header().Set("Trailer", "Grpc-Status")
		w.Header().Set("Content-Type", "application/grpc")
		io.WriteString(w, "sni="+sni+" body="+string(body))
		w.Header().Set("Grpc-Status", "0")
	}))
	up.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	if cert != nil {
		up.EnableHTTP2 = true
		up.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
		up.StartTLS()
	} else {
		up.Config.Protocols = new(http.Protocols)
		up.Config.Protocols.SetUnencryptedHTTP2(true)
		up.Start()
	}
	t.Cleanup(up.Close)
	return up
}

const testCAID = "5f6c1f5e-4d1a-4f4e-9b55-0c1d2e3f4a5b"

// grpcsConfig is a service named by an upstream whose one target is the
// test server, so the target address (127.0.0.1:port) is not the name in
// the certificate (grpc.internal). The service is declared https, since
// the config only takes tls_verify and ca_certificates there, and turned
// into grpcs by asGrpcs.
func grpcsConfig(tlsFields string) string {
	return `
_format_version: "3.0"
ca_certificates:
- id: ` + testCAID + `
  cert: ${CA}
upstreams:
- name: grpc.internal
  targets: [{target: "${T}"}]
services:
- name: g
  protocol: https
  host: grpc.internal
  port: 443
  connect_timeout: ${CT}
  read_timeout: 30000
` + tlsFields + `
  routes: [{paths: [/], protocols: [grpc]}]
`
}

func asGrpcs(m *config.Model) { m.Services[0].Service.Protocol = "grpcs" }

func TestH2GrpcsUpstreamTLSSettings(t *testing.T) {
	pki := newTestPKI(t, "grpc.internal")
	up := h2Upstream(t, &pki.leaf)
	env := map[string]string{"CA": pki.caPEM, "T": up.Listener.Addr().String(), "CT": "2000"}

	t.Run("private CA in ca_certificates", func(t *testing.T) {
		g := newTestGateway(t, grpcsConfig("  ca_certificates: ["+testCAID+"]"), env, asGrpcs)
		for range 2 {
			resp, body := grpcLike(t, g)
			if resp.StatusCode != 200 || body != "sni=grpc.internal body=ping" || resp.Trailer.Get("Grpc-Status") != "0" {
				t.Fatalf("status %d body %q trailer %v", resp.StatusCode, body, resp.Trailer)
			}
		}
		waitInFlight(t, g.target(t), 0)
	})
	t.Run("not trusted without ca_certificates", func(t *testing.T) {
		g := newTestGateway(t, grpcsConfig(""), env, asGrpcs)
		resp, body := grpcLike(t, g)
		if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != "14" {
			t.Fatalf("status %d grpc-status %q body %q, want the 502 as 200 with UNAVAILABLE", resp.StatusCode, resp.Header.Get("Grpc-Status"), body)
		}
		waitInFlight(t, g.target(t), 0)
	})
	t.Run("tls_verify false", func(t *testing.T) {
		g := newTestGateway(t, grpcsConfig("  tls_verify: false"), env, asGrpcs)
		resp, body := grpcLike(t, g)
		if resp.StatusCode != 200 || body != "sni=grpc.internal body=ping" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	})
}

// A TLS handshake that never completes is bounded by connect_timeout, not
// by read_timeout.
func TestH2GrpcsConnectTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accepted, never answered
		}
	}()
	env := map[string]string{"CA": newTestPKI(t, "x").caPEM, "T": ln.Addr().String(), "CT": "200"}
	g := newTestGateway(t, grpcsConfig("  tls_verify: false"), env, asGrpcs)
	start := time.Now()
	resp, _ := grpcLike(t, g)
	if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != "4" {
		t.Fatalf("status %d grpc-status %q, want the 504 as 200 with DEADLINE_EXCEEDED", resp.StatusCode, resp.Header.Get("Grpc-Status"))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	waitInFlight(t, g.target(t), 0)
}

const grpcConfigUp = `
_format_version: "3.0"
upstreams:
- name: backend
  algorithm: least-connections
  targets: [{target: "${T}"}]
services:
- name: g
  url: grpc://backend
  routes: [{paths: [/], protocols: [grpc]}]
`

func TestH2DialFailure(t *testing.T) {
	g := newTestGateway(t, grpcConfigUp, map[string]string{"T": deadAddr(t)}, nil)
	resp, _ := grpcLike(t, g)
	if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != "14" {
		t.Fatalf("status %d grpc-status %q, want the 502 as 200 with UNAVAILABLE", resp.StatusCode, resp.Header.Get("Grpc-Status"))
	}
	waitInFlight(t, g.target(t), 0)
}

// A streaming response keeps the target in flight until it ends, and its
// trailers still arrive.
func TestH2StreamCountsInFlight(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Grpc-Status")
		w.Header().Set("Content-Type", "application/grpc")
		io.WriteString(w, "first;")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second")
		w.Header().Set("Grpc-Status", "0")
	}))
	up.Config.Protocols = new(http.Protocols)
	up.Config.Protocols.SetUnencryptedHTTP2(true)
	up.Start()
	defer up.Close()
	g := newTestGateway(t, grpcConfigUp, map[string]string{"T": up.Listener.Addr().String()}, nil)
	if g.Snap.Services[0].H2 == nil {
		t.Fatal("grpc service without its HTTP/2 transport")
	}
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/pkg.Svc/Watch", strings.NewReader("x"))
	req.Header.Set("Content-Type", "application/grpc")
	resp, err := g.H2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first;" {
		t.Fatalf("first message %q %v", buf, err)
	}
	tg := g.target(t)
	if n := tg.State.InFlight(); n != 1 {
		t.Errorf("in flight during the stream: %d, want 1", n)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second" || resp.Trailer.Get("Grpc-Status") != "0" {
		t.Fatalf("rest %q %v trailer %v", rest, err, resp.Trailer)
	}
	waitInFlight(t, tg, 0)
}

// A reload that replaces a service's transport lets the old one go: it is
// no longer tracked, and its idle connections are closed when the new one
// first carries a request. An unchanged reload keeps the transport.
func TestH2ReloadReplacesTransport(t *testing.T) {
	up := h2Upstream(t, nil)
	env := map[string]string{"T": up.Listener.Addr().String()}
	g := newTestGateway(t, grpcConfigUp, env, nil)
	seen := func() (n int) {
		g.Handler.h2.seen.Range(func(any, any) bool { n++; return true })
		return n
	}
	if resp, body := grpcLike(t, g); resp.StatusCode != 200 || body != "sni= body=ping" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	first := g.Snap.Services[0].H2
	same := g.compile(grpcConfigUp, g.Snap)
	if same.Services[0].H2 != first {
		t.Fatal("an unchanged reload replaced the transport")
	}
	changed := g.compile(strings.Replace(grpcConfigUp, "url: grpc://backend", "url: grpc://backend\n  connect_timeout: 1234", 1), same)
	if changed.Services[0].H2 == first {
		t.Fatal("a changed connect_timeout kept the transport")
	}
	g.Holder.Store(changed)
	if resp, _ := grpcLike(t, g); resp.StatusCode != 200 {
		t.Fatalf("after the reload: status %d", resp.StatusCode)
	}
	if _, ok := g.Handler.h2.seen.Load(first); ok || seen() != 1 {
		t.Errorf("replaced transport still tracked (%d tracked)", seen())
	}
}

// The client's gRPC deadline bounds the wait for the head when it comes
// before read_timeout; anything unreadable leaves read_timeout.
func TestHeadTimeout(t *testing.T) {
	rt := 60 * time.Second
	for _, tc := range []struct {
		v    []string
		want time.Duration
	}{
		{nil, rt},
		{[]string{"100m"}, 100 * time.Millisecond},
		{[]string{"2M"}, rt},
		{[]string{"soon"}, rt},
		{[]string{"1S", "2S"}, rt},
	} {
		h := http.Header{}
		if tc.v != nil {
			h["Grpc-Timeout"] = tc.v
		}
		if got := headTimeout(h, rt); got != tc.want {
			t.Errorf("grpc-timeout %q: %v, want %v", tc.v, got, tc.want)
		}
	}
}
