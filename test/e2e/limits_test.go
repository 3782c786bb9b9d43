package e2e

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// Slow or oversized clients get Kong's statuses and cannot pin the gateway.
func TestEdgeLimits(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, proxyAllConfig(up.URL), gwtest.Options{Args: []string{
		"--header-timeout", "400ms", "--client-body-timeout", "400ms", "--client-max-body-size", "1024",
	}})
	addr := strings.TrimPrefix(gw.URL, "http://")

	t.Run("slow headers are cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n")
		start := time.Now()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(conn)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("connection held %v with a 400ms header timeout", d)
		}
	})

	t.Run("stalled body gets 408", func(t *testing.T) {
		// reqRaw waits 10 s, generous against the 400ms timeout; no answer
		// at all is the failure this subtest exists for.
		status, body := reqRaw(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-some")
		if status == 0 {
			t.Fatalf("no response to a stalled body: %s", body)
		}
		if status != http.StatusRequestTimeout || !strings.Contains(body, `"message":`) {
			t.Errorf("%d %s, want 408 with a JSON message", status, body)
		}
	})

	t.Run("large declared body gets 413", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/", strings.NewReader(strings.Repeat("x", 2048)))
		resp, body := gwtest.Do(t, req)
		if resp.StatusCode != 413 || !strings.Contains(body, `"message":"Payload too large"`) {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})

	t.Run("large chunked body gets 413", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/", io.LimitReader(strings.NewReader(strings.Repeat("x", 4096)), 4096))
		req.ContentLength = -1
		resp, body := gwtest.Do(t, req)
		if resp.StatusCode != 413 {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})

	t.Run("long URI gets 414", func(t *testing.T) {
		resp, body := gw.Get("/" + strings.Repeat("a", 20<<10))
		if resp.StatusCode != 414 || !strings.Contains(body, "URI too long") {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
}
