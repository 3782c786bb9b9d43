package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// TestResponseTransformer: header and JSON body rules through the binary
// against a real upstream; bodies that are not JSON stream through
// unbuffered, bodies over the limit and invalid JSON pass unchanged.
func TestResponseTransformer(t *testing.T) {
	release := make(chan struct{})
	big := `{"secret":"` + strings.Repeat("x", 9<<20) + `"}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Remove-Me", "1")
		h.Set("X-Old", "o")
		h.Set("Content-Type", "application/json; charset=utf-8")
		switch r.URL.Path {
		case "/json":
			io.WriteString(w, `{"secret":"s","old":{"a":[1,2]},"n":1.0e2,"tags":"t"}`)
		case "/chunked":
			io.WriteString(w, `{"secret":"s",`)
			w.(http.Flusher).Flush()
			io.WriteString(w, `"old":true}`)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/invalid":
			io.WriteString(w, `{"secret":"s",}`)
		case "/big":
			h.Set("Content-Length", strconv.Itoa(len(big)))
			io.WriteString(w, big)
		case "/text":
			h.Set("Content-Type", "text/plain")
			io.WriteString(w, `{"secret":"first part"}`)
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
			io.WriteString(w, "rest")
		}
	}))
	var once sync.Once
	releaseOnce := func() { once.Do(func() { close(release) }) }
	t.Cleanup(up.Close)
	t.Cleanup(releaseOnce)
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: svc
  url: %s
  routes:
  - paths: ["/"]
    plugins:
    - name: response-transformer
      config:
        remove:
          headers: [x-remove-me]
          json: [secret]
        rename:
          headers: ["x-old:x-new"]
          json: ["old:new"]
        add:
          headers: ["x-added:yes"]
          json: ["added:yes", "n:5", "count:3"]
          json_types: [string, number, number]
        append:
          json: ["tags:u"]
`, up.URL), gwtest.Options{})

	resp, body := gw.Get("/json")
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%d %q: %v", resp.StatusCode, body, err)
	}
	want := map[string]any{"new": map[string]any{"a": []any{1.0, 2.0}}, "n": 100.0, "tags": []any{"t", "u"}, "added": "yes", "count": 3.0}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("body (-want +got)\n%s", d)
	}
	if resp.ContentLength != int64(len(body)) || resp.Header.Get("X-Remove-Me") != "" || resp.Header.Get("X-Old") != "" ||
		resp.Header.Get("X-New") != "o" || resp.Header.Get("X-Added") != "yes" {
		t.Errorf("length %d for %d bytes, headers %v", resp.ContentLength, len(body), resp.Header)
	}

	resp, body = gw.Get("/chunked")
	if body != `{"new":true,"added":"yes","n":5,"count":3,"tags":["u"]}` || resp.ContentLength != int64(len(body)) {
		t.Errorf("chunked: length %d, %s", resp.ContentLength, body)
	}

	if resp, body = gw.Get("/empty"); resp.StatusCode != http.StatusNoContent || body != "" || len(resp.Header["Content-Length"]) > 0 {
		t.Errorf("204: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if _, body = gw.Get("/invalid"); body != `{"secret":"s",}` {
		t.Errorf("invalid JSON changed: %s", body)
	}

	resp, body = gw.Get("/big")
	if body != big || resp.Header.Get("X-New") != "o" {
		t.Errorf("big body: %d bytes, equal %v", len(body), body == big)
	}
	waitUntil(t, "the warning about the large body", func() bool {
		return strings.Contains(gw.Stderr(), "body larger than the limit passed unchanged")
	})

	// A text body streams: its first part reaches the client while the
	// upstream still holds the rest.
	type result struct {
		first string
		err   error
	}
	got1 := make(chan result, 1)
	var resp1 *http.Response
	go func() {
		r, err := http.Get(gw.URL + "/text")
		if err != nil {
			got1 <- result{err: err}
			return
		}
		resp1 = r
		first := make([]byte, len(`{"secret":"first part"}`))
		_, err = io.ReadFull(r.Body, first)
		got1 <- result{string(first), err}
	}()
	select {
	case res := <-got1:
		if res.err != nil || res.first != `{"secret":"first part"}` {
			t.Fatalf("text: %q %v", res.first, res.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("text body held by the gateway")
	}
	releaseOnce()
	defer resp1.Body.Close()
	if rest, _ := io.ReadAll(resp1.Body); string(rest) != "rest" {
		t.Errorf("text rest %q", rest)
	}
}
