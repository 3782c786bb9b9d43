package server

import (
	"bufio"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Draining the body a handler left unread (settleBody).

// A body drained as the answer went out must not leave the connection
// watchable into the next request: the watchdog would read a byte of that
// request's body (the handler then waits for ever for it).
func TestOwnH1DrainLeavesNoWatch(t *testing.T) {
	_, addr := startOwnH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/skip" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		time.Sleep(3 * watchTick)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Write(b)
	}))
	c := dialFor(t, addr, 8*time.Second)
	br := bufio.NewReader(c)
	io.WriteString(c, "POST /skip HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	readAnswer(t, br, "POST")
	io.WriteString(c, "POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
	time.Sleep(2*watchTick + 200*time.Millisecond) // the watchdog ticked over the request
	io.WriteString(c, "0123456789")
	if _, body := readAnswer(t, br, "POST"); body != "0123456789" {
		t.Errorf("second body %q", body)
	}
}

// The drain's deadline is not the next (pipelined) request's: its body
// may take longer than drainTimeout.
func TestOwnH1PipelinedAfterDrainHasNoDeadline(t *testing.T) {
	_, addr := startOwnH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/skip" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read: "+err.Error(), http.StatusBadRequest)
			return
		}
		io.WriteString(w, strconv.Itoa(len(b)))
	}))
	c := dialFor(t, addr, 20*time.Second)
	io.WriteString(c, "POST /skip HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"+
		"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
	br := bufio.NewReader(c)
	readAnswer(t, br, "POST")
	time.Sleep(drainTimeout + time.Second)
	io.WriteString(c, "56789")
	if resp, body := readAnswer(t, br, "POST"); resp.StatusCode != 200 || body != "10" {
		t.Errorf("second request: %d %q", resp.StatusCode, body)
	}
}

// A client uploading steadily, slower than drainTimeout in all but never
// stalled for it, has its body drained and the connection kept.
func TestOwnH1SlowUploadDrained(t *testing.T) {
	_, addr := startOwnH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	c := dialFor(t, addr, 20*time.Second)
	const chunks, size = 70, 2000 // 140 KB over 7 s
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(chunks*size)+"\r\n\r\n")
	var werr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range chunks {
			if _, werr = c.Write(make([]byte, size)); werr != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	resp, _ := readAnswer(t, bufio.NewReader(c), "POST")
	<-done
	if werr != nil || resp.StatusCode != http.StatusUnauthorized || resp.Close {
		t.Errorf("status %d, close %v, upload: %v", resp.StatusCode, resp.Close, werr)
	}
}

// The drain's deadline is set under bodyMu, which orders it with a body
// read on another goroutine (run with -race).
func TestOwnH1DrainWithConcurrentReader(t *testing.T) {
	_, addr := startOwnH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var wg sync.WaitGroup
		wg.Go(func() { io.Copy(io.Discard, r.Body) })
		time.Sleep(30 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		wg.Wait()
	}))
	c := dialFor(t, addr, 10*time.Second)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	for range 200 {
		io.WriteString(c, strings.Repeat("a", 5))
		time.Sleep(500 * time.Microsecond)
	}
	if resp, _ := readAnswer(t, bufio.NewReader(c), "POST"); resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
}

// With full duplex enabled, the answer's head does not drain the body a
// goroutine of the handler is still reading: it gets every byte.
func TestOwnH1FullDuplexBodyNotDrained(t *testing.T) {
	got := make(chan int, 1)
	_, addr := startOwnH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			t.Error(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { n, _ := io.Copy(io.Discard, r.Body); got <- int(n) })
		time.Sleep(30 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		wg.Wait()
	}))
	c := dialFor(t, addr, 10*time.Second)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	for range 10 {
		io.WriteString(c, strings.Repeat("a", 100))
		time.Sleep(15 * time.Millisecond)
	}
	readAnswer(t, bufio.NewReader(c), "POST")
	if n := <-got; n != 1000 {
		t.Errorf("the handler's reader got %d of 1000 body bytes", n)
	}
}

// startDrainWatch starts an own-path server whose /skip answers 401
// without reading the body and whose other paths echo method, path and
// body, with limits' idle timeout.
func startDrainWatch(t *testing.T, idle time.Duration) string {
	t.Helper()
	limits := DefaultLimits
	limits.OwnHTTP1 = true
	limits.IdleTimeout = idle
	s, err := New("test", []Listen{{Addr: "127.0.0.1:0"}}, func(string, string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/skip" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(b))
		})
	}, limits, TLS{}, slog.New(slog.DiscardHandler))
	serveUntilCleanup(t, s, err)
	return s.Addrs()[0].String()
}

// A body drained at the answer's end leaves no watch to start on the idle
// connection: it would read the next request's first byte ("ET /next").
// The request lands just before the watchdog's first tick, so that its
// second finds the connection idle within the probe.
func TestOwnH1NoWatchOnIdleConnAfterDrain(t *testing.T) {
	addr := startDrainWatch(t, DefaultLimits.IdleTimeout)
	c := dialFor(t, addr, 8*time.Second)
	br := bufio.NewReader(c)
	time.Sleep(watchTick - 50*time.Millisecond)
	io.WriteString(c, "POST /skip HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	readAnswer(t, br, "POST")
	time.Sleep(watchTick + 250*time.Millisecond)
	for _, path := range []string{"/next", "/third"} {
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := readAnswer(t, br, "GET"); resp.StatusCode != 200 || body != "GET "+path+" " {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
		}
	}
}

// Nor does such a watch keep an idle connection from its idle timeout.
func TestOwnH1IdleTimeoutAfterDrain(t *testing.T) {
	addr := startDrainWatch(t, 2*time.Second)
	c := dialFor(t, addr, 6*time.Second)
	br := bufio.NewReader(c)
	time.Sleep(watchTick - 50*time.Millisecond)
	io.WriteString(c, "POST /skip HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	readAnswer(t, br, "POST")
	start := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after %v: %v, want EOF at the 2 s idle timeout", time.Since(start), err)
	}
}

// With full duplex, a handler that answers first and reads an
// Expect: 100-continue body after must not get a 100 Continue written
// inside its answer.
func TestOwnH1FullDuplexNoContinueInsideAnswer(t *testing.T) {
	_, addr := startOwnH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "start;")
		w.(http.Flusher).Flush()
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "got "+string(b))
	}))
	c := dialFor(t, addr, 5*time.Second)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	time.Sleep(200 * time.Millisecond) // the answer began; the client sends its body anyway
	io.WriteString(c, "hello")
	resp, body := readAnswer(t, bufio.NewReader(c), "POST")
	if resp.StatusCode != http.StatusOK || body != "start;got hello" || !resp.Close {
		t.Errorf("answer %d %q close %v", resp.StatusCode, body, resp.Close)
	}
}
