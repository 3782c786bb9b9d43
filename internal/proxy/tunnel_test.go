package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"
)

const tunnelConfig = `
_format_version: "3.0"
upstreams:
- name: backend
  algorithm: least-connections
  targets: [{target: "${T}"}]
services:
- name: ws
  url: http://backend
  routes: [{paths: [/]}]
`

// upgradeRequest asks the gateway for a WebSocket upgrade and returns the
// response with its whole body.
func upgradeRequest(t *testing.T, g *testGateway, target string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.URL+target, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return resp, b
}

// An upstream that declines the upgrade answers with a body of any
// framing and size; it reaches the client intact.
func TestTunnelDeclinedBodyRelayedIntact(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), (3<<20)/16) // 3 MiB
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			t.Errorf("upstream Upgrade %q", r.Header.Get("Upgrade"))
		}
		switch r.URL.Query().Get("framing") {
		case "chunked":
			w.WriteHeader(http.StatusBadRequest)
			for _, part := range []string{"not ", "a ", "websocket"} {
				io.WriteString(w, part)
				w.(http.Flusher).Flush()
			}
		case "length":
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.WriteHeader(http.StatusForbidden)
			w.Write(big)
		}
	}))
	defer up.Close()
	g := newTestGateway(t, tunnelConfig, map[string]string{"T": up.Listener.Addr().String()}, nil)
	tg := g.target(t)

	resp, body := upgradeRequest(t, g, "/socket?framing=chunked")
	if resp.StatusCode != http.StatusBadRequest || string(body) != "not a websocket" {
		t.Fatalf("chunked: status %d body %q", resp.StatusCode, body)
	}
	waitInFlight(t, tg, 0)

	resp, body = upgradeRequest(t, g, "/socket?framing=length")
	if resp.StatusCode != http.StatusForbidden || !bytes.Equal(body, big) {
		t.Fatalf("length: status %d, %d bytes of %d", resp.StatusCode, len(body), len(big))
	}
	waitInFlight(t, tg, 0)
}

// An open tunnel counts as one request in flight on its target until it
// closes.
func TestTunnelCountsInFlight(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo until the client goes
	}))
	defer up.Close()
	g := newTestGateway(t, tunnelConfig, map[string]string{"T": up.Listener.Addr().String()}, nil)
	tg := g.target(t)

	c, err := net.Dial("tcp", g.URL[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /socket HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q %v", buf, err)
	}
	if n := tg.State.InFlight(); n != 1 {
		t.Errorf("in flight with the tunnel open: %d, want 1", n)
	}
	if ewma := tg.State.LatencyEWMA(); ewma <= 0 {
		t.Errorf("handshake latency not reported")
	}
	c.Close()
	waitInFlight(t, tg, 0)
}

// A tunnel copies each direction through a 32 KiB buffer. One of them is
// the exchange's pooled buffer, which the tunnel holds for its life
// anyway: a tunnel allocates one buffer, not two (nor holds three).
func TestTunnelAllocatesOneCopyBuffer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		echo := make([]byte, 64)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			if _, err := http.ReadRequest(br); err == nil {
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
				if n, err := br.Read(echo); err == nil {
					c.Write(echo[:n])
				}
			}
			c.Close()
		}
	}()
	g := newTestGateway(t, tunnelConfig, map[string]string{"T": ln.Addr().String()}, nil)
	tg := g.target(t)
	tunnel := func() {
		c, err := net.Dial("tcp", g.URL[len("http://"):])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /socket HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("handshake: %v %v", resp, err)
		}
		io.WriteString(c, "ping")
		buf := make([]byte, 4)
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("echo %q %v", buf, err)
		}
		c.Close()
		waitInFlight(t, tg, 0)
	}
	tunnel() // warm the pools
	const n = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		tunnel()
	}
	runtime.ReadMemStats(&after)
	// The rest of a tunnel (connections, heads, this test's own side)
	// allocates about 40 KiB; a second copy buffer would add 32 KiB.
	perTunnel := (after.TotalAlloc - before.TotalAlloc) / n
	if perTunnel > 88<<10 {
		t.Errorf("%d bytes allocated per tunnel: more than one copy buffer", perTunnel)
	}
}
