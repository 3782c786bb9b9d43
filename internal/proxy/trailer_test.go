package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// rawChunkedUpstream answers every request with head and then the parts,
// each in a write of its own with a pause between them, so that the
// gateway's reads end where a part does.
func rawChunkedUpstream(t *testing.T, head string, parts ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					if _, err := io.WriteString(c, head); err != nil {
						return
					}
					for _, p := range parts {
						time.Sleep(20 * time.Millisecond)
						if _, err := io.WriteString(c, p); err != nil {
							return
						}
					}
				}
			})
		}
	})
	return "http://" + ln.Addr().String()
}

// TestSmallChunkedBodyKeepsItsTrailer: a chunked answer small enough for
// the server to give it a length, whose end and trailer the gateway reads
// after its last body bytes went to the client (or with no body at all),
// still reaches the client chunked, with the upstream's trailer, on both
// HTTP/1 server paths.
func TestSmallChunkedBodyKeepsItsTrailer(t *testing.T) {
	const head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
	cases := []struct {
		name  string
		body  string
		parts []string
	}{
		{"one write", "hello", []string{"5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n"}},
		{"empty body", "", []string{"0\r\nX-Sum: 42\r\n\r\n"}},
		{"last chunk split in its size line", "hello", []string{"5\r\nhello\r\n0", "\r\nX-Sum: 42\r\n\r\n"}},
		{"last chunk split in its CRLF", "hello", []string{"5\r\nhello\r", "\n0\r\nX-Sum: 42\r\n\r\n"}},
		{"trailer apart", "hello", []string{"5\r\nhello\r\n", "0\r\nX-Sum: 42\r\n\r\n"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			up := rawChunkedUpstream(t, head, c.parts...)
			gws := map[string]string{"net": newGateway(t, simpleConfig, up).URL, "own": newOwnGateway(t, simpleConfig, up)}
			for path, gw := range gws {
				for range 2 { // and again on the reused upstream connection
					resp, err := http.Get(gw + "/t")
					if err != nil {
						t.Fatal(err)
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || string(b) != c.body || resp.Trailer.Get("X-Sum") != "42" {
						t.Errorf("%s: body %q %v, length %d, trailer %v", path, b, err, resp.ContentLength, resp.Trailer)
						break
					}
				}
			}
		})
	}
}
