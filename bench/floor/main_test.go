//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestFraming(t *testing.T) {
	for _, c := range []struct {
		in        string
		done, bad bool
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true, false},
		{"GET / HTTP/1.1\r\nHost: x\r\n", false, false},
		{"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", true, true},
		{"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", true, true},
		{"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", true, true},
	} {
		if done, bad := requestDone([]byte(c.in)); done != c.done || bad != c.bad {
			t.Errorf("request %q: done %v bad %v, want %v %v", c.in, done, bad, c.done, c.bad)
		}
	}
	for _, c := range []struct {
		in        string
		done, bad bool
	}{
		{"HTTP/1.1 200 OK\r\ncontent-LENGTH: 2\r\n\r\nhi", true, false},
		{"HTTP/1.1 200 OK\r\nContent-Length:  5\r\n\r\nhi", false, false},
		{"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", true, false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, true},
		{"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false, true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", true, true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", false, true},
	} {
		if done, bad := answerDone([]byte(c.in)); done != c.done || bad != c.bad {
			t.Errorf("answer %q: done %v bad %v, want %v %v", c.in, done, bad, c.done, c.bad)
		}
	}
}

// startFloor serves on a free port in mode until the test ends.
func startFloor(t *testing.T, mode, backend string) string {
	t.Helper()
	if mode == "goroutine" {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go goroutines(ln, backend)
		t.Cleanup(func() { ln.Close() })
		return ln.Addr().String()
	}
	lfd, err := listenFD("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	stop, done := new(atomic.Bool), make(chan error, 1)
	go func() { done <- loop(lfd, backend, stop) }()
	t.Cleanup(func() {
		stop.Store(true)
		if err := <-done; err != nil {
			t.Errorf("loop: %v", err)
		}
		syscall.Close(lfd)
	})
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// Both modes relay keep-alive requests and their answers byte for byte,
// an answer that arrives in pieces too, and close a connection whose
// request has a body or whose answer they cannot frame.
func TestRelay(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.(http.Flusher).Flush()
		case "/pieces":
			w.Header().Set("Content-Length", "12")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
			io.WriteString(w, "in ")
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
			io.WriteString(w, "pieces")
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
			io.WriteString(w, "!!!")
			return
		}
		io.WriteString(w, "answer to "+r.URL.Path)
	}))
	defer backend.Close()
	for _, mode := range []string{"goroutine", "loop"} {
		t.Run(mode, func(t *testing.T) {
			addr := startFloor(t, mode, strings.TrimPrefix(backend.URL, "http://"))
			dial := func() (net.Conn, *bufio.Reader) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				c.SetDeadline(time.Now().Add(5 * time.Second))
				return c, bufio.NewReader(c)
			}
			c, br := dial()
			for _, path := range []string{"/a", "/pieces", "/c"} {
				io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				want := "answer to " + path
				if path == "/pieces" {
					want = "in pieces!!!"
				}
				if string(b) != want {
					t.Fatalf("%s: %q, want %q", path, b, want)
				}
			}
			for _, req := range []string{
				"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n",
				"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok",
			} {
				c, br := dial()
				io.WriteString(c, req)
				if _, err := br.ReadByte(); err != io.EOF {
					t.Errorf("%q: %v, want the connection closed", req, err)
				}
			}
		})
	}
}
