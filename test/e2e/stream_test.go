package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

const gib = 1 << 30

// zeroReader yields n zero bytes without holding them.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.n {
		p = p[:z.n]
	}
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// peakRSS reads the gateway process's high-water resident memory.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// A 1 GiB upload and a 1 GiB download stream through with flat memory.
func TestGiBStreamsWithFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 2 GiB")
	}
	sink := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "%d %v", n, err)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(gib))
		io.Copy(w, &zeroReader{n: gib})
	}))
	gw := gwtest.Start(t, proxyAllConfig("http://"+sink), gwtest.Options{Args: []string{"--access-log", "off"}})

	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/up", &zeroReader{n: gib})
	req.ContentLength = gib
	resp, body := gwtest.Do(t, req)
	if resp.StatusCode != 200 || body != fmt.Sprintf("%d <nil>", gib) {
		t.Fatalf("upload: %d %q", resp.StatusCode, body)
	}
	// Chunked upload (unknown length) too.
	req, _ = http.NewRequest(http.MethodPost, gw.URL+"/up", io.LimitReader(&zeroReader{n: gib}, 64<<20))
	req.ContentLength = -1
	resp, body = gwtest.Do(t, req)
	if resp.StatusCode != 200 || body != fmt.Sprintf("%d <nil>", 64<<20) {
		t.Fatalf("chunked upload: %d %q", resp.StatusCode, body)
	}

	dresp, err := http.Get(gw.URL + "/down")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, dresp.Body)
	dresp.Body.Close()
	if err != nil || n != gib {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	if rss := peakRSS(t, gw.PID()); rss > 96<<20 {
		t.Errorf("gateway peak RSS %d MiB after moving 2 GiB; bodies are being buffered", rss>>20)
	}
}

// startWebSocketEcho starts a WebSocket server sending every message back
// after prefix; it returns its address.
func startWebSocketEcho(t *testing.T, prefix string) string {
	return startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte(prefix), msg...)); err != nil {
				return
			}
		}
	}))
}

func TestWebSocketThroughGateway(t *testing.T) {
	echo := startWebSocketEcho(t, "echo:")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: ws
  url: http://%s
  read_timeout: 1500
  routes: [{paths: [/ws]}]
`, echo), gwtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(gw.URL, "http") + "/ws"
	c, resp, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.CloseNow()
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("no request id on the 101")
	}
	for i := range 3 {
		// Stay busy past the idle timeout: traffic keeps the tunnel open.
		time.Sleep(600 * time.Millisecond)
		msg := fmt.Sprintf("hello %d", i)
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || string(got) != "echo:"+msg {
			t.Fatalf("read %q %v", got, err)
		}
	}
	// Silence for longer than read_timeout closes the tunnel.
	_, _, err = c.Read(ctx)
	if err == nil {
		t.Fatal("the idle tunnel was not closed")
	}
	if ctx.Err() != nil {
		t.Fatal("the idle tunnel stayed open until the test deadline")
	}
}

// selfSigned makes a certificate for names, PEM encoded.
func selfSigned(t *testing.T, names ...string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

func indent(s, pad string) string {
	return pad + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pad)
}

func TestTLSTerminationWithSNIAndHTTP2(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	certA, keyA := selfSigned(t, "a.example.com")
	certB, keyB := selfSigned(t, "*.b.example.com")
	cfg := fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  routes:
  - paths: [/]
  - name: secure-only
    paths: [/secure]
    protocols: [https]
certificates:
- cert: |
%s
  key: |
%s
  snis: [a.example.com]
- cert: |
%s
  key: |
%s
  snis:
  - name: "*.b.example.com"
`, up.URL, indent(certA, "    "), indent(keyA, "    "), indent(certB, "    "), indent(keyB, "    "))
	gw := gwtest.Start(t, cfg, gwtest.Options{ProxyListen: "127.0.0.1:0, 127.0.0.1:0 ssl"})
	if len(gw.URLs) != 2 {
		t.Fatalf("listeners: %v", gw.URLs)
	}
	tlsAddr := strings.TrimPrefix(gw.URLs[1], "http://")
	for _, tc := range []struct{ sni, wantCN string }{
		{"a.example.com", "a.example.com"},
		{"x.b.example.com", "*.b.example.com"},
	} {
		conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatalf("%s: %v", tc.sni, err)
		}
		st := conn.ConnectionState()
		conn.Close()
		if cn := st.PeerCertificates[0].Subject.CommonName; cn != tc.wantCN {
			t.Errorf("SNI %s got certificate %s", tc.sni, cn)
		}
		if st.NegotiatedProtocol != "h2" {
			t.Errorf("ALPN %q, want h2", st.NegotiatedProtocol)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(certA))
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "a.example.com"},
		ForceAttemptHTTP2: true,
	}, Timeout: 10 * time.Second}
	resp, err := client.Get("https://" + tlsAddr + "/secure")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("https route over h2: %d %s %s", resp.StatusCode, resp.Proto, body)
	}
	seen := gwtest.DecodeSeen(t, string(body))
	if got := strings.Join(seen.Header["X-Forwarded-Proto"], ""); got != "https" {
		t.Errorf("X-Forwarded-Proto %q", got)
	}
}

func TestH2COptIn(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, proxyAllConfig(up.URL), gwtest.Options{ProxyListen: "127.0.0.1:0 http2"})
	resp, err := gwtest.H2CClient(t).Get(gw.URL + "/h2c")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("h2c: %d %s", resp.StatusCode, resp.Proto)
	}
}

// SIGTERM lets an in-flight request finish and then exits 0.
func TestGracefulShutdown(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	slow := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "finished")
	}))
	gw := gwtest.Start(t, proxyAllConfig("http://"+slow), gwtest.Options{})
	done := make(chan string, 1)
	go func() {
		resp, err := http.Get(gw.URL + "/")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	<-arrived // the request is in flight at the upstream
	gw.Signal(sigterm)
	refused := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(gw.URL, "http://"), time.Second)
		if err != nil {
			refused = true
			break
		}
		c.Close()
	}
	if !refused {
		t.Errorf("new connections are still accepted 5 s into draining")
	}
	close(release)
	if got := <-done; got != "finished" {
		t.Errorf("in-flight request got %q", got)
	}
	err, exited := gw.Wait(10 * time.Second)
	if !exited || err != nil {
		t.Errorf("exit: %v (exited %v)\n%s", err, exited, gw.Stderr())
	}
}

// wss: a TLS client to the gateway, and the gateway to a TLS upstream.
func TestWebSocketOverTLSBothSides(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		c.Write(r.Context(), typ, append([]byte("tls:"), msg...))
	}))
	defer up.Close()
	cert, key := selfSigned(t, "ws.example.com")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: wss
  url: %s
  tls_verify: false
  routes: [{paths: [/ws]}]
certificates:
- cert: |
%s
  key: |
%s
  snis: [ws.example.com]
`, up.URL, indent(cert, "    "), indent(key, "    ")), gwtest.Options{ProxyListen: "127.0.0.1:0 ssl"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: "ws.example.com", InsecureSkipVerify: true}}}
	c, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(gw.URL, "http")+"/ws", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != "tls:hi" {
		t.Fatalf("read %q %v", got, err)
	}
}
