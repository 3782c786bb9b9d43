package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

func parkedConns(s *h1Server) int {
	p := s.parker.Load()
	if p == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(p.conns) - len(p.free)
}

// startParking starts an own-path server and returns it, its h1Server
// and its address; setup, if any, is called on the h1Server before it
// serves.
func startParking(t *testing.T, limits Limits, setup ...func(*h1Server)) (*Server, *h1Server, string) {
	t.Helper()
	limits.OwnHTTP1 = true
	s, err := New("test", []Listen{{Addr: "127.0.0.1:0", H2C: true}},
		func(string, string) http.Handler { return echo }, limits, TLS{}, slog.New(slog.DiscardHandler))
	if err == nil {
		for _, f := range setup {
			f(s.h1[0])
		}
	}
	serveUntilCleanup(t, s, err)
	return s, s.h1[0], s.Addrs()[0].String()
}

// waitFor polls cond every 20 ms for up to limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, limit)
		}
	}
}

// askOnce sends a GET on c and checks the echo.
func askOnce(t *testing.T, c net.Conn, br *bufio.Reader, path string) {
	t.Helper()
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := readAnswer(t, br, "GET"); body != "GET "+path+" HTTP/1.1 " {
		t.Fatalf("answer %q", body)
	}
}

// A connection idle for probeIdle waits without a goroutine; its next
// request is served as before, and so is its client's close.
func TestOwnIdleConnParksAndResumes(t *testing.T) {
	s, h1, addr := startParking(t, DefaultLimits)
	c := dialFor(t, addr, 20*time.Second)
	br := bufio.NewReader(c)
	for i := range 2 {
		askOnce(t, c, br, "/first")
		waitFor(t, probeIdle+2*time.Second, "parked", func() bool { return parkedConns(h1) == 1 })
		askOnce(t, c, br, "/again")
		if n := parkedConns(h1); n != 0 {
			t.Fatalf("round %d: %d parked while serving", i, n)
		}
	}
	waitFor(t, probeIdle+2*time.Second, "parked again", func() bool { return parkedConns(h1) == 1 })
	c.Close()
	waitFor(t, 2*time.Second, "the closed connection forgotten", func() bool {
		return parkedConns(h1) == 0 && s.Stats.Active.Load() == 0
	})
}

// A parked connection is closed when its idle timeout passes.
func TestOwnParkedConnIdleTimeout(t *testing.T) {
	limits := DefaultLimits
	limits.IdleTimeout = probeIdle + time.Second
	s, h1, addr := startParking(t, limits)
	c := dialFor(t, addr, 20*time.Second)
	br := bufio.NewReader(c)
	askOnce(t, c, br, "/")
	start := time.Now()
	waitFor(t, probeIdle+2*time.Second, "parked", func() bool { return parkedConns(h1) == 1 })
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("read after the idle timeout: %v, want EOF", err)
	}
	if d := time.Since(start); d < limits.IdleTimeout-100*time.Millisecond || d > limits.IdleTimeout+3*watchTick {
		t.Errorf("closed %v after the answer, idle timeout %v", d, limits.IdleTimeout)
	}
	waitFor(t, time.Second, "forgotten", func() bool { return parkedConns(h1) == 0 && s.Stats.Active.Load() == 0 })
}

// Shutdown closes parked connections at once, as other idle ones.
func TestOwnShutdownClosesParked(t *testing.T) {
	s, h1, addr := startParking(t, DefaultLimits)
	var conns []net.Conn
	for range 3 {
		c := dialFor(t, addr, 20*time.Second)
		askOnce(t, c, bufio.NewReader(c), "/")
		conns = append(conns, c)
	}
	waitFor(t, probeIdle+2*time.Second, "parked", func() bool { return parkedConns(h1) == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v with parked connections", d)
	}
	for _, c := range conns {
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("a parked connection after shutdown: %v, want EOF", err)
		}
	}
}

// A connection parked before its first request may still open with the
// h2c preface.
func TestOwnH2CPrefaceAfterPark(t *testing.T) {
	_, h1, addr := startParking(t, DefaultLimits)
	c := dialFor(t, addr, 10*time.Second)
	waitFor(t, probeIdle+2*time.Second, "parked", func() bool { return parkedConns(h1) == 1 })
	io.WriteString(c, h2cPreface+"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatal(err)
	}
	if hdr[3] != 4 {
		t.Fatalf("first frame type %d, want SETTINGS", hdr[3])
	}
}

// A client that sends a last request and half-closes while parked gets
// its answer, then the close; the server forgets the connection.
func TestOwnParkedHalfClose(t *testing.T) {
	s, h1, addr := startParking(t, DefaultLimits)
	c := dialFor(t, addr, 10*time.Second)
	br := bufio.NewReader(c)
	askOnce(t, c, br, "/")
	waitFor(t, probeIdle+2*time.Second, "parked", func() bool { return parkedConns(h1) == 1 })
	io.WriteString(c, "GET /last HTTP/1.1\r\nHost: x\r\n\r\n")
	c.(*net.TCPConn).CloseWrite()
	if _, body := readAnswer(t, br, "GET"); body != "GET /last HTTP/1.1 " {
		t.Fatalf("answer %q", body)
	}
	wantClosed(t, br)
	waitFor(t, 2*time.Second, "forgotten", func() bool { return parkedConns(h1) == 0 && s.Stats.Active.Load() == 0 })
}

// The parker's eventfd is written only while its wait runs: a second
// Shutdown must not write to whatever file took its number since.
func TestParkerNotWokenAfterItsEnd(t *testing.T) {
	limits := DefaultLimits
	limits.OwnHTTP1 = true
	s, err := New("test", []Listen{{Addr: "127.0.0.1:0"}},
		func(string, string) http.Handler { return echo }, limits, TLS{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	h1 := s.h1[0]
	c, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	askOnce(t, c, bufio.NewReader(c), "/")
	waitFor(t, probeIdle+2*time.Second, "parked", func() bool { return parkedConns(h1) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Shutdown(ctx)
	waitFor(t, 2*time.Second, "the wait ended", func() bool {
		h1.mu.Lock()
		defer h1.mu.Unlock()
		return h1.parker.Load().stopped
	})
	time.Sleep(50 * time.Millisecond) // its descriptors are closed
	var files []*os.File
	for range 8 {
		f, err := os.CreateTemp(t.TempDir(), "x")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	s.Shutdown(ctx)
	for _, f := range files {
		if st, _ := f.Stat(); st.Size() != 0 {
			t.Errorf("the file on descriptor %d got %d bytes from the second Shutdown", f.Fd(), st.Size())
		}
	}
}

// When more connections wait on goroutines than crowdedWaits, a wait
// that begins probes for probeCrowded, not probeIdle: the connections
// park well within probeIdle.
func TestOwnCrowdedWaitsParkSooner(t *testing.T) {
	_, h1, addr := startParking(t, DefaultLimits, func(h1 *h1Server) { h1.crowdedWaits = 2 })
	var conns []net.Conn
	for range 6 {
		c := dialFor(t, addr, 10*time.Second)
		conns = append(conns, c)
	}
	start := time.Now()
	brs := make([]*bufio.Reader, len(conns))
	for i, c := range conns {
		brs[i] = bufio.NewReader(c)
		askOnce(t, c, brs[i], "/")
	}
	waitFor(t, probeIdle+2*time.Second, "the crowded waits parked", func() bool { return parkedConns(h1) >= 3 })
	if d := time.Since(start); d >= probeIdle {
		t.Errorf("%d parked after %v, want some within probeIdle (%v)", parkedConns(h1), d, probeIdle)
	}
	// A connection's later waits keep probeIdle: clients that come back
	// are not parked and resumed on every request.
	waitFor(t, probeIdle+2*time.Second, "all parked", func() bool { return parkedConns(h1) == len(conns) })
	for i, c := range conns {
		askOnce(t, c, brs[i], "/again")
	}
	time.Sleep(probeIdle / 2)
	if n := parkedConns(h1); n != 0 {
		t.Errorf("%d connections parked again within %v of their second request", n, probeIdle/2)
	}
}

// The crowd is counted per listener: connections parked (or waiting) on
// one listener do not shorten the waits of another's.
func TestOwnCrowdIsPerListener(t *testing.T) {
	limits := DefaultLimits
	limits.OwnHTTP1 = true
	s, err := New("test", []Listen{{Addr: "127.0.0.1:0"}, {Addr: "127.0.0.1:0"}},
		func(string, string) http.Handler { return echo }, limits, TLS{}, slog.New(slog.DiscardHandler))
	if err == nil {
		s.h1[0].crowdedWaits, s.h1[1].crowdedWaits = 2, 2
	}
	serveUntilCleanup(t, s, err)
	a, b := s.h1[0], s.h1[1]
	for range 4 {
		c, err := net.Dial("tcp", s.Addrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		askOnce(t, c, bufio.NewReader(c), "/")
	}
	waitFor(t, probeIdle+2*time.Second, "the first listener's connections parked", func() bool { return parkedConns(a) == 4 })
	c, err := net.Dial("tcp", s.Addrs()[1].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	askOnce(t, c, bufio.NewReader(c), "/")
	time.Sleep(probeIdle / 2)
	if n := parkedConns(b); n != 0 {
		t.Errorf("the other listener's only connection parked within %v", probeIdle/2)
	}
}
