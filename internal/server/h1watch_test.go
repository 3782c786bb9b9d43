package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that goes away while its request is served ends the request's
// context, as net/http's background read makes it: the proxy stops
// waiting for the upstream then.
func TestOwnClientGoneEndsContext(t *testing.T) {
	ended := make(chan time.Duration, 1)
	_, addr := startOwnH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		ended <- time.Since(start)
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	c.Close()
	select {
	case d := <-ended:
		if d > 3*watchTick+time.Second {
			t.Errorf("the context ended %v after the request began", d)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("the request's context did not end when its client went away")
	}
}

// The background read of a long request takes the first byte of the next
// pipelined request; it must reach that request.
func TestOwnWatchKeepsPipelinedByte(t *testing.T) {
	_, addr := startOwnH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(3 * watchTick)
		}
		if r.Context().Err() != nil {
			t.Errorf("%s: context ended: %v", r.URL.Path, r.Context().Err())
		}
		io.WriteString(w, r.URL.Path)
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(2 * watchTick) // the watch is reading by now
	io.WriteString(c, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{"/slow", "/next"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", want, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != want {
			t.Errorf("got %d %q, want 200 %q", resp.StatusCode, b, want)
		}
	}
}

// A client that sends a body is not watched until the body is read: the
// watch must never take body bytes.
func TestOwnWatchLeavesBody(t *testing.T) {
	_, addr := startOwnH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * watchTick)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		w.Write(b)
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
	time.Sleep(2 * watchTick)
	io.WriteString(c, "world")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if !strings.EqualFold(string(b), "helloworld") {
		t.Errorf("body %q", b)
	}
}

// The watchdog reclaims once a burst of moves is over (no move for a
// tick), not while connections keep moving, and not again within
// reclaimEvery.
func TestReclaimAfterBurstOnly(t *testing.T) {
	s := newH1Server(nil, DefaultLimits, &Stats{}, h2Limits{}, nil)
	s.moved.Store(reclaimMoves - 1)
	s.reclaim()
	s.reclaim()
	if !s.lastReclaim.IsZero() {
		t.Fatal("reclaimed below reclaimMoves")
	}
	s.moved.Add(10)
	s.reclaim() // moves since the last tick: the burst goes on
	if !s.lastReclaim.IsZero() {
		t.Fatal("reclaimed during the burst")
	}
	s.reclaim() // a quiet tick
	if s.lastReclaim.IsZero() || s.moved.Load() != 0 {
		t.Fatalf("no reclaim after the burst (moved %d)", s.moved.Load())
	}
	at := s.lastReclaim
	s.moved.Store(2 * reclaimMoves)
	s.reclaim()
	s.reclaim()
	if s.lastReclaim != at {
		t.Fatal("reclaimed again within reclaimEvery")
	}
	s.wg.Wait()
}
