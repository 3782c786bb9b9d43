package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// Hardening of the upstream side of the proxy (issue 10, items 8, 9, 10
// and 12): what the gateway sends upstream and what it accepts back.

// upDial opens a raw connection to the gateway's first listener, closed
// when the test ends; every read and write is bounded by a generous
// deadline so a hang fails the test instead of stalling it.
func upDial(t *testing.T, gw *gwtest.Gateway) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", hostPort(gw.URL))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// upRaw is a TCP upstream that reads each request head and answers with
// what answer returns for it, written raw: it lets a test send what no
// well-behaved HTTP server would. It records the heads it read.
type upRaw struct {
	ln    net.Listener
	URL   string
	mu    sync.Mutex
	heads []string
}

// upStartRaw starts a raw upstream; answer gets the request head (request
// line and fields, CRLF-separated) and the connection, and writes the
// response. The connection is closed when answer returns false.
func upStartRaw(t *testing.T, answer func(head string, c net.Conn, br *bufio.Reader) (keepOpen bool)) *upRaw {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upRaw{ln: ln, URL: "http://" + ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(15 * time.Second))
				br := bufio.NewReader(c)
				for {
					head, err := upReadHead(br)
					if err != nil {
						return
					}
					u.mu.Lock()
					u.heads = append(u.heads, head)
					u.mu.Unlock()
					if !answer(head, c, br) {
						return
					}
				}
			}()
		}
	}()
	return u
}

// Heads are the request heads the upstream read so far.
func (u *upRaw) Heads() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.heads...)
}

func upReadHead(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line == "\r\n" || line == "\n" {
			return b.String(), nil
		}
		b.WriteString(line)
	}
}

// upHeadField is the value of field name in a raw request head ("" when
// absent), matched case-insensitively.
func upHeadField(head, name string) string {
	for _, line := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestUpstreamExpectContinue: a client that sends `Expect: 100-continue`
// gets the final answer at once when the gateway refuses the request
// (auth, no upstream), without 100 Continue and without the gateway
// waiting for the body, and the connection is closed; when the request is
// forwarded, 100 Continue comes when the gateway starts forwarding the
// body. The gateway answers Expect itself, as NGINX does: the upstream
// never sees it.
func TestUpstreamExpectContinue(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
consumers:
- username: alice
  keyauth_credentials: [{key: k1}]
services:
- name: a
  url: %s
  routes:
  - name: auth
    paths: [/auth]
    plugins: [{name: key-auth}]
  - name: open
    paths: [/open]
- name: dead
  url: %s
  routes: [{paths: [/dead]}]
`, up.URL, deadURL), gwtest.Options{})

	refused := func(t *testing.T, path string, status int, msg string) {
		c, br := upDial(t, gw)
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n", path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("no answer without the body: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status || kongMessage(string(body)) != msg {
			t.Fatalf("got %d %q, want %d %q (no 100 Continue first)", resp.StatusCode, body, status, msg)
		}
		if !resp.Close {
			t.Errorf("the connection is kept open with 10 MB of unread body on it")
		}
		if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
			t.Fatalf("connection not closed after the answer: %q, %v", rest, err)
		}
	}
	t.Run("key-auth refuses at once", func(t *testing.T) {
		refused(t, "/auth", 401, "No API key found in request")
		if n := up.Count.Load(); n != 0 {
			t.Fatalf("upstream saw %d requests", n)
		}
	})
	t.Run("upstream down", func(t *testing.T) {
		refused(t, "/dead", 502, "An invalid response was received from the upstream server")
	})

	t.Run("forwarded", func(t *testing.T) {
		for _, path := range []string{"/open", "/auth?apikey=k1"} {
			c, br := upDial(t, gw)
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", path)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusContinue {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("%s: got %d %q before the body was sent, want 100 Continue", path, resp.StatusCode, body)
			}
			io.WriteString(c, "hello")
			if resp, err = http.ReadResponse(br, nil); err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
			}
			seen := gwtest.DecodeSeen(t, string(body))
			if seen.Body != "hello" || len(seen.Header["Expect"]) != 0 {
				t.Fatalf("%s: upstream got body %q, Expect %q; want the body and no Expect", path, seen.Body, seen.Header["Expect"])
			}
		}
	})
}

// upSwitcher answers 101 to any request that asks to switch to something
// (switching to what the request named, or to h2c when it named nothing),
// and 200 "plain" otherwise: an upstream that would take an h2c upgrade.
func upSwitcher(head string, c net.Conn, _ *bufio.Reader) bool {
	to := upHeadField(head, "Upgrade")
	if to == "" {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain")
		return true
	}
	if strings.EqualFold(to, "websocket") {
		to = "h2c"
	}
	fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", to)
	// What an HTTP/2 server sends first after switching: its SETTINGS.
	io.WriteString(c, "\x00\x00\x00\x04\x00\x00\x00\x00\x00")
	time.Sleep(time.Second)
	return false
}

// TestUpstreamUpgradeOnlyWebSocket: only a WebSocket upgrade goes
// upstream, as in Kong. An h2c upgrade (with or without HTTP2-Settings
// named in Connection) or any other Upgrade token is dropped, with
// HTTP2-Settings, and the request is forwarded as a plain one: speaking
// HTTP/2 straight to the upstream over the client's connection would
// skip every per-request check of the gateway. An upstream that switches
// to another protocol than the WebSocket one asked for gets 502.
func TestUpstreamUpgradeOnlyWebSocket(t *testing.T) {
	up := upStartRaw(t, upSwitcher)
	gw := gwtest.Start(t, proxyAllConfig(up.URL), gwtest.Options{})
	for _, tc := range []struct{ name, fields string }{
		{"h2c", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"},
		{"h2c, settings not in Connection", "Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"},
		{"h2c upper case", "Connection: upgrade\r\nUpgrade: H2C\r\nHttp2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"},
		{"h2c and websocket", "Connection: Upgrade\r\nUpgrade: h2c, websocket\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"},
		{"other protocol", "Connection: Upgrade\r\nUpgrade: IRC/6.9\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.Heads())
			c, br := upDial(t, gw)
			fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: a.example.com\r\n%s\r\n", tc.fields)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "plain" {
				t.Fatalf("got %d %q, want the upstream's plain 200", resp.StatusCode, body)
			}
			heads := up.Heads()
			if len(heads) != before+1 {
				t.Fatalf("upstream saw %d requests, want 1", len(heads)-before)
			}
			head := heads[len(heads)-1]
			for _, f := range []string{"Upgrade", "HTTP2-Settings"} {
				if v := upHeadField(head, f); v != "" {
					t.Errorf("upstream got %s: %q", f, v)
				}
			}
			if v := upHeadField(head, "Connection"); strings.Contains(strings.ToLower(v), "upgrade") {
				t.Errorf("upstream got Connection: %q", v)
			}
		})
	}
	t.Run("websocket answered with another protocol", func(t *testing.T) {
		c, br := upDial(t, gw)
		io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 502 {
			t.Fatalf("got %d %q, want 502", resp.StatusCode, body)
		}
		if head := up.Heads()[len(up.Heads())-1]; upHeadField(head, "Upgrade") != "websocket" {
			t.Fatalf("the WebSocket handshake did not reach the upstream as one: %q", head)
		}
	})
}

// upBigHeads answers /line/N with one header field of N bytes and
// /lines/N with N bytes of header fields of 1 KiB each.
func upBigHeads(head string, c net.Conn, _ *bufio.Reader) bool {
	var kind string
	var n int
	path := strings.Fields(head)[1]
	fmt.Sscanf(strings.ReplaceAll(path, "/", " "), "%s %d", &kind, &n)
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n")
	if kind == "line" {
		fmt.Fprintf(&b, "X-Big: %s\r\n", strings.Repeat("a", n-len("X-Big: \r\n")))
	} else {
		for i := 0; n > 0; i++ {
			field := fmt.Sprintf("X-Many-%d: ", i)
			size := min(n, 1024)
			b.WriteString(field + strings.Repeat("b", max(size-len(field)-2, 0)) + "\r\n")
			n -= size
		}
	}
	b.WriteString("\r\nok")
	io.WriteString(c, b.String())
	return true
}

// TestUpstreamResponseHeaderSize: response header blocks up to
// --upstream-max-header-bytes (64 KiB by default, as the request side)
// pass, in one field or many; a larger one is a 502 after one attempt,
// never retried, since every try would fail the same way.
func TestUpstreamResponseHeaderSize(t *testing.T) {
	up := upStartRaw(t, upBigHeads)
	cfg := fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  retries: 5
  routes: [{paths: [/]}]
`, up.URL)
	get := func(t *testing.T, gw *gwtest.Gateway, path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(gw.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	gw := gwtest.Start(t, cfg, gwtest.Options{})
	for _, path := range []string{"/line/32768", "/lines/32768", "/line/64000", "/lines/64000"} {
		resp, body := get(t, gw, path)
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
		}
		if strings.HasPrefix(path, "/line/") && len(resp.Header.Get("X-Big")) < 32000 {
			t.Fatalf("%s: X-Big lost (%d bytes)", path, len(resp.Header.Get("X-Big")))
		}
	}
	for _, path := range []string{"/line/70000", "/lines/70000"} {
		before := len(up.Heads())
		resp, body := get(t, gw, path)
		if resp.StatusCode != 502 || kongMessage(string(body)) != "An invalid response was received from the upstream server" {
			t.Fatalf("%s: %d %q, want 502", path, resp.StatusCode, body)
		}
		if n := len(up.Heads()) - before; n != 1 {
			t.Fatalf("%s: %d upstream attempts, want 1", path, n)
		}
	}

	t.Run("flag", func(t *testing.T) {
		gw := gwtest.Start(t, cfg, gwtest.Options{Args: []string{"--upstream-max-header-bytes", "131072"}})
		for path, want := range map[string]int{"/line/100000": 200, "/lines/100000": 200, "/line/140000": 502} {
			if resp, body := get(t, gw, path); resp.StatusCode != want {
				t.Fatalf("%s: %d %q, want %d", path, resp.StatusCode, body, want)
			}
		}
	})
}

// TestUpstreamResponseHeaderSizeHTTP2: the bound holds for HTTP/2 (grpc)
// upstreams too, whose client is net/http's.
func TestUpstreamResponseHeaderSizeHTTP2(t *testing.T) {
	h2addr := gwtest.StartH2CUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscanf(r.URL.Path, "/h2/%d", &n)
		w.Header().Set("X-Big", strings.Repeat("a", n))
		io.WriteString(w, "ok")
	}))
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: h2
  url: grpc://%s
  routes: [{paths: [/h2], strip_path: false}]
`, h2addr), gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
	client := gwtest.H2CClient(t)
	for path, want := range map[string]int{"/h2/40000": 200, "/h2/100000": 502} {
		resp, err := client.Get(gw.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 200 && len(resp.Header.Get("X-Big")) != 40000) {
			t.Fatalf("%s: %d %q (X-Big %d bytes), want %d", path, resp.StatusCode, body, len(resp.Header.Get("X-Big")), want)
		}
	}
}

// upFaults are raw upstream answers that break HTTP/1.1, by path; "|"
// splits an answer into writes 300 ms apart, so that the head and what
// follows it arrive separately.
var upFaults = map[string]string{
	"/switch":          "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
	"/switch-bare":     "HTTP/1.1 101 Switching Protocols\r\n\r\n",
	"/chunk-size":      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
	"/chunk-size-late": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n|-5\r\nhello\r\n0\r\n\r\n",
	"/chunk-eof":       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	"/length-eof":      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
	"/length-eof-late": "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n|",
	"/status-nospace":  "HTTP/1.1 200OK\r\nContent-Length: 2\r\n\r\nok",
	"/status-version":  "HTTP/1.7 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"/status-h2":       "HTTP/2 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"/status-none":     "200 OK\r\nContent-Length: 2\r\n\r\nok",
	"/status-short":    "HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok",
	"/interim-flood":   strings.Repeat("HTTP/1.1 102 Processing\r\n\r\n", 5000) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"/name-space":      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding : chunked\r\n\r\nok",
	"/name-bad-byte":   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX(A): 1\r\n\r\nok",
	"/value-nul":       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: a\x00b\r\n\r\nok",
	"/value-cr":        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: a\rSet-Cookie: evil=1\r\n\r\nok",
	"/length-negative": "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok",
	"/length-twice":    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
	"/length-list":     "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok",
	"/length-and-te":   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"/te-on-1.0":       "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	// Still well-formed, for contrast.
	"/ok-chunked":        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n|2\r\nok\r\n0\r\n\r\n",
	"/ok-early":          "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"/truncated":         "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome|",
	"/truncated-trailer": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nsome\r\n|0\r\nX(A): 1\r\n\r\n",
}

func upFaulty(head string, c net.Conn, _ *bufio.Reader) bool {
	answer, ok := upFaults[strings.Fields(head)[1]]
	if !ok {
		answer = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
	}
	for i, part := range strings.Split(answer, "|") {
		if i > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		io.WriteString(c, part)
	}
	return false
}

// TestUpstreamProtocolFaults: an upstream response that breaks HTTP/1.1
// before any of its body reached the client (a 101 nobody asked for, a
// bad status line, a flood of interim responses, invalid field names or
// values, a bad or contradictory length, a bad first chunk size, EOF
// before the first body byte) is a 502, answered at once; the head of the
// response is held back until the body starts well, which costs no
// latency since nothing is sent before the first body bytes anyway.
// Once body bytes reached the client, a fault cuts the connection, so a
// truncated body never passes for a whole one.
func TestUpstreamProtocolFaults(t *testing.T) {
	up := upStartRaw(t, upFaulty)
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  retries: 0
  routes: [{paths: [/]}]
`, up.URL), gwtest.Options{})
	for path := range upFaults {
		if strings.HasPrefix(path, "/ok-") || strings.HasPrefix(path, "/truncated") {
			continue
		}
		t.Run(path[1:], func(t *testing.T) {
			c, br := upDial(t, gw)
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a.example.com\r\n\r\n", path)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 502 || kongMessage(string(body)) != "An invalid response was received from the upstream server" {
				t.Fatalf("got %d %q (%v), want 502", resp.StatusCode, body, err)
			}
			if len(resp.Header["X-A"])+len(resp.Header["Set-Cookie"]) > 0 {
				t.Fatalf("the broken response's fields reached the client: %v", resp.Header)
			}
			// The client connection is still good for another request.
			io.WriteString(c, "GET /ok-early HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
			if resp, err = http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
				t.Fatalf("next request on the connection: %v %v", resp, err)
			}
			io.Copy(io.Discard, resp.Body)
		})
	}
	t.Run("well-formed", func(t *testing.T) {
		for _, path := range []string{"/ok-chunked", "/ok-early"} {
			resp, err := http.Get(gw.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || string(body) != "ok" {
				t.Fatalf("%s: %d %q %v", path, resp.StatusCode, body, err)
			}
		}
	})
	t.Run("truncated after body bytes", func(t *testing.T) {
		// A bad trailer field is a fault too, found after the body.
		for _, path := range []string{"/truncated", "/truncated-trailer"} {
			resp, err := http.Get(gw.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "some" || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%s: got %d %q %v, want the 200 with its 4 bytes, then the connection cut", path, resp.StatusCode, body, err)
			}
		}
	})
}
