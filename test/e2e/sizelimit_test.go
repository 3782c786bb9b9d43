package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// sizeLimitConfig follows Kong's
// spec/03-plugins/12-request-size-limiting/01-access_spec.lua: a 2 KiB
// limit, and one that requires a length.
func sizeLimitConfig(upstream string) string {
	return `
_format_version: "3.0"
services:
- name: s
  url: ` + upstream + `
  routes:
  - {hosts: [limit.test], plugins: [{name: request-size-limiting, config: {allowed_payload_size: 2, size_unit: kilobytes}}]}
  - {hosts: [required.test], plugins: [{name: request-size-limiting, config: {allowed_payload_size: 2, size_unit: kilobytes, require_content_length: true}}]}
  - {hosts: [big.test], plugins: [{name: request-size-limiting, config: {allowed_payload_size: 1}}]}
  - hosts: [rtx.test]
    plugins:
    - {name: request-size-limiting, config: {allowed_payload_size: 2, size_unit: kilobytes}}
    - {name: request-transformer, config: {add: {body: ["added:1"]}}}
`
}

// rawExchange writes a request as given and reads the answer's status
// and body (skipping a 100 Continue).
func rawExchange(t *testing.T, gw *gwtest.Gateway, head, body string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(conn, head+"\r\n"+body)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err == nil && resp.StatusCode == http.StatusContinue {
		resp, err = http.ReadResponse(br, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func chunkedBody(n int) string {
	return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", n, strings.Repeat("a", n))
}

// Declared lengths are refused before anything is read or proxied;
// chunked bodies are counted as they stream and cut with 413 (417 when
// the client waited for 100 Continue); at the limit everything reaches
// the upstream.
func TestRequestSizeLimiting(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, sizeLimitConfig(up.URL), gwtest.Options{})
	const tooLarge = `"message":"Request size limit exceeded"`
	for _, tc := range []struct {
		name, head, body string
		status           int
		want             string
	}{
		{"length at the limit", "POST /request HTTP/1.1\r\nHost: limit.test\r\nContent-Length: 2048\r\n", strings.Repeat("a", 2048), 200, `"body":"aaaa`},
		{"length over", "POST /request HTTP/1.1\r\nHost: limit.test\r\nContent-Length: 2049\r\n", strings.Repeat("a", 2049), 413, tooLarge},
		{"length over, Expect", "POST /request HTTP/1.1\r\nHost: limit.test\r\nExpect: 100-continue\r\nContent-Length: 2049\r\n", "", 417, tooLarge},
		{"chunked at the limit", "POST /request HTTP/1.1\r\nHost: limit.test\r\nTransfer-Encoding: chunked\r\n", chunkedBody(2048), 200, `"body":"aaaa`},
		{"chunked over", "POST /request HTTP/1.1\r\nHost: limit.test\r\nTransfer-Encoding: chunked\r\n", chunkedBody(2049), 413, tooLarge},
		{"chunked over, Expect", "GET /request HTTP/1.1\r\nHost: limit.test\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n", chunkedBody(2049), 417, tooLarge},
		{"no length required", "GET /request HTTP/1.1\r\nHost: required.test\r\n", "", 411, `"message":"A valid Content-Length header is required"`},
		{"chunked needs no length", "POST /request HTTP/1.1\r\nHost: required.test\r\nTransfer-Encoding: chunked\r\n", chunkedBody(10), 200, `"body":"aaaaaaaaaa"`},
		// request-transformer (801) reads the body after the limit (951)
		// wrapped it: the limit's answer, not a 500.
		{"chunked over, read by a later plugin", "POST /request HTTP/1.1\r\nHost: rtx.test\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n", chunkedBody(2049), 413, tooLarge},
		{"chunked under, read by a later plugin", "POST /request HTTP/1.1\r\nHost: rtx.test\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n", chunkedBody(10), 200, `added=1`},
	} {
		status, body := rawExchange(t, gw, tc.head, tc.body)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want %d with %s", tc.name, status, body, tc.status, tc.want)
		}
	}
	if n := up.Count.Load(); n != 4 {
		t.Errorf("upstream answered %d requests, want 4", n)
	}
}

// A chunked body far over the limit is cut when it passes it: the
// client gets 413 while it is still sending, the upstream's answer never
// reaches it, and the upstream never sees more than the limit.
func TestRequestSizeLimitingCutsStream(t *testing.T) {
	var most atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		io.WriteString(w, "upstream answer")
	}))
	defer up.Close()
	gw := gwtest.Start(t, sizeLimitConfig(up.URL), gwtest.Options{})
	pr, pw := io.Pipe()
	go func() {
		chunk := []byte(strings.Repeat("b", 64<<10))
		for i := 0; i < 1024; i++ { // 64 MiB, unless cut first
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	defer pr.CloseWithError(io.ErrClosedPipe)
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/upload", pr)
	req.Host = "big.test"
	resp, body := gwtest.Do(t, req)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "Request size limit exceeded") {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	if n := most.Load(); n > 1<<20 {
		t.Errorf("the upstream read %d bytes, over the 1 MiB limit", n)
	}
}
