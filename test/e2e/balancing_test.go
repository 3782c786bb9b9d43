package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

func hostPort(url string) string { return strings.TrimPrefix(url, "http://") }

// Consistent hashing on a header: a key goes to the same upstream every
// time, and different keys spread over the upstreams.
func TestBalancingConsistentHashHeader(t *testing.T) {
	a, b, c := gwtest.StartEcho(t, "a"), gwtest.StartEcho(t, "b"), gwtest.StartEcho(t, "c")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: s
  host: backend
  routes: [{paths: [/]}]
upstreams:
- name: backend
  hash_on: header
  hash_on_header: X-User
  targets:
  - target: %s
  - target: %s
  - target: %s
`, hostPort(a.URL), hostPort(b.URL), hostPort(c.URL)), gwtest.Options{})
	used := map[string]bool{}
	for k := range 30 {
		key := fmt.Sprintf("user-%d", k)
		first := ""
		for range 4 {
			resp, body := gw.Get("/", "X-User", key)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			name := gwtest.DecodeSeen(t, body).Name
			if first == "" {
				first = name
			} else if name != first {
				t.Fatalf("key %s went to %s, then to %s", key, first, name)
			}
		}
		used[first] = true
	}
	if len(used) != 3 {
		t.Errorf("30 keys reached only %v of 3 upstreams", used)
	}
}

// Cookie hashing: a client without the cookie gets one (Kong's behaviour)
// and, sending it back, sticks to the upstream that served it.
func TestBalancingConsistentHashCookie(t *testing.T) {
	a, b, c := gwtest.StartEcho(t, "a"), gwtest.StartEcho(t, "b"), gwtest.StartEcho(t, "c")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: s
  host: backend
  routes: [{paths: [/]}]
upstreams:
- name: backend
  hash_on: cookie
  hash_on_cookie: tp-sticky
  hash_on_cookie_path: /
  targets:
  - target: %s
  - target: %s
  - target: %s
`, hostPort(a.URL), hostPort(b.URL), hostPort(c.URL)), gwtest.Options{})
	used := map[string]bool{}
	for range 20 {
		resp, body := gw.Get("/")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		var cookie *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "tp-sticky" {
				cookie = ck
			}
		}
		if cookie == nil || cookie.Value == "" || cookie.Path != "/" || !cookie.HttpOnly {
			t.Fatalf("Set-Cookie %q: want tp-sticky with Path=/ and HttpOnly", resp.Header["Set-Cookie"])
		}
		first := gwtest.DecodeSeen(t, body).Name
		used[first] = true
		for range 4 {
			resp, body := gw.Get("/", "Cookie", "tp-sticky="+cookie.Value)
			if got := gwtest.DecodeSeen(t, body).Name; got != first {
				t.Fatalf("with cookie %s: went to %s, first to %s", cookie.Value, got, first)
			}
			if sc := resp.Header.Get("Set-Cookie"); sc != "" {
				t.Fatalf("a client that sent the cookie got a new one: %s", sc)
			}
		}
	}
	if len(used) < 2 {
		t.Errorf("20 new clients all went to %v", used)
	}
}

// Least-connections: while one upstream holds a slow request, new requests
// go to the other, idle one (round-robin would send every second request
// to the slow one).
func TestBalancingLeastConnectionsAvoidsBusyTarget(t *testing.T) {
	release := make(chan struct{})
	var slowHits atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowHits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"name":"slow"}`)
	}))
	defer slow.Close()
	var once atomic.Bool
	releaseSlow := func() {
		if once.CompareAndSwap(false, true) {
			close(release)
		}
	}
	defer releaseSlow()
	fast := gwtest.StartEcho(t, "fast")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: s
  host: backend
  read_timeout: 30000
  routes: [{paths: [/]}]
upstreams:
- name: backend
  algorithm: least-connections
  targets:
  - target: %s
  - target: %s
`, hostPort(slow.URL), hostPort(fast.URL)), gwtest.Options{})

	// Send requests until one is held by the slow upstream (with both idle,
	// ties alternate, so the first or second does). They run on their own
	// goroutines, which report instead of failing the test themselves.
	results := make(chan error, 4)
	launched := 0
	for slowHits.Load() == 0 {
		if launched == 4 {
			t.Fatal("no request reached the slow upstream")
		}
		launched++
		go func() {
			client := &http.Client{Timeout: 20 * time.Second}
			resp, err := client.Get(gw.URL + "/")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			results <- err
		}()
		deadline := time.Now().Add(2 * time.Second)
		for slowHits.Load() == 0 && fast.Count.Load() < int64(launched) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}

	fastBefore := fast.Count.Load()
	for range 20 {
		resp, body := gw.Get("/")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if name := gwtest.DecodeSeen(t, body).Name; name != "fast" {
			t.Fatalf("a new request went to %s while it held a request", name)
		}
	}
	if got := fast.Count.Load() - fastBefore; got != 20 {
		t.Errorf("fast upstream got %d of 20 requests", got)
	}
	if n := slowHits.Load(); n != 1 {
		t.Errorf("slow upstream got %d requests, want only the held one", n)
	}
	releaseSlow()
	for range launched {
		select {
		case err := <-results:
			if err != nil {
				t.Errorf("an early request failed: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the held request did not finish after release")
		}
	}
}
