package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// Hardening of the proxy, second round (issue 10): what reaches the
// upstream after path stripping and plugins, the ports of Host, and what
// of an upstream response reaches the client.

// px2Script is an HTML page that a browser would run if it were served
// as text/html.
const px2Script = "<html><script>alert(1)</script></html>"

// px2Untyped answers without Content-Type: /cl with a Content-Length
// body, /chunked with a chunked one, /typed with a declared type, and a
// WebSocket handshake with a 403 page.
func px2Untyped(head string, c net.Conn, _ *bufio.Reader) bool {
	const nosniff = "X-Content-Type-Options: nosniff\r\n"
	switch path := strings.Fields(head)[1]; {
	case upHeadField(head, "Upgrade") != "":
		fmt.Fprintf(c, "HTTP/1.1 403 Forbidden\r\n%sContent-Length: %d\r\n\r\n%s", nosniff, len(px2Script), px2Script)
		return false
	case path == "/chunked":
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\n%sTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", nosniff, len(px2Script), px2Script)
	case path == "/typed":
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	default:
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s", nosniff, len(px2Script), px2Script)
	}
	return true
}

// TestPx2NoSniffedContentType: a response the upstream sent without
// Content-Type reaches the client without one, as with Kong and NGINX,
// whatever its framing, over HTTP/1.1 and HTTP/2, when a WebSocket
// handshake is declined, from an HTTP/2 (grpc) upstream, and for a
// request-termination body without content_type. net/http
// would otherwise sniff the body and call an HTML page text/html, so a
// script in an upload or a JSON value ran in the browser although the
// upstream asked for no sniffing.
func TestPx2NoSniffedContentType(t *testing.T) {
	up := upStartRaw(t, px2Untyped)
	h2addr := gwtest.StartH2CUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // net/http would sniff the upstream's own answer
		io.WriteString(w, px2Script)
	}))
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  routes:
  - paths: [/]
  - paths: [/term]
    plugins: [{name: request-termination, config: {status_code: 200, body: %q}}]
- name: g
  url: grpc://%s
  routes: [{protocols: [grpc], paths: [/grpc/]}]
`, up.URL, px2Script, h2addr), gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})

	check := func(t *testing.T, resp *http.Response, err error, status int) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != status || string(body) != px2Script {
			t.Fatalf("got %d %q (%v), want %d and the page", resp.StatusCode, body, err, status)
		}
		if ct, ok := resp.Header["Content-Type"]; ok {
			t.Fatalf("the gateway added Content-Type %q to a response that had none", ct)
		}
	}
	for _, path := range []string{"/cl", "/chunked"} {
		t.Run("HTTP/1.1 "+path, func(t *testing.T) {
			resp, err := http.Get(gw.URL + path)
			check(t, resp, err, 200)
		})
		t.Run("HTTP/2 "+path, func(t *testing.T) {
			resp, err := gwtest.H2CClient(t).Get(gw.URL + path)
			check(t, resp, err, 200)
		})
	}
	t.Run("declined WebSocket handshake", func(t *testing.T) {
		c, br := upDial(t, gw)
		io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		check(t, resp, err, 403)
	})
	t.Run("request-termination body", func(t *testing.T) {
		resp, err := http.Get(gw.URL + "/term")
		check(t, resp, err, 200)
	})
	t.Run("HTTP/2 upstream", func(t *testing.T) {
		resp, err := gwtest.H2CClient(t).Get(gw.URL + "/grpc/x")
		check(t, resp, err, 200)
	})
	t.Run("declared type kept", func(t *testing.T) {
		resp, err := http.Get(gw.URL + "/typed")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q, want the upstream's", ct)
		}
	})
}

// TestPx2StripPathDotParams: after strip_path takes the route's prefix
// off, what is left may begin with a dot segment carrying parameters
// (`/public..;/secret` leaves `..;/secret`), which Tomcat and Spring read
// as `..`: the rest is sanitised as a dot segment, so the upstream gets
// `/api/secret`, below the service's path, not above it.
// A path a plugin renders (request-transformer's replace.uri from a
// capture or a query parameter) is held to the rules of client paths: no
// dot segments, no dot segments with parameters, no encoded slashes.
func TestPx2StripPathDotParams(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s/api
  routes:
  - name: public
    paths: [/public]
    strip_path: true
  - name: files
    paths: ['~/files/x(?<f>.*)$']
    strip_path: false
    plugins:
    - name: request-transformer
      config: {replace: {uri: '/store/$(uri_captures.f)'}}
  - name: query
    paths: [/q]
    plugins:
    - name: request-transformer
      config: {replace: {uri: '/store/$(query_params.p)/data'}}
`, up.URL), gwtest.Options{})
	addr := hostPort(gw.URL)
	for _, path := range []string{"/public..;/secret", "/public%2e%2e;/secret", "/public..;x=1/secret",
		"/public.;/secret", "/public..%3b/secret", "/public%2E%2E%3Bx/secret"} {
		t.Run(path, func(t *testing.T) {
			status, body := reqRaw(t, addr, "GET "+path+" HTTP/1.1\r\nHost: a.example.com\r\nConnection: close\r\n\r\n")
			if status != 200 {
				t.Fatalf("got %d %q, want the upstream's 200", status, body)
			}
			if got := gwtest.DecodeSeen(t, body).Path; got != "/api/secret" {
				t.Fatalf("upstream got %q, want /api/secret", got)
			}
		})
	}
	for _, path := range []string{"/files/x..;/y", "/files/x../y", "/files/x%2e%2e/y", "/files/x.;/y",
		"/q?p=..", "/q?p=..;x", "/q?p=%2e%2e", "/q?p=a%252Fb", "/q?p=a%5Cb"} {
		t.Run(path, func(t *testing.T) {
			status, body := reqRaw(t, addr, "GET "+path+" HTTP/1.1\r\nHost: a.example.com\r\nConnection: close\r\n\r\n")
			if status != 400 || kongMessage(body) != "Bad request" {
				t.Fatalf("got %d %q, want 400 Bad request", status, body)
			}
		})
	}
	t.Run("rendered paths that stay put", func(t *testing.T) {
		for path, want := range map[string]string{
			"/files/xa/b":    "/store/a/b",
			"/files/x.y":     "/store/.y",
			"/q?p=a.b":       "/store/a.b/data",
			"/q?p=a;v=1":     "/store/a;v=1/data",
			"/public/ok;v=1": "/api/ok;v=1",
			// A matrix parameter on the stripped prefix: Kong's join.
			"/public;v=2/items": "/api/;v=2/items",
			"/q?p=;x/y":         "/store/;x/y/data",
		} {
			status, body := reqRaw(t, addr, "GET "+path+" HTTP/1.1\r\nHost: a.example.com\r\nConnection: close\r\n\r\n")
			if status != 200 {
				t.Fatalf("%s: got %d %q", path, status, body)
			}
			if got := gwtest.DecodeSeen(t, body).Path; got != want {
				t.Fatalf("%s: upstream got %q, want %q", path, got, want)
			}
		}
	})
}

// TestPx2HostPortLeadingZero: a Host port with a leading zero is refused
// with 400. It named the same port to an upstream that reads it as a
// number, but not to the router, which compares ports as written:
// `admin.example.com:08000` missed the route for
// `admin.example.com:8000` (with its key-auth) and fell to a catch-all
// that preserved the Host.
func TestPx2HostPortLeadingZero(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: admin
  url: %s
  routes:
  - name: admin
    hosts: [admin.example.com:8000, legacy.example.com:08080]
    plugins: [{name: key-auth}]
- name: open
  url: %s
  routes: [{name: all, paths: [/], preserve_host: true}]
`, up.URL, up.URL), gwtest.Options{})
	addr := hostPort(gw.URL)
	for host, want := range map[string]int{
		"admin.example.com:8000":   401,
		"admin.example.com:08000":  400,
		"admin.example.com:008000": 400,
		"admin.example.com:0":      200,
		"admin.example.com:00":     400,
		"other.example.com:0080":   400,
		"[::1]:0080":               400,
		// A leading zero in the configuration is the same port.
		"legacy.example.com:8080": 401,
	} {
		status, body := reqRaw(t, addr, "GET /x HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
		if status != want {
			t.Errorf("Host %s: got %d %q, want %d", host, status, body, want)
		}
		if want == 400 && kongMessage(body) != "Bad request" {
			t.Errorf("Host %s: body %q", host, body)
		}
	}
}

// TestPx2TrailerFields: trailer fields that must not be in a trailer
// (RFC 9110 6.5.1: framing, routing, authentication, response control,
// hop-by-hop) are dropped; the others reach the client.
func TestPx2TrailerFields(t *testing.T) {
	forbidden := []string{"Content-Length", "Transfer-Encoding", "Set-Cookie", "Connection", "Keep-Alive",
		"Upgrade", "Host", "Authorization", "Www-Authenticate", "Location", "Content-Type", "Content-Encoding",
		"Cache-Control", "Trailer", "Te", "Proxy-Authenticate", "Content-Range", "Vary", "Retry-After",
		"Age", "Expires", "Date", "Pragma", "Proxy-Connection"}
	up := upStartRaw(t, func(head string, c net.Conn, _ *bufio.Reader) bool {
		var b strings.Builder
		b.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n")
		for _, f := range forbidden {
			fmt.Fprintf(&b, "%s: 1\r\n", f)
		}
		b.WriteString("X-Checksum: abc\r\nServer-Timing: db;dur=53\r\n\r\n")
		io.WriteString(c, b.String())
		return true
	})
	gw := gwtest.Start(t, proxyAllConfig(up.URL), gwtest.Options{})
	for _, te := range []string{"", "TE: trailers\r\n"} {
		c, br := upDial(t, gw)
		fmt.Fprintf(c, "GET /t HTTP/1.1\r\nHost: a.example.com\r\n%s\r\n", te)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != "ok" {
			t.Fatalf("body %q %v", body, err)
		}
		if resp.Trailer.Get("X-Checksum") != "abc" || resp.Trailer.Get("Server-Timing") != "db;dur=53" {
			t.Fatalf("allowed trailer fields lost: %v", resp.Trailer)
		}
		for _, f := range forbidden {
			if v, ok := resp.Trailer[f]; ok {
				t.Errorf("%q: trailer field %s: %q reached the client", te, f, v)
			}
		}
	}
}

// TestPx2SmallBodyTrailer: a chunked answer with a trailer that the
// gateway finishes within 2 KiB without a flush (an empty body, a last
// chunk whose size line arrives in two reads) reaches the client chunked
// with its trailer, on both HTTP/1 servers, instead of with a length and
// no trailer.
func TestPx2SmallBodyTrailer(t *testing.T) {
	up := upStartRaw(t, func(head string, c net.Conn, _ *bufio.Reader) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n")
		if strings.Fields(head)[1] == "/split" {
			io.WriteString(c, "2\r\nok\r\n0")
			time.Sleep(20 * time.Millisecond)
			io.WriteString(c, "\r\nX-Sum: 42\r\n\r\n")
			return true
		}
		io.WriteString(c, "0\r\nX-Sum: 42\r\n\r\n")
		return true
	})
	for _, server := range []string{"own", "net"} {
		gw := gwtest.Start(t, proxyAllConfig(up.URL), gwtest.Options{Args: []string{"--http1-server", server}})
		for path, want := range map[string]string{"/empty": "", "/split": "ok"} {
			resp, err := http.Get(gw.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(body) != want || resp.Trailer.Get("X-Sum") != "42" {
				t.Errorf("%s %s: body %q %v, length %d, trailer %v", server, path, body, err, resp.ContentLength, resp.Trailer)
			}
		}
	}
}

// TestPx2TrailerFieldsH2: the same holds for the trailer of an HTTP/2
// (grpc) upstream, whose grpc-status still arrives.
func TestPx2TrailerFieldsH2(t *testing.T) {
	h2addr := gwtest.StartH2CUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.WriteHeader(200)
		for k, v := range map[string]string{"Grpc-Status": "0", "X-Checksum": "abc", "Set-Cookie": "a=b", "Location": "/evil"} {
			w.Header().Set(http.TrailerPrefix+k, v)
		}
	}))
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: g
  url: grpc://%s
  routes: [{protocols: [grpc], paths: [/]}]
`, h2addr), gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
	req, _ := http.NewRequest("POST", gw.URL+"/svc/Method", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	resp, err := gwtest.H2CClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("X-Checksum") != "abc" {
		t.Fatalf("trailer fields lost: %v", resp.Trailer)
	}
	for _, f := range []string{"Set-Cookie", "Location"} {
		if v, ok := resp.Trailer[f]; ok {
			t.Errorf("trailer field %s: %q reached the client", f, v)
		}
	}
}

// TestPx2TransferEncodingTwice: a response that names chunked twice, in
// two fields or in one, says its body was chunked twice; read once, it
// would reach the client still chunked. It is refused with 502 like the
// other conflicting framings.
func TestPx2TransferEncodingTwice(t *testing.T) {
	answers := map[string]string{
		"/two-fields": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"/one-field":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"/empty-then": "HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	}
	up := upStartRaw(t, func(head string, c net.Conn, _ *bufio.Reader) bool {
		io.WriteString(c, answers[strings.Fields(head)[1]])
		return false
	})
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  retries: 0
  routes: [{paths: [/]}]
`, up.URL), gwtest.Options{})
	for path := range answers {
		resp, err := http.Get(gw.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 502 || kongMessage(string(body)) != "An invalid response was received from the upstream server" {
			t.Errorf("%s: got %d %q, want 502", path, resp.StatusCode, body)
		}
	}
}

// TestPx2ExpectRefusalCloses: a request with `Expect: 100-continue`
// refused before 100 Continue went out gets its answer and then the
// connection is closed at once: the client holds its body back, and the
// gateway must not sit waiting for it until --client-body-timeout (here a
// minute), small or chunked.
func TestPx2ExpectRefusalCloses(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  routes:
  - paths: [/secure]
    plugins: [{name: key-auth}]
`, up.URL), gwtest.Options{Args: []string{"--client-body-timeout", "60s"}})
	for _, tc := range []struct {
		name, path, framing string
		status              int
	}{
		{"length", "/secure", "Content-Length: 5\r\n", 401},
		{"chunked", "/secure", "Transfer-Encoding: chunked\r\n", 401},
		{"no route", "/nowhere", "Content-Length: 5\r\n", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, br := upDial(t, gw)
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: a.example.com\r\n%sExpect: 100-continue\r\n\r\n", tc.path, tc.framing)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !resp.Close {
				t.Fatalf("got %d %q (close %v), want %d and Connection: close", resp.StatusCode, body, resp.Close, tc.status)
			}
			// upDial's deadline is 10 s, far below the body timeout.
			rest, err := io.ReadAll(br)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the connection stayed open after the refusal, waiting for the body")
			}
			if len(rest) != 0 {
				t.Fatalf("more after the answer: %q", rest)
			}
		})
	}
	t.Run("without Expect the connection stays", func(t *testing.T) {
		c, br := upDial(t, gw)
		io.WriteString(c, "POST /secure?apikey=nope HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 5\r\n\r\nhello")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 401 || resp.Close {
			t.Fatalf("got %d close %v: a request without Expect keeps its connection", resp.StatusCode, resp.Close)
		}
	})
}
