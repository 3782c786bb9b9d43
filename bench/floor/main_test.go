//go:build linux

package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Both modes relay keep-alive requests and their answers byte for byte, and
// close a connection whose answer they cannot frame.
func TestRelay(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, "answer to "+r.URL.Path)
	}))
	defer backend.Close()
	for _, mode := range []func(string, string) error{goroutines, loop} {
		addr := freeAddr(t)
		go mode(addr, strings.TrimPrefix(backend.URL, "http://"))
		var c net.Conn
		for deadline := time.Now().Add(5 * time.Second); ; {
			var err error
			if c, err = net.Dial("tcp", addr); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		for _, path := range []string{"/a", "/b", "/c"} {
			io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != "answer to "+path {
				t.Fatalf("%s: %q", path, b)
			}
		}
		io.WriteString(c, "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("chunked answer: %v, want the connection closed", err)
		}
		c.Close()
	}
}
