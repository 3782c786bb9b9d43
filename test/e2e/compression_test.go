package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// compJSON is a 10 KiB JSON document of the bench backend's kind.
var compJSON = func() []byte {
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < 10<<10; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		x := i*7919%100003 + 17
		fmt.Fprintf(&b, `{"id":%d,"sku":"SKU-%05d","name":"Product %d","price":%d.%02d,"in_stock":%v}`,
			x, x%99991, x%9973, x%500, x%100, x%3 == 0)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}()

// compUpstream is a real upstream: /json (10 KiB, a length and a strong
// ETag, 304 on a matching If-None-Match, ranges), /sse (three events, the
// next sent only when the test says), /echo (the request body and its
// Content-Encoding), /small, /png, /cookie.
func compUpstream(t *testing.T, next <-chan struct{}, hits *atomic.Int64) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h := w.Header()
		switch r.URL.Path {
		case "/json", "/api/json":
			h.Set("Content-Type", "application/json")
			h.Set("Etag", `"v1"`)
			// ServeContent does ranges and If-None-Match (weak comparison).
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(compJSON))
		case "/sse":
			h.Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: event %d\n\n", i)
				w.(http.Flusher).Flush()
				select {
				case <-next:
				case <-r.Context().Done():
					return
				case <-time.After(10 * time.Second):
					return
				}
			}
		case "/echo":
			n, err := io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
			h.Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "%d %v %q", n, err, r.Header.Get("Content-Encoding"))
		case "/small":
			h.Set("Content-Type", "application/json")
			w.Write(compJSON[:500])
		case "/png":
			h.Set("Content-Type", "image/png")
			w.Write(compJSON)
		case "/cookie":
			h.Set("Content-Type", "text/html")
			h.Set("Set-Cookie", "sid=1")
			w.Write(compJSON)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

const compConfig = `
_format_version: "3.0"
services:
- name: plain
  url: UPSTREAM
  routes: [{name: plain, paths: [/]}]
  plugins:
  - name: compression
    config: {decompress_request: true, decompress_max_size: 4194304}
- name: cached
  url: UPSTREAM
  routes: [{name: cached, paths: [/api]}]
  plugins:
  - name: proxy-cache
    config: {strategy: memory, content_type: [application/json]}
  - name: compression
    config: {encodings: [br, gzip]}
`

func startCompGateway(t *testing.T) (*gwtest.Gateway, chan struct{}, *atomic.Int64) {
	next := make(chan struct{})
	var hits atomic.Int64
	up := compUpstream(t, next, &hits)
	return gwtest.Start(t, strings.ReplaceAll(compConfig, "UPSTREAM", up), gwtest.Options{}), next, &hits
}

// rawClient leaves Accept-Encoding and the body as they come.
var rawClient = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableCompression: true}}

func compGet(t *testing.T, method, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	resp, err := rawClient.Do(gwtest.NewRequest(t, method, url, "", header...))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func compDecoder(t *testing.T, coding string, r io.Reader) io.Reader {
	t.Helper()
	switch coding {
	case "gzip":
		gr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		return gr
	case "br":
		return brotli.NewReader(r)
	case "zstd":
		zr, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(zr.Close)
		return zr
	}
	return r
}

func compDecode(t *testing.T, coding string, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(compDecoder(t, coding, bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("%s: %v", coding, err)
	}
	return out
}

func TestCompressionNegotiatesAndDecodes(t *testing.T) {
	gw, _, _ := startCompGateway(t)
	for _, tc := range []struct{ ae, want string }{
		{"gzip", "gzip"},
		{"br", "br"},
		{"zstd", "zstd"},
		{"gzip, deflate, br, zstd", "zstd"},
		{"gzip, deflate, br", "br"},
		{"gzip;q=1, zstd;q=0.5", "gzip"},
		{"zstd;q=0, br;q=0, gzip;q=0", ""},
		{"", ""},
	} {
		resp, body := compGet(t, "GET", gw.URL+"/json", "Accept-Encoding", tc.ae)
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Content-Encoding") != tc.want || h.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("%q: %d %v", tc.ae, resp.StatusCode, h)
		}
		if got := compDecode(t, tc.want, body); !bytes.Equal(got, compJSON) {
			t.Errorf("%q: decoded %d bytes, want the upstream's %d", tc.ae, len(got), len(compJSON))
		}
		if tc.want == "" {
			if h.Get("Etag") != `"v1"` || resp.ContentLength != int64(len(compJSON)) || h.Get("Accept-Ranges") != "bytes" {
				t.Errorf("%q: identity head changed: %v", tc.ae, h)
			}
			continue
		}
		// net/http declares the length of a short answer written whole.
		if h.Get("Etag") != `W/"v1"` || resp.ContentLength != -1 && resp.ContentLength != int64(len(body)) || h.Get("Accept-Ranges") != "" {
			t.Errorf("%q: head %v (length %d)", tc.ae, h, resp.ContentLength)
		}
		if len(body) > len(compJSON)/2 {
			t.Errorf("%q: %d bytes for %d", tc.ae, len(body), len(compJSON))
		}
	}
	// Left alone: short, not a listed type, setting a cookie, a range.
	for _, tc := range []struct {
		path   string
		header []string
		status int
		vary   bool
	}{
		{"/small", nil, 200, false},
		{"/png", nil, 200, false},
		{"/cookie", nil, 200, false},
		{"/json", []string{"Range", "bytes=0-9"}, 206, false},
	} {
		resp, body := compGet(t, "GET", gw.URL+tc.path, append([]string{"Accept-Encoding", "gzip, br, zstd"}, tc.header...)...)
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Vary") != "" {
			t.Errorf("%s %v: %d %v", tc.path, tc.header, resp.StatusCode, resp.Header)
		}
		if tc.status == 206 && string(body) != string(compJSON[:10]) {
			t.Errorf("range body %q", body)
		}
	}
}

// HEAD gets the head a GET would; a 304 keeps the weak validator and
// the Vary of the compressed response it revalidates.
func TestCompressionHeadAndNotModified(t *testing.T) {
	gw, _, _ := startCompGateway(t)
	resp, body := compGet(t, "HEAD", gw.URL+"/json", "Accept-Encoding", "gzip")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Length") != "" ||
		resp.Header.Get("Etag") != `W/"v1"` || len(body) != 0 {
		t.Errorf("HEAD: %d %v %d bytes", resp.StatusCode, resp.Header, len(body))
	}
	resp, body = compGet(t, "GET", gw.URL+"/json", "Accept-Encoding", "gzip", "If-None-Match", `W/"v1"`)
	if resp.StatusCode != 304 || resp.Header.Get("Etag") != `W/"v1"` || resp.Header.Get("Vary") != "Accept-Encoding" ||
		resp.Header.Get("Content-Encoding") != "" || len(body) != 0 {
		t.Errorf("304: %d %v %q", resp.StatusCode, resp.Header, body)
	}
}

// Server-sent events go through the compressor event by event.
func TestCompressionStreamsEvents(t *testing.T) {
	gw, next, _ := startCompGateway(t)
	for _, coding := range []string{"gzip", "br", "zstd"} {
		req, _ := http.NewRequest("GET", gw.URL+"/sse", nil)
		req.Header.Set("Accept-Encoding", coding)
		resp, err := rawClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("Content-Encoding") != coding {
			t.Fatalf("%s: %v", coding, resp.Header)
		}
		events := bufio.NewReader(compDecoder(t, coding, resp.Body))
		for i := range 3 {
			got := make(chan string, 1)
			go func() {
				line, _ := events.ReadString('\n')
				events.ReadString('\n')
				got <- line
			}()
			select {
			case line := <-got:
				if want := fmt.Sprintf("data: event %d\n", i); line != want {
					t.Fatalf("%s: event %d: %q", coding, i, line)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: event %d held by the gateway", coding, i)
			}
			next <- struct{}{}
		}
		resp.Body.Close()
	}
}

// The cache (priority 100) stores the identity response before the
// compression (90) changes it: one entry, and every client gets it as it
// asks, a miss through the body filter, a hit (a gateway answer) through
// ExitBody.
func TestCompressionWithProxyCache(t *testing.T) {
	gw, _, hits := startCompGateway(t)
	// The route offers br and gzip only (the list replaces the default).
	resp, body := compGet(t, "GET", gw.URL+"/api/json", "Accept-Encoding", "zstd, gzip")
	if resp.Header.Get("X-Cache-Status") != "Miss" || resp.Header.Get("Content-Encoding") != "gzip" ||
		!bytes.Equal(compDecode(t, "gzip", body), compJSON) {
		t.Fatalf("miss: %v", resp.Header)
	}
	for _, tc := range []struct{ ae, want string }{{"", ""}, {"gzip", "gzip"}, {"br, gzip", "br"}, {"zstd", ""}} {
		resp, body = compGet(t, "GET", gw.URL+"/api/json", "Accept-Encoding", tc.ae)
		h := resp.Header
		etag := `W/"v1"`
		if tc.want == "" {
			etag = `"v1"`
		}
		if h.Get("X-Cache-Status") != "Hit" || h.Get("Content-Encoding") != tc.want || h.Get("Etag") != etag ||
			h.Get("Vary") != "Accept-Encoding" || resp.ContentLength != int64(len(body)) {
			t.Errorf("hit for %q: %v (length %d)", tc.ae, h, resp.ContentLength)
		}
		if got := compDecode(t, tc.want, body); !bytes.Equal(got, compJSON) {
			t.Errorf("hit for %q: decoded %d bytes", tc.ae, len(got))
		}
	}
	resp, body = compGet(t, "HEAD", gw.URL+"/api/json", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || len(body) != 0 {
		t.Errorf("HEAD hit: %v", resp.Header)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("upstream asked %d times", n)
	}
}

func compPost(t *testing.T, url, coding string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Encoding", coding)
	req.Header.Set("Content-Type", "application/json")
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Request bodies are decoded on their way upstream; a bomb gets 413 with
// the gateway's memory flat.
func TestCompressionDecodesRequests(t *testing.T) {
	gw, _, _ := startCompGateway(t)
	for _, coding := range []string{"gzip", "br", "zstd"} {
		var buf bytes.Buffer
		var w io.WriteCloser
		switch coding {
		case "gzip":
			w = gzip.NewWriter(&buf)
		case "br":
			w = brotli.NewWriter(&buf)
		default:
			w, _ = zstd.NewWriter(&buf)
		}
		w.Write(compJSON)
		w.Close()
		code, body := compPost(t, gw.URL+"/echo", coding, buf.Bytes())
		if want := strconv.Itoa(len(compJSON)) + ` <nil> ""`; code != 200 || body != want {
			t.Errorf("%s: %d %q, want %q", coding, code, body, want)
		}
	}
	if code, body := compPost(t, gw.URL+"/echo", "gzip", []byte("not gzip")); code != 400 {
		t.Errorf("garbage: %d %s", code, body)
	}
	// 1 GiB of zeros, 1 MiB on the wire.
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestSpeed)
	zeros := make([]byte, 1<<20)
	for range 1024 {
		zw.Write(zeros)
	}
	zw.Close()
	before := peakRSS(t, gw.PID())
	code, body := compPost(t, gw.URL+"/echo", "gzip", bomb.Bytes())
	if code != 413 || !strings.Contains(body, "Payload too large") {
		t.Errorf("bomb: %d %s", code, body)
	}
	if grew := peakRSS(t, gw.PID()) - before; grew > 32<<20 {
		t.Errorf("the gateway grew %d MiB decoding a bomb", grew>>20)
	}
}

func TestCompressionConfigErrors(t *testing.T) {
	path := writeFile(t, "comp.yml", `_format_version: "3.0"
plugins:
- name: compression
  config: {levels: {gzip: 10}, encodings: [gzip, deflate], content_types: [json]}
`)
	out, code := cfgRunCLI(t, 15*time.Second, "validate", "-c", path)
	for _, want := range []string{
		"plugins[0].config.encodings[1]: expected one of: zstd, br, gzip",
		`plugins[0].config.content_types[0]: invalid value: "json"`,
		"plugins[0].config.levels.gzip: value should be between 1 and 9",
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("validate = exit %d, want %q in:\n%s", code, want, out)
		}
	}
}
