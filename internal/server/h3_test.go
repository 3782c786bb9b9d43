package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// startH3Server runs a Server with one `ssl http3` listener whose handler
// answers with the protocol and SNI it saw; a request to /slow waits for
// release first.
func startH3Server(t *testing.T, release <-chan struct{}, limits Limits) (*Server, string) {
	t.Helper()
	cert := testCert(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, r.Proto+" "+r.TLS.ServerName+" "+string(body))
	})
	s, err := New("test", []Listen{{Addr: "127.0.0.1:0", TLS: true, H3: true}},
		func(string, string) http.Handler { return h }, limits,
		TLS{Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, s.Addrs()[0].String()
}

func h3Client(t *testing.T) *http.Client {
	t.Helper()
	tr := &http3.Transport{TLSClientConfig: &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}}
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestH3ServesBesideTLSAndTCPAnnouncesIt(t *testing.T) {
	s, addr := startH3Server(t, nil, DefaultLimits)
	_, port, _ := net.SplitHostPort(addr)
	c := h3Client(t)
	resp, err := c.Post("https://"+addr+"/x", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := string(body); got != "HTTP/3.0 a.example.com hello" {
		t.Fatalf("HTTP/3 body %q", got)
	}
	if v := resp.Header.Get("Alt-Svc"); v != "" {
		t.Errorf("HTTP/3 response announces %q", v)
	}
	if s.Stats.Accepted.Load() != 1 || s.Stats.Active.Load() != 1 || s.Stats.TLS.TLS13.Load() != 1 {
		t.Errorf("stats after one QUIC connection: accepted %d, active %d, TLS 1.3 %d",
			s.Stats.Accepted.Load(), s.Stats.Active.Load(), s.Stats.TLS.TLS13.Load())
	}

	tc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true},
		ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	defer tc.CloseIdleConnections()
	resp, err = tc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := string(body); got != "HTTP/2.0 a.example.com " {
		t.Fatalf("TLS body %q", got)
	}
	if got, want := resp.Header.Get("Alt-Svc"), `h3=":`+port+`"; ma=86400`; got != want {
		t.Errorf("Alt-Svc %q, want %q", got, want)
	}
}

func TestH3RefusesConnect(t *testing.T) {
	_, addr := startH3Server(t, nil, DefaultLimits)
	req, _ := http.NewRequest(http.MethodConnect, "https://"+addr, nil)
	req.Host = "upstream.example:443"
	resp, err := h3Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("CONNECT over HTTP/3: %d", resp.StatusCode)
	}
}

// A drain finishes the request in flight, then does not wait for the
// client to drop its idle connection.
func TestH3ShutdownDrainsAndClosesIdle(t *testing.T) {
	release := make(chan struct{})
	s, addr := startH3Server(t, release, DefaultLimits)
	c := h3Client(t)
	if resp, err := c.Get("https://" + addr + "/"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	got := make(chan string, 1)
	go func() {
		resp, err := c.Get("https://" + addr + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats.Busy.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.Stats.Busy.Load() != 1 {
		t.Fatalf("busy %d with a request in flight", s.Stats.Busy.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- s.Shutdown(ctx) }()
	time.Sleep(200 * time.Millisecond)
	close(release)
	if b := <-got; b != "HTTP/3.0 a.example.com " {
		t.Fatalf("request in flight during the drain: %q", b)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	deadline = time.Now().Add(2 * time.Second)
	for s.Stats.Active.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.Stats.Active.Load() != 0 || s.Stats.Busy.Load() != 0 {
		t.Errorf("after shutdown: active %d, busy %d", s.Stats.Active.Load(), s.Stats.Busy.Load())
	}
}

// A client that ignores GOAWAY and keeps its idle connection open does not
// hold a drain until its timeout.
func TestH3ShutdownClosesConnectionsClientsKeep(t *testing.T) {
	s, addr := startH3Server(t, nil, DefaultLimits)
	qc, err := quic.DialAddr(context.Background(), addr,
		&tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}},
		&quic.Config{KeepAlivePeriod: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer qc.CloseWithError(0, "")
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats.Active.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v after %v", err, time.Since(start))
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	select {
	case <-qc.Context().Done():
	case <-time.After(2 * time.Second):
		t.Error("the client's connection is still open")
	}
}

// QUIC handshakes ask for client certificates on the server names the TCP
// ones do, so mtls-auth sees them over HTTP/3 too.
func TestH3ClientCertificateRequest(t *testing.T) {
	cert := testCert(t)
	client, _ := clientCert(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto+" "+r.TLS.ServerName+" peers="+strconv.Itoa(len(r.TLS.PeerCertificates)))
	})
	s, err := New("test", []Listen{{Addr: "127.0.0.1:0", TLS: true, H3: true}}, func(string, string) http.Handler { return h }, DefaultLimits,
		TLS{
			Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil },
			ClientCert:  func(name string) (bool, *x509.CertPool) { return name == "mtls.example.com", nil },
		}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	defer s.Shutdown(context.Background())
	addr := s.Addrs()[0].String()
	for _, tt := range []struct{ name, want string }{
		{"mtls.example.com", "HTTP/3.0 mtls.example.com peers=1"},
		{"a.example.com", "HTTP/3.0 a.example.com peers=0"},
	} {
		tr := &http3.Transport{TLSClientConfig: &tls.Config{ServerName: tt.name, InsecureSkipVerify: true,
			Certificates: []tls.Certificate{client}}}
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.Close()
		if string(b) != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, b, tt.want)
		}
	}
}

// Streams whose HEADERS never come do not keep a connection open past the
// idle timeout, however often its client pings; a slow request does.
func TestH3IdleTimeoutCountsStalledStreamsAsIdle(t *testing.T) {
	limits := DefaultLimits
	limits.IdleTimeout = 300 * time.Millisecond
	release := make(chan struct{})
	_, addr := startH3Server(t, release, limits)
	dial := func() *quic.Conn {
		qc, err := quic.DialAddr(context.Background(), addr,
			&tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}},
			&quic.Config{KeepAlivePeriod: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { qc.CloseWithError(0, "") })
		return qc
	}
	qc := dial()
	for range 3 {
		str, err := qc.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		str.Write([]byte{0x01, 0x40}) // a HEADERS frame's type and the start of its length
	}
	start := time.Now()
	select {
	case <-qc.Context().Done():
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("closed after %v", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a connection with stalled streams is still open")
	}

	c := h3Client(t)
	go func() {
		time.Sleep(1200 * time.Millisecond)
		close(release)
	}()
	resp, err := c.Get("https://" + addr + "/slow")
	if err != nil {
		t.Fatalf("a request slower than the idle timeout: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "HTTP/3.0 a.example.com " {
		t.Fatalf("slow request: %q", b)
	}
}
