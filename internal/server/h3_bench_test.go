package server

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// BenchmarkH3VsH2 is a sanity figure: GET / answered with 13 bytes by the
// same Server over HTTP/3 and over HTTP/2 with TLS, each from one client
// connection with a bounded number of concurrent requests (RunParallel's
// goroutines), client and server in this process.
func BenchmarkH3VsH2(b *testing.B) {
	cert := testCert(b)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "Hello, world!") })
	s, err := New("bench", []Listen{{Addr: "127.0.0.1:0", TLS: true, H3: true}},
		func(string, string) http.Handler { return h }, DefaultLimits,
		TLS{Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }},
		slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	s.Serve()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	}()
	url := "https://" + s.Addrs()[0].String() + "/"
	conf := &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}
	h3 := &http3.Transport{TLSClientConfig: conf}
	defer h3.Close()
	h2 := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true, MaxConnsPerHost: 1}
	defer h2.CloseIdleConnections()
	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
	}{{"http3", h3}, {"http2-tls", h2}} {
		b.Run(tc.name, func(b *testing.B) {
			c := &http.Client{Transport: tc.rt, Timeout: 10 * time.Second}
			benchGet(b, c, url) // the handshake, outside the timing
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					benchGet(b, c, url)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

func benchGet(b *testing.B, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkGuardH3 is the guard's per-request cost on an HTTP/3 request
// (the busy accounting) and on a TCP one of a listener that announces
// HTTP/3 (Alt-Svc).
func BenchmarkGuardH3(b *testing.B) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	b.Run("http3", func(b *testing.B) {
		g := guard{next: next}
		ctx := context.WithValue(context.Background(), connKey{}, &h3Conn{stats: &Stats{}})
		r, _ := http.NewRequestWithContext(ctx, "GET", "https://x/", nil)
		r.RequestURI, r.ProtoMajor = "/", 3
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			g.ServeHTTP(w, r)
		}
	})
	b.Run("tcp-alt-svc", func(b *testing.B) {
		g := guard{next: next, altSvc: altSvc("8443")}
		r, _ := http.NewRequest("GET", "https://x/", nil)
		r.RequestURI = "/"
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			clear(w.Header())
			g.ServeHTTP(w, r)
		}
	})
}
