package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// srvGateway is a gateway with one echo service on every path, served on
// an h2c-enabled plain listener and a TLS listener for a.example.com.
type srvGateway struct {
	gw        *gwtest.Gateway
	up        *gwtest.Echo
	plainAddr string
	tlsAddr   string
}

func srvStart(t *testing.T, args ...string) *srvGateway {
	t.Helper()
	up := gwtest.StartEcho(t, "a")
	cert, key := selfSigned(t, "a.example.com")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  routes: [{paths: [/]}]
certificates:
- cert: |
%s
  key: |
%s
  snis: [a.example.com]
`, up.URL, indent(cert, "    "), indent(key, "    ")), gwtest.Options{ProxyListen: "127.0.0.1:0 http2, 127.0.0.1:0 ssl", Args: args})
	if len(gw.URLs) != 2 {
		t.Fatalf("listeners: %v", gw.URLs)
	}
	return &srvGateway{gw: gw, up: up,
		plainAddr: strings.TrimPrefix(gw.URLs[0], "http://"),
		tlsAddr:   strings.TrimPrefix(gw.URLs[1], "http://")}
}

// srvDial opens a raw connection to the plain or the TLS listener; alpn
// is the one protocol offered over TLS.
func (g *srvGateway) srvDial(t *testing.T, secure bool, alpn string) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	if secure {
		c, err = tls.Dial("tcp", g.tlsAddr, &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true, NextProtos: []string{alpn}})
	} else {
		c, err = net.Dial("tcp", g.plainAddr)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSrvObsFold: a header line folded onto the next line (obs-fold) is
// refused with 400 and the connection closed, whether the line before it
// ended in CRLF or a bare LF, with a space or a tab, on Transfer-Encoding,
// Content-Length or any other field, on plain and TLS listeners. Nothing
// reaches the upstream.
func TestSrvObsFold(t *testing.T) {
	g := srvStart(t)
	for _, tc := range []struct{ name, req string }{
		{"te bare LF space", "POST /f HTTP/1.1\r\nHost: a.example.com\r\nTransfer-Encoding:\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"te bare LF tab", "POST /f HTTP/1.1\r\nHost: a.example.com\r\nTransfer-Encoding:\n\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"cl bare LF space", "POST /f HTTP/1.1\r\nHost: a.example.com\r\nContent-Length:\n 5\r\n\r\nhello"},
		{"cl bare LF tab", "POST /f HTTP/1.1\r\nHost: a.example.com\r\nContent-Length:\n\t5\r\n\r\nhello"},
		{"other field bare LF space", "GET /f HTTP/1.1\r\nHost: a.example.com\r\nX-A: b\n c\r\n\r\n"},
		{"other field bare LF tab", "GET /f HTTP/1.1\nHost: a.example.com\nX-A: b\n\tc\n\n"},
		{"te CRLF space", "POST /f HTTP/1.1\r\nHost: a.example.com\r\nTransfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{"other field CRLF tab", "GET /f HTTP/1.1\r\nHost: a.example.com\r\nX-A: b\r\n\tc\r\n\r\n"},
	} {
		for _, secure := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s tls=%v", tc.name, secure), func(t *testing.T) {
				before := g.up.Count.Load()
				c := g.srvDial(t, secure, "http/1.1")
				if _, err := io.WriteString(c, tc.req); err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(c)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 400 || string(body) != `{"message":"Bad request"}` || !resp.Close {
					t.Fatalf("got %d close=%v %q, want 400 with Connection: close", resp.StatusCode, resp.Close, body)
				}
				if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
					t.Fatalf("connection not closed after the 400: %q, %v", rest, err)
				}
				if n := g.up.Count.Load() - before; n != 0 {
					t.Fatalf("upstream saw %d requests", n)
				}
			})
		}
	}
	t.Run("unfolded still served", func(t *testing.T) {
		for _, secure := range []bool{false, true} {
			c := g.srvDial(t, secure, "http/1.1")
			io.WriteString(c, "POST /f HTTP/1.1\nHost: a.example.com\nTransfer-Encoding: chunked\nX-A: b c\n\n5\r\nhello\r\n0\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || gwtest.DecodeSeen(t, string(body)).Body != "hello" {
				t.Fatalf("tls=%v: %d %s", secure, resp.StatusCode, body)
			}
		}
	})
}
