package server

import (
	"bufio"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// startOwnH1 runs a Server on a plain h2c listener with the own HTTP/1.x
// path and the default limits.
func startOwnH1(t testing.TB, h http.Handler) (*Server, string) {
	t.Helper()
	limits := DefaultLimits
	limits.OwnHTTP1 = true
	s, err := New("test", []Listen{{Addr: "127.0.0.1:0", H2C: true}},
		func(string, string) http.Handler { return h }, limits, TLS{}, slog.New(slog.DiscardHandler))
	serveUntilCleanup(t, s, err)
	return s, s.Addrs()[0].String()
}

// dialFor connects to addr with every read and write due within d; the
// connection closes when the test ends.
func dialFor(t *testing.T, addr string, d time.Duration) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(d))
	return c
}

// echo answers with the method, path, protocol and the request body.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	io.WriteString(w, r.Method+" "+r.URL.Path+" "+r.Proto+" "+string(body))
	if v := r.Trailer.Get("X-Sum"); v != "" {
		io.WriteString(w, " trailer "+v)
	}
})

// readAnswer reads one answer to a request of method and returns its body.
func readAnswer(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// wantClosed fails unless the server closes c with nothing more to read.
func wantClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	if b, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed: read %q, %v", b, err)
	}
}

func TestOwnH1PipelinedInOrder(t *testing.T) {
	_, addr := startOwnH1(t, echo)
	c := dialer(t, false, addr)
	var reqs strings.Builder
	for _, p := range []string{"/one", "/two", "/three"} {
		reqs.WriteString("GET " + p + " HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	reqs.WriteString("POST /four HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody")
	reqs.WriteString("GET /five HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if _, err := io.WriteString(c, reqs.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for _, want := range []string{"GET /one HTTP/1.1 ", "GET /two HTTP/1.1 ", "GET /three HTTP/1.1 ", "POST /four HTTP/1.1 body", "GET /five HTTP/1.1 "} {
		if _, got := readAnswer(t, br, "GET"); got != want {
			t.Fatalf("answer %q, want %q", got, want)
		}
	}
	wantClosed(t, br)
}

func TestOwnH1KeepAlive(t *testing.T) {
	s, addr := startOwnH1(t, echo)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for i := range 5 {
		resp, err := client.Post("http://"+addr+"/k", "text/plain", strings.NewReader("ab"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "POST /k HTTP/1.1 ab" {
			t.Fatalf("request %d: %q", i, body)
		}
	}
	if n := s.Stats.Accepted.Load(); n != 1 {
		t.Fatalf("%d connections for 5 requests, want 1", n)
	}
}

func TestOwnH1ChunkedBodyEchoed(t *testing.T) {
	_, addr := startOwnH1(t, echo)
	c := dialer(t, false, addr)
	io.WriteString(c, "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"+
		"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Sum: 11\r\n\r\n")
	br := bufio.NewReader(c)
	resp, got := readAnswer(t, br, "PUT")
	if resp.StatusCode != http.StatusOK || got != "PUT /c HTTP/1.1 hello world trailer 11" {
		t.Fatalf("%d %q", resp.StatusCode, got)
	}
	// The connection serves the next request.
	io.WriteString(c, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, got := readAnswer(t, br, "GET"); got != "GET /after HTTP/1.1 " {
		t.Fatalf("next answer %q", got)
	}
}

func TestOwnH1Continue(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ignore" {
			io.WriteString(w, "ignored")
			return
		}
		// Two reads: 100 Continue goes out at the first only.
		var b [2]byte
		n, _ := io.ReadFull(r.Body, b[:])
		rest, _ := io.ReadAll(r.Body)
		io.WriteString(w, string(b[:n])+string(rest))
	})
	_, addr := startOwnH1(t, h)

	c := dialer(t, false, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "POST /read HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	resp, _ := readAnswer(t, br, "POST")
	if resp.StatusCode != http.StatusContinue {
		t.Fatalf("status %d before the body, want 100", resp.StatusCode)
	}
	io.WriteString(c, "hello")
	if resp, got := readAnswer(t, br, "POST"); resp.StatusCode != http.StatusOK || got != "hello" {
		t.Fatalf("%d %q, want 200 hello (one 100 Continue)", resp.StatusCode, got)
	}
	// A handler that does not read the body: no 100 Continue, and the
	// connection closes after the answer (the body never comes).
	io.WriteString(c, "POST /ignore HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	if resp, got := readAnswer(t, br, "POST"); resp.StatusCode != http.StatusOK || got != "ignored" {
		t.Fatalf("%d %q, want 200 ignored", resp.StatusCode, got)
	}
	wantClosed(t, br)
}

func TestOwnH1HTTP10(t *testing.T) {
	_, addr := startOwnH1(t, echo)

	c := dialer(t, false, addr)
	io.WriteString(c, "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	br := bufio.NewReader(c)
	resp, got := readAnswer(t, br, "GET")
	if got != "GET /ka HTTP/1.0 " || resp.Close {
		t.Fatalf("keep-alive: %q, close %v", got, resp.Close)
	}
	io.WriteString(c, "GET /close HTTP/1.0\r\n\r\n")
	if _, got := readAnswer(t, br, "GET"); got != "GET /close HTTP/1.0 " {
		t.Fatalf("close: %q", got)
	}
	wantClosed(t, br)
}

func TestOwnH1HeadTooLarge(t *testing.T) {
	_, addr := startOwnH1(t, echo)
	c := dialer(t, false, addr)
	go func() {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", DefaultLimits.MaxHeaderBytes+4096)+"\r\n\r\n")
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(refusals[http.StatusRequestHeaderFieldsTooLarge]) {
		t.Fatalf("answer %q", got)
	}
}

func TestOwnH1HandsH2CToNetHTTP(t *testing.T) {
	_, addr := startOwnH1(t, echo)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &p}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for range 2 {
		resp, err := client.Post("http://"+addr+"/h2", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || string(body) != "POST /h2 HTTP/2.0 x" {
			t.Fatalf("%s %q", resp.Proto, body)
		}
	}
	// HTTP/1.1 on the same listener stays on the own path.
	c := dialer(t, false, addr)
	io.WriteString(c, "GET /h1 HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, got := readAnswer(t, bufio.NewReader(c), "GET"); got != "GET /h1 HTTP/1.1 " {
		t.Fatalf("%q", got)
	}
}

// A connection the handler hijacked is its own after the handler returns:
// the server neither half-closes nor closes it.
func TestOwnH1HijackOutlivesHandler(t *testing.T) {
	taken := make(chan net.Conn, 1)
	_, addr := startOwnH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		taken <- nc
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	nc := <-taken
	defer nc.Close()
	time.Sleep(700 * time.Millisecond) // past the server's closing linger
	if _, err := io.WriteString(nc, "later\n"); err != nil {
		t.Fatalf("the hijacked connection was closed: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if line != "later\n" {
		t.Fatalf("read %q, %v", line, err)
	}
}

// A Read of nothing returns nothing and leaves the body and the
// connection as they were; a body read on another goroutine while the
// answer goes out is ordered with the server's drain (go test -race).
func TestOwnH1BodyEmptyReadAndConcurrentRead(t *testing.T) {
	_, addr := startOwnH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n, err := r.Body.Read(nil); n != 0 || err != nil {
			t.Errorf("Read(nil) = %d, %v", n, err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(io.Discard, r.Body)
		}()
		io.WriteString(w, "ok")
		http.NewResponseController(w).Flush()
		<-done
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for range 20 {
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n"+strings.Repeat("b", 2000))
		if _, body := readAnswer(t, br, "POST"); body != "ok" {
			t.Fatalf("answer %q", body)
		}
	}
}

// A lower-case common name (HTTP/2 habits, some libraries) is
// canonicalised from the table, without allocating.
func TestCanonicalNameCommonNoAlloc(t *testing.T) {
	a := &arena{buf: make([]byte, arenaChunk)}
	if got, ok := canonicalName(a, "content-type"); !ok || got != "Content-Type" {
		t.Fatalf("got %q, %v", got, ok)
	}
	if n := testing.AllocsPerRun(100, func() { canonicalName(a, "content-type") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// Trailers set under http.TrailerPrefix (the proxy's, from the upstream)
// end a chunked answer; they are not written in its head.
func TestOwnAnswerTrailer(t *testing.T) {
	_, addr := startOwnH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Grpc-Status")
		io.WriteString(w, "part")
		w.(http.Flusher).Flush()
		w.Header()[http.TrailerPrefix+"Grpc-Status"] = []string{"0"}
	}))
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "part" || resp.Trailer.Get("Grpc-Status") != "0" || resp.Header.Get("Grpc-Status") != "" {
		t.Errorf("body %q, trailer %v, header %v", b, resp.Trailer, resp.Header)
	}
}

// BenchmarkIdleConnMemory reports what b.N idle keep-alive connections
// hold in the own path's process once their waits are parked
// (h1park_linux.go; elsewhere, on fresh goroutines): stack and heap per
// connection, after a GC; the client side's connection objects are in the
// heap figure. Run it with a fixed
// count: go test -run '^$' -bench IdleConnMemory -benchtime 2000x ./internal/server/
func BenchmarkIdleConnMemory(b *testing.B) {
	if b.N > 20000 {
		b.Skip("give -benchtime a count up to 20000x")
	}
	_, addr := startOwnH1(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, 0, b.N)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, 4096)
	for range b.N {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if n, err := c.Read(buf); err != nil || !strings.HasSuffix(string(buf[:n]), "hello") {
			b.Fatalf("answer %q, %v", buf[:n], err)
		}
	}
	time.Sleep(probeIdle + time.Second)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/float64(b.N), "stack-B/conn")
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(b.N), "heap-B/conn")
}

// A handler that answers without reading the body has the rest drained
// before the answer; a client that stalls its body gets the answer after
// drainTimeout, on a connection that then closes, rather than never.
func TestOwnH1StalledBodyDrainBounded(t *testing.T) {
	_, addr := startOwnH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	c := dialFor(t, addr, drainTimeout+5*time.Second)
	start := time.Now()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
	br := bufio.NewReader(c)
	resp, _ := readAnswer(t, br, "POST")
	if d := time.Since(start); resp.StatusCode != http.StatusUnauthorized || !resp.Close || d < drainTimeout-time.Second {
		t.Errorf("status %d, close %v, after %v", resp.StatusCode, resp.Close, d)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Error("the connection stayed open after the stalled body")
	}
}

// A TLS connection idle past the probe waits on a fresh goroutine for one
// byte (waitData): the head after it is read whole, whether it came in the
// same record or the byte in a record of its own.
func TestOwnH1TLSFreshWaitReadsWholeHead(t *testing.T) {
	cert := testCert(t)
	limits := DefaultLimits
	limits.OwnHTTP1 = true
	s, err := New("test", []Listen{{Addr: "127.0.0.1:0", TLS: true}},
		func(string, string) http.Handler { return echo }, limits,
		TLS{Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }},
		slog.New(slog.DiscardHandler))
	serveUntilCleanup(t, s, err)
	c := dialer(t, true, s.Addrs()[0].String())
	br := bufio.NewReader(c)
	send := func(parts ...string) {
		t.Helper()
		for i, p := range parts {
			if i > 0 {
				time.Sleep(50 * time.Millisecond)
			}
			if _, err := io.WriteString(c, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, parts := range [][]string{
		{"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok"},
		{"G", "ET /third HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		if i > 0 {
			time.Sleep(probeIdle + 300*time.Millisecond)
			if m := s.h1[0].moved.Load(); m != int64(i) {
				t.Fatalf("before request %d: %d waits moved to a fresh goroutine, want %d", i+1, m, i)
			}
		}
		send(parts...)
		method, _, _ := strings.Cut(strings.Join(parts, ""), " ")
		resp, body := readAnswer(t, br, method)
		want := method + " " + []string{"/first", "/second", "/third"}[i] + " HTTP/1.1 "
		if i == 1 {
			want += "ok"
		}
		if resp.StatusCode != http.StatusOK || body != want {
			t.Fatalf("request %d: %d %q, want %q", i+1, resp.StatusCode, body, want)
		}
	}
}

// Over TLS the h2c preface is not a handoff to HTTP/2 (which TLS chooses
// by ALPN): it is refused as any HTTP/2.0 head (505, net/http's answer),
// and the request never reaches a handler without its TLS state.
func TestOwnH1TLSNoH2CPreface(t *testing.T) {
	cert := testCert(t)
	limits := DefaultLimits
	limits.OwnHTTP1 = true
	s, err := New("test", []Listen{{Addr: "127.0.0.1:0", TLS: true}},
		func(string, string) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				t.Errorf("handler reached: %s %s (TLS state %v)", r.Method, r.Proto, r.TLS != nil)
			})
		}, limits,
		TLS{Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }},
		slog.New(slog.DiscardHandler))
	serveUntilCleanup(t, s, err)
	c := dialer(t, true, s.Addrs()[0].String())
	io.WriteString(c, h2cPreface)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusHTTPVersionNotSupported {
		t.Errorf("status %d, want 505 as for any HTTP/2.0 head (net/http's answer)", resp.StatusCode)
	}
}
