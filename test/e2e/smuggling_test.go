package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// wantBadRequestThenClose reads the next response from br: Kong's 400
// with Connection: close, and nothing after it before the connection ends.
func wantBadRequestThenClose(t *testing.T, br *bufio.Reader) {
	t.Helper()
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
}

// TestRequestSmuggling: a head with both Content-Length and
// Transfer-Encoding never reaches the upstream, on plain and TLS listeners;
// it is answered 400 and the connection closed. Normal chunked requests, h2
// over TLS and h2c keep working.
func TestRequestSmuggling(t *testing.T) {
	g := srvStart(t)
	up, cert, plainAddr, tlsAddr := g.up, g.cert, g.plainAddr, g.tlsAddr
	dial := func(t *testing.T, secure bool) net.Conn { return g.srvDial(t, secure, "http/1.1") }
	smuggle := "POST /s HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 45\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a.example.com\r\n\r\n"

	for _, tc := range []struct {
		name   string
		secure bool
		prefix string // requests sent before the smuggling one
		ok     int    // how many of them are answered 200
	}{
		{name: "plain"},
		{name: "tls", secure: true},
		{name: "plain, te first", prefix: ""},
		{name: "plain, after a keep-alive request", prefix: "GET /first HTTP/1.1\r\nHost: a.example.com\r\n\r\n", ok: 1},
		{name: "tls, after a keep-alive request", secure: true, prefix: "GET /first HTTP/1.1\r\nHost: a.example.com\r\n\r\n", ok: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			send := smuggle
			if tc.name == "plain, te first" {
				send = strings.Replace(smuggle, "Content-Length: 45\r\nTransfer-Encoding: chunked", "transfer-encoding: chunked\r\ncontent-length: 45", 1)
			}
			before := up.Count.Load()
			c := dial(t, tc.secure)
			if _, err := io.WriteString(c, tc.prefix+send); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			for range tc.ok {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				if resp.StatusCode != 200 {
					t.Fatalf("request before the smuggling one: %d", resp.StatusCode)
				}
			}
			wantBadRequestThenClose(t, br)
			if got := up.Count.Load() - before; got != int64(tc.ok) {
				t.Fatalf("upstream saw %d requests, want %d", got, tc.ok)
			}
		})
	}

	t.Run("chunked post passes", func(t *testing.T) {
		for _, secure := range []bool{false, true} {
			c := dial(t, secure)
			body := "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"
			fmt.Fprintf(c, "POST /chunked HTTP/1.1\r\nHost: a.example.com\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
			fmt.Fprintf(c, "GET /next HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
			br := bufio.NewReader(c)
			for _, want := range []string{body, ""} {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 {
					t.Fatalf("secure=%v: %d %s", secure, resp.StatusCode, got)
				}
				if seen := gwtest.DecodeSeen(t, string(got)); seen.Body != want {
					t.Fatalf("secure=%v: upstream got body %q, want %q", secure, seen.Body, want)
				}
			}
		}
	})

	t.Run("h2 over tls", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(cert))
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "a.example.com"}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Post("https://"+tlsAddr+"/h2", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("%d %s", resp.StatusCode, resp.Proto)
		}
	})

	t.Run("h2c", func(t *testing.T) {
		resp, err := gwtest.H2CClient(t).Get("http://" + plainAddr + "/h2c")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("%d %s", resp.StatusCode, resp.Proto)
		}
	})
}
