package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// upPKI is the upstream's side of the tests: a root, an intermediate
// that signs the upstream's certificate (so the chain is three long), a
// root the upstream does not chain to, and the CA of the client
// certificates the upstream requires.
type upPKI struct {
	root, inter, leaf, otherRoot, clientCA *mtlsParty
}

func newUpPKI(t *testing.T) *upPKI {
	p := &upPKI{root: mtlsCA(t, "Upstream Root"), otherRoot: mtlsCA(t, "Other Root"), clientCA: mtlsCA(t, "Gateway Clients")}
	p.inter = mtlsIssue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Upstream Intermediate"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, p.root)
	p.leaf = mtlsIssue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "api.internal.test"},
		DNSNames: []string{"api.internal.test", "other.internal.test"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, p.inter)
	return p
}

func (p *mtlsParty) keyPEM(t *testing.T) string {
	der, err := x509.MarshalECPrivateKey(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

// startMTLSUpstream serves TLS with the PKI's chain, requires a client
// certificate of its client CA, and answers with the server name and the
// client's common name it saw (X-Sni, X-Client-Cn); a WebSocket upgrade
// gets them as its first message, a gRPC call as headers of an OK status;
// paths with "slow" wait 300 ms.
func startMTLSUpstream(t *testing.T, p *upPKI) string {
	t.Helper()
	cas := x509.NewCertPool()
	cas.AddCert(p.clientCA.cert)
	conf := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{p.leaf.cert.Raw, p.inter.cert.Raw}, PrivateKey: p.leaf.key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    cas,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{TLSConfig: conf, ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sni, cn := r.TLS.ServerName, r.TLS.PeerCertificates[0].Subject.CommonName
		switch {
		case r.Header.Get("Upgrade") != "":
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			c.Write(r.Context(), websocket.MessageText, []byte(sni+" "+cn))
			c.Read(r.Context())
			return
		case strings.Contains(r.URL.Path, "slow"):
			time.Sleep(300 * time.Millisecond)
		}
		w.Header().Set("X-Sni", sni)
		w.Header().Set("X-Client-Cn", cn)
		if r.Header.Get("Content-Type") == "application/grpc" {
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Trailer", "Grpc-Status")
			w.Write([]byte{0, 0, 0, 0, 0})
			w.Header().Set("Grpc-Status", "0")
		}
	})}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

const (
	upClientCertID = "7d0c55c4-5f0e-4b8a-9a49-2b1f5c7e8a01"
	upRootID       = "7d0c55c4-5f0e-4b8a-9a49-2b1f5c7e8a02"
	upOtherRootID  = "7d0c55c4-5f0e-4b8a-9a49-2b1f5c7e8a03"
)

// upTLSConfig routes /<name> to a service of that name over TLS to addr;
// client is the certificate the gateway may present.
func upTLSConfig(t *testing.T, p *upPKI, client *mtlsParty, addr string) string {
	return fmt.Sprintf(`
_format_version: "3.0"
certificates:
- id: %[1]s
  cert: |
%[4]s
  key: |
%[5]s
ca_certificates:
- id: %[2]s
  cert: |
%[6]s
- id: %[3]s
  cert: |
%[7]s
upstreams:
- name: api.internal.test
  targets: [{target: "%[8]s"}]
- name: sni-up
  host_header: other.internal.test
  targets: [{target: "%[8]s"}]
- name: hc-cert
  host_header: api.internal.test
  client_certificate: {id: %[1]s}
  healthchecks:
    active:
      type: https
      https_verify_certificate: false
      healthy: {interval: 0.2, successes: 1}
      unhealthy: {interval: 0.2, tcp_failures: 1}
  targets: [{target: "%[8]s"}]
- name: hc-nocert
  healthchecks:
    active:
      type: https
      https_verify_certificate: false
      healthy: {interval: 0.2, successes: 1}
      unhealthy: {interval: 0.2, tcp_failures: 1}
  targets: [{target: "%[8]s"}]
services:
- {name: cert, url: "https://api.internal.test", client_certificate: {id: %[1]s}, ca_certificates: [%[2]s], routes: [{paths: [/cert]}]}
- {name: slow, url: "https://api.internal.test/slow", client_certificate: {id: %[1]s}, ca_certificates: [%[2]s], routes: [{paths: [/slow]}]}
- {name: nocert, url: "https://api.internal.test", ca_certificates: [%[2]s], routes: [{paths: [/nocert]}]}
- {name: wrongca, url: "https://api.internal.test", client_certificate: {id: %[1]s}, ca_certificates: [%[3]s], routes: [{paths: [/wrongca]}]}
- {name: systempool, url: "https://api.internal.test", client_certificate: {id: %[1]s}, routes: [{paths: [/systempool]}]}
- {name: noverify, url: "https://api.internal.test", client_certificate: {id: %[1]s}, tls_verify: false, ca_certificates: [%[3]s], routes: [{paths: [/noverify]}]}
- {name: depth0, url: "https://api.internal.test", client_certificate: {id: %[1]s}, tls_verify_depth: 0, ca_certificates: [%[2]s], routes: [{paths: [/depth0]}]}
- {name: depth1, url: "https://api.internal.test", client_certificate: {id: %[1]s}, tls_verify_depth: 1, ca_certificates: [%[2]s], routes: [{paths: [/depth1]}]}
- {name: sni, url: "https://sni-up", client_certificate: {id: %[1]s}, ca_certificates: [%[2]s], routes: [{paths: [/sni]}]}
- {name: upcert, url: "https://hc-cert", ca_certificates: [%[2]s], routes: [{paths: [/upcert]}]}
- {name: hcnocert, url: "https://hc-nocert", ca_certificates: [%[2]s], routes: [{paths: [/hcnocert]}]}
- name: grpcs
  url: "grpcs://api.internal.test"
  client_certificate: {id: %[1]s}
  ca_certificates: [%[2]s]
  routes: [{protocols: [grpc], paths: [/grpc.test.Svc]}]
`, upClientCertID, upRootID, upOtherRootID, indent(client.pem(), "    "), indent(client.keyPEM(t), "    "),
		indent(p.root.pem(), "    "), indent(p.otherRoot.pem(), "    "), addr)
}

// The gateway presents the service's client certificate, verifies the
// upstream against the service's CAs within tls_verify_depth, sends the
// upstream's name as SNI, and does so on HTTP/1.1, WebSocket, HTTP/2
// (grpcs) and health-check connections.
func TestUpstreamMTLS(t *testing.T) {
	p := newUpPKI(t)
	addr := startMTLSUpstream(t, p)
	client := mtlsClient(t, p.clientCA, "gateway-1")
	gw := gwtest.Start(t, upTLSConfig(t, p, client, addr), gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})

	for _, c := range []struct {
		path     string
		status   int
		sni, why string
	}{
		{"/cert", 200, "api.internal.test", "client certificate and CA"},
		{"/nocert", 502, "", "no client certificate: the upstream ends the handshake"},
		{"/wrongca", 502, "", "the upstream does not chain to the service's CA"},
		{"/systempool", 502, "", "without ca_certificates the system pool does not know the test root"},
		{"/noverify", 200, "api.internal.test", "tls_verify: false accepts any upstream certificate"},
		{"/depth0", 502, "", "depth 0 allows no intermediate"},
		{"/depth1", 200, "api.internal.test", "depth 1 allows the one intermediate"},
		{"/sni", 200, "other.internal.test", "the upstream's host_header is the server name"},
		{"/upcert", 200, "api.internal.test", "the upstream's client_certificate when the service has none"},
	} {
		resp, body := gw.Get(c.path)
		if resp.StatusCode != c.status {
			t.Errorf("%s (%s): %d %s", c.path, c.why, resp.StatusCode, body)
			continue
		}
		if c.status == 200 && (resp.Header.Get("X-Sni") != c.sni || resp.Header.Get("X-Client-Cn") != "gateway-1") {
			t.Errorf("%s: upstream saw SNI %q and client %q, want %q and gateway-1", c.path,
				resp.Header.Get("X-Sni"), resp.Header.Get("X-Client-Cn"), c.sni)
		}
	}

	t.Run("websocket", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(gw.URL, "http")+"/cert", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "api.internal.test gateway-1" {
			t.Errorf("tunnel: %q %v", msg, err)
		}
	})

	t.Run("grpcs", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/grpc.test.Svc/Call", bytes.NewReader(make([]byte, 5)))
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Te", "trailers")
		resp, err := gwtest.H2CClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Client-Cn") != "gateway-1" || resp.Header.Get("X-Sni") != "api.internal.test" {
			t.Errorf("grpcs: %d %v", resp.StatusCode, resp.Header)
		}
	})

	t.Run("health checks", func(t *testing.T) {
		waitHealth(t, gw, "hc-cert", addr, "HEALTHY", 5*time.Second)
		waitHealth(t, gw, "hc-nocert", addr, "UNHEALTHY", 5*time.Second)
	})
}

// A client certificate replaced under the same id by a reload is
// presented on new connections at once, while requests in flight finish
// on the old ones: no request fails.
func TestUpstreamMTLSRotationUnderLoad(t *testing.T) {
	p := newUpPKI(t)
	addr := startMTLSUpstream(t, p)
	clients := []*mtlsParty{mtlsClient(t, p.clientCA, "gateway-1"), mtlsClient(t, p.clientCA, "gateway-2")}
	gw := gwtest.Start(t, upTLSConfig(t, p, clients[0], addr), gwtest.Options{Args: []string{"--access-log", "off", "--watch-settle", "100ms"}})
	path := configPath(t, gw)

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 4 {
		wg.Add(1)
		route := []string{"/cert", "/slow"}[i%2]
		go func() {
			defer wg.Done()
			for n := 0; n < 100000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(gw.URL + route)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("%s: status %d", route, resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		}()
	}
	const rotations = 6
	for i := 1; i <= rotations; i++ {
		next := clients[i%2]
		writeAtomically(t, path, upTLSConfig(t, p, next, addr))
		waitUntil(t, "the rotated certificate", func() bool {
			resp, _ := gw.Get("/cert")
			return resp.Header.Get("X-Client-Cn") == next.cert.Subject.CommonName
		})
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed across %d rotations; first: %v", failed.Load(), ok.Load()+failed.Load(), rotations, firstErr.Load())
	}
	if ok.Load() < 20 {
		t.Fatalf("only %d requests were sent during the rotations", ok.Load())
	}
	t.Logf("%d requests, 0 failed, across %d rotations", ok.Load(), rotations)
}
