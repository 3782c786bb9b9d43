package server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func testCert(t testing.TB) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "a.example.com"},
		DNSNames:     []string{"a.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startServer runs a Server with a plain h2c listener and a TLS listener;
// its handler answers with the protocol and SNI it saw and counts calls.
func startServer(t *testing.T) (s *Server, plain, secure string, calls *atomic.Int64) {
	t.Helper()
	calls = new(atomic.Int64)
	cert := testCert(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.Copy(io.Discard, r.Body)
		sni := "-"
		if r.TLS != nil {
			sni = r.TLS.ServerName
		}
		io.WriteString(w, r.Proto+" "+sni)
	})
	s, err := New("test", []Listen{{Addr: "127.0.0.1:0", H2C: true}, {Addr: "127.0.0.1:0", TLS: true}},
		func(string, string) http.Handler { return h }, DefaultLimits,
		TLS{Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }},
		slog.New(slog.DiscardHandler))
	serveUntilCleanup(t, s, err)
	addrs := s.Addrs()
	return s, addrs[0].String(), addrs[1].String(), calls
}

// serveUntilCleanup serves s (New's answer, err) until the test ends.
func serveUntilCleanup(t testing.TB, s *Server, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
}

func dialer(t *testing.T, secure bool, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	if secure {
		c, err = tls.Dial("tcp", addr, &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func TestServerRejectsSmuggling(t *testing.T) {
	_, plain, secure, calls := startServer(t)
	tests := []struct {
		name      string
		secure    bool
		send      string
		wantCalls int64
		want      []string // status lines and bodies, in order
	}{
		{name: "plain cl+te", send: smuggle, want: []string{"HTTP/1.1 400 Bad Request", `{"message":"Bad request"}`}},
		{name: "tls cl+te", secure: true, send: smuggle, want: []string{"HTTP/1.1 400 Bad Request", `{"message":"Bad request"}`}},
		{name: "plain pipelined: good then bad", send: postChk + smuggle + get, wantCalls: 1,
			want: []string{"HTTP/1.1 200 OK", "HTTP/1.1 -", "HTTP/1.1 400 Bad Request"}},
		{name: "tls pipelined: good then bad", secure: true, send: get + smuggle, wantCalls: 1,
			want: []string{"HTTP/1.1 200 OK", "HTTP/1.1 a.example.com", "HTTP/1.1 400 Bad Request"}},
		{name: "plain chunked body with field text", send: detectorTests[13].stream, wantCalls: 3,
			want: []string{"HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := plain
			if tt.secure {
				addr = secure
			}
			before := calls.Load()
			c := dialer(t, tt.secure, addr)
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			if tt.wantCalls == 3 {
				// Keep-alive: read three answers, then hang up ourselves.
				br := bufio.NewReader(c)
				for range 3 {
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					if resp.StatusCode != 200 {
						t.Fatalf("status %d", resp.StatusCode)
					}
				}
			} else {
				out, err := io.ReadAll(c) // the server must close
				if err != nil {
					t.Fatalf("read: %v (got %q)", err, out)
				}
				for _, w := range tt.want {
					i := strings.Index(string(out), w)
					if i < 0 {
						t.Fatalf("answer lacks %q:\n%s", w, out)
					}
					out = out[i+len(w):]
				}
			}
			if got := calls.Load() - before; got != tt.wantCalls {
				t.Errorf("handler ran %d times, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestServerProtocols(t *testing.T) {
	s, plain, secure, _ := startServer(t)
	tlsConf := &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}
	h2 := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true}
	h1 := &http.Transport{TLSClientConfig: tlsConf.Clone(), TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	for _, tr := range []*http.Transport{h1, h2, h2c} {
		t.Cleanup(tr.CloseIdleConnections)
	}
	tests := []struct {
		name string
		tr   *http.Transport
		url  string
		want string
	}{
		{name: "tls h2", tr: h2, url: "https://" + secure + "/", want: "HTTP/2.0 a.example.com"},
		{name: "tls http/1.1 keeps r.TLS", tr: h1, url: "https://" + secure + "/", want: "HTTP/1.1 a.example.com"},
		{name: "h2c", tr: h2c, url: "http://" + plain + "/", want: "HTTP/2.0 -"},
		{name: "plain http/1.1", tr: http.DefaultTransport.(*http.Transport), url: "http://" + plain + "/", want: "HTTP/1.1 -"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, body := range []io.Reader{nil, strings.NewReader("Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")} {
				req, _ := http.NewRequest("POST", tt.url, body)
				if body != nil {
					req.ContentLength = -1 // chunked on HTTP/1.1
				}
				resp, err := (&http.Client{Transport: tt.tr, Timeout: 10 * time.Second}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(got) != tt.want {
					t.Fatalf("%d %q, want %q", resp.StatusCode, got, tt.want)
				}
			}
		})
	}
	// OPTIONS * is answered as net/http's own handler did.
	c := dialer(t, false, plain)
	io.WriteString(c, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"+get)
	br := bufio.NewReader(c)
	for _, want := range []string{"", "HTTP/1.1 -"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(got) != want {
			t.Fatalf("%d %q, want %q", resp.StatusCode, got, want)
		}
	}
	if s.Stats.Accepted.Load() == 0 {
		t.Error("no connections counted")
	}
}

func TestServerPlainHTTPOnTLSListener(t *testing.T) {
	_, _, secure, _ := startServer(t)
	c := dialer(t, false, secure)
	io.WriteString(c, get)
	out, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(out), "HTTP/1.0 400 Bad Request") {
		t.Fatalf("got %q", out)
	}
}

// fakeConn returns one request head per Read, like a keep-alive client.
type fakeConn struct {
	net.Conn
	data []byte
}

func (c *fakeConn) Read(p []byte) (int, error) { return copy(p, c.data), nil }

const benchGET = "GET /api/v1/users/42?fields=name,email HTTP/1.1\r\n" +
	"Host: api.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n" +
	"Accept: application/json\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n" +
	"Cache-Control: no-cache\r\n" +
	"\r\n"

// BenchmarkSniffRead is the per-request cost of the detector: one Read of a
// typical GET head through the wrapper, against the bare conn.
func BenchmarkSniffRead(b *testing.B) {
	buf := make([]byte, 4096)
	fc := &fakeConn{data: []byte(benchGET)}
	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchGET)))
		for b.Loop() {
			fc.Read(buf)
		}
	})
	b.Run("sniffed", func(b *testing.B) {
		sc := &tcpSniffConn{}
		sc.init(fc, h2Limits{})
		b.ReportAllocs()
		b.SetBytes(int64(len(benchGET)))
		for b.Loop() {
			sc.Read(buf)
		}
		if sc.d.bad.Load() != noReject {
			b.Fatal("normal GET rejected")
		}
	})
}

// BenchmarkGuard is the per-request cost of the handler wrapper's check.
func BenchmarkGuard(b *testing.B) {
	sc := &tcpSniffConn{}
	sc.init(&fakeConn{}, h2Limits{})
	g := guard{next: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	ctx := context.WithValue(context.Background(), http.ServerContextKey, &http.Server{})
	ctx = connContext(ctx, sc)
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, &net.TCPAddr{})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r, _ := http.NewRequestWithContext(ctx, "GET", "http://x/", nil)
	r.RequestURI = "/"
	w := &hijackRecorder{}
	b.ReportAllocs()
	for b.Loop() {
		g.ServeHTTP(w, r)
	}
}

type hijackRecorder struct{ http.ResponseWriter }

func (*hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, nil }

// TestStatsBusy: a connection counts as busy while a request is in
// progress on it (HTTP/1 and HTTP/2 alike), and not once it is idle or
// closed.
func TestStatsBusy(t *testing.T) {
	cert := testCert(t)
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	s, err := New("test", []Listen{{Addr: "127.0.0.1:0"}, {Addr: "127.0.0.1:0", TLS: true}},
		func(string, string) http.Handler { return h }, DefaultLimits,
		TLS{Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	defer s.Shutdown(context.Background())
	waitFor := func(what string, busy, active int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			b, a := s.Stats.Busy.Load(), s.Stats.Active.Load()
			if b == busy && a == active {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: busy %d active %d, want %d %d", what, b, a, busy, active)
			}
		}
	}
	addrs := s.Addrs()
	c := dialer(t, false, addrs[0].String())
	waitFor("connected", 0, 1)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	waitFor("in a request", 1, 1)
	release <- struct{}{}
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatal(err)
	}
	waitFor("idle", 0, 1)
	c.Close()
	waitFor("closed", 0, 0)

	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	done := make(chan error, 2)
	get := func() {
		resp, err := (&http.Client{Transport: tr}).Get("https://" + addrs[1].String() + "/")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}
	// One request first, so that the two after it share its connection.
	go get()
	<-entered
	release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor("h2 idle", 0, 1)
	go get()
	go get()
	<-entered
	<-entered
	waitFor("two streams on one h2 connection", 1, 1)
	release <- struct{}{}
	release <- struct{}{}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	waitFor("h2 idle again", 0, 1)
}
