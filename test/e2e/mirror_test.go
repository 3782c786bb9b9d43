package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// shadowCopy is a request the shadow upstream received.
type shadowCopy struct{ method, uri, body, auth string }

// slowShadow records every copy it receives, then answers after delay.
func slowShadow(t *testing.T, delay time.Duration) (*httptest.Server, chan shadowCopy) {
	t.Helper()
	got := make(chan shadowCopy, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- shadowCopy{r.Method, r.RequestURI, string(b), r.Header.Get("X-Api-Key")}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
		io.WriteString(w, "shadow's answer")
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// The shadow gets a copy of each request with its body, while the
// client gets the service's answer without waiting for the shadow's
// (which takes 2 s); over max_in_flight copies are dropped, bodies over
// max_body_size not mirrored, both counted; the service always gets the
// whole request.
func TestRequestMirror(t *testing.T) {
	primary := gwtest.StartEcho(t, "primary")
	shadow, got := slowShadow(t, 2*time.Second)
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: s
  url: %s/svc
  routes:
  - name: mirrored
    paths: [/m]
    plugins:
    - name: request-mirror
      config: {mirror_url: "%s/shadow", max_in_flight: 2, max_body_size: 16}
`, primary.URL, shadow.URL), gwtest.Options{Args: []string{"--access-log", "off"}})

	post := func(body string) time.Duration {
		t.Helper()
		req, _ := http.NewRequest("POST", gw.URL+"/m/orders?x=1", strings.NewReader(body))
		req.Header.Set("X-Api-Key", "k1")
		start := time.Now()
		resp, rb := gwtest.Do(t, req)
		d := time.Since(start)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, rb)
		}
		if s := gwtest.DecodeSeen(t, rb); s.Name != "primary" || s.Body != body || s.Path != "/svc/orders" {
			t.Fatalf("the service got %+v", s)
		}
		return d
	}
	if d := post(`{"id":1}`); d > time.Second {
		t.Errorf("the client waited %v for a mirror that answers in 2 s", d)
	}
	select {
	case c := <-got:
		if want := (shadowCopy{"POST", "/shadow/svc/orders?x=1", `{"id":1}`, "k1"}); c != want {
			t.Errorf("shadow got %+v, want %+v", c, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no copy reached the shadow")
	}
	// One copy is in flight (the shadow holds it 2 s): one more fits,
	// the next three are dropped.
	for range 4 {
		post("small")
	}
	if n := metricValue(t, gw, "turnpike_request_mirror_total", "outcome", "dropped"); n != 3 {
		t.Errorf("dropped copies: %v, want 3", n)
	}
	post(strings.Repeat("b", 17))
	if n := metricValue(t, gw, "turnpike_request_mirror_total", "outcome", "too_large"); n != 1 {
		t.Errorf("too_large: %v, want 1", n)
	}
	if !eventually(5*time.Second, func() bool {
		return metricValue(t, gw, "turnpike_request_mirror_total", "outcome", "mirrored") == 2
	}) {
		t.Errorf("mirrored copies: %v, want 2", metricValue(t, gw, "turnpike_request_mirror_total", "outcome", "mirrored"))
	}
}

// A client that goes away does not cancel its copy: the shadow still
// gets it and answers, and the copy counts as mirrored.
func TestRequestMirrorOutlivesClient(t *testing.T) {
	slowPrimary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slowPrimary.Close)
	shadow, got := slowShadow(t, 500*time.Millisecond)
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: s
  url: %s
  routes: [{paths: [/]}]
plugins:
- {name: request-mirror, config: {mirror_url: "%s"}}
`, slowPrimary.URL, shadow.URL), gwtest.Options{Args: []string{"--access-log", "off"}})
	client := &http.Client{Timeout: 200 * time.Millisecond}
	if resp, err := client.Get(gw.URL + "/leaving"); err == nil {
		resp.Body.Close()
		t.Fatal("the client was answered before it left")
	}
	select {
	case c := <-got:
		if c.uri != "/leaving" {
			t.Errorf("shadow got %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no copy reached the shadow")
	}
	if !eventually(5*time.Second, func() bool {
		return metricValue(t, gw, "turnpike_request_mirror_total", "outcome", "mirrored") == 1
	}) {
		t.Errorf("the copy of a request whose client left was not answered: mirrored %v, failed %v",
			metricValue(t, gw, "turnpike_request_mirror_total", "outcome", "mirrored"),
			metricValue(t, gw, "turnpike_request_mirror_total", "outcome", "failed"))
	}
}
