package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// zipkinSpan is a Zipkin v2 span as a collector decodes it.
type zipkinSpan struct {
	TraceID  string            `json:"traceId"`
	Name     string            `json:"name"`
	ParentID string            `json:"parentId"`
	ID       string            `json:"id"`
	Kind     string            `json:"kind"`
	Local    map[string]any    `json:"localEndpoint"`
	Remote   map[string]any    `json:"remoteEndpoint"`
	Tags     map[string]string `json:"tags"`
}

// zipkinCollector is a loopback Zipkin v2 endpoint decoding the JSON
// span arrays it is posted.
type zipkinCollector struct {
	url   string
	mu    sync.Mutex
	spans []zipkinSpan
}

func startZipkinCollector(t *testing.T) *zipkinCollector {
	z := &zipkinCollector{}
	addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var spans []zipkinSpan
		if r.URL.Path != "/api/v2/spans" || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &spans) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		z.mu.Lock()
		z.spans = append(z.spans, spans...)
		z.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	z.url = "http://" + addr + "/api/v2/spans"
	return z
}

// wait returns the spans of trace once n have arrived.
func (z *zipkinCollector) wait(t *testing.T, trace string, n int) map[string]zipkinSpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		z.mu.Lock()
		got := map[string]zipkinSpan{}
		for _, s := range z.spans {
			if s.TraceID == trace {
				got[s.Name] = s
			}
		}
		z.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d spans of trace %s: %+v", len(got), n, trace, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestZipkin(t *testing.T) {
	z := startZipkinCollector(t)
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: svc
  url: %s
  routes:
  - name: r1
    paths: [/]
plugins:
- name: zipkin
  config:
    http_endpoint: %s
    sample_ratio: 0
    static_tags: [{name: static, value: ok}]
    http_response_header_for_traceid: X-Trace-Id
    queue: {max_coalescing_delay: 0}
`, up.URL, z.url), gwtest.Options{})

	// Kong's B3 case: the client's trace is continued, sampled as it says,
	// and the upstream's parent span is the proxy span.
	const trace = "0123456789abcdef0123456789abcdef"
	resp, body := kaDo(t, gw, kaReq{path: "/request", header: []string{
		"X-B3-Traceid", trace, "X-B3-Spanid", "1111111111111111", "X-B3-Sampled", "1", "Zipkin-Tags", "foo=bar; baz=qux"}})
	if resp.StatusCode != 200 || resp.Header.Get("X-Trace-Id") != trace {
		t.Fatalf("got %d %q, X-Trace-Id %q", resp.StatusCode, body, resp.Header.Get("X-Trace-Id"))
	}
	seen := gwtest.DecodeSeen(t, body)
	spans := z.wait(t, trace, 3)
	req, proxy, try := spans["GET"], spans["GET (proxy)"], spans["GET (balancer try 1)"]
	if req.Kind != "SERVER" || req.ParentID != "1111111111111111" || proxy.ParentID != req.ID || try.ParentID != req.ID {
		t.Fatalf("span tree %+v", spans)
	}
	if got := seen.Header["X-B3-Spanid"]; len(got) != 1 || got[0] != proxy.ID {
		t.Fatalf("upstream X-B3-Spanid %q, proxy span %q", got, proxy.ID)
	}
	if got := seen.Header["X-B3-Traceid"]; len(got) != 1 || got[0] != trace {
		t.Fatalf("upstream X-B3-Traceid %q", got)
	}
	for k, v := range map[string]string{"lc": "kong", "http.method": "GET", "http.path": "/request", "http.status_code": "200",
		"static": "ok", "foo": "bar", "baz": "qux"} {
		if req.Tags[k] != v {
			t.Errorf("request span tag %s = %q, want %q (%v)", k, req.Tags[k], v, req.Tags)
		}
	}
	if req.Tags["kong.node.id"] == "" || proxy.Tags["kong.route_name"] != "r1" || proxy.Remote["serviceName"] != "svc" ||
		req.Local["serviceName"] != "kong" {
		t.Errorf("request %+v proxy %+v", req, proxy)
	}

	// The single b3 header comes back single; unsampled, nothing is sent.
	resp, body = kaDo(t, gw, kaReq{path: "/request", header: []string{"B3", "fedcba9876543210-2222222222222222-0"}})
	if resp.StatusCode != 200 {
		t.Fatalf("got %d", resp.StatusCode)
	}
	seen = gwtest.DecodeSeen(t, body)
	if b3 := seen.Header["B3"]; len(b3) != 1 || len(b3[0]) != 16+1+16+1+1+1+16 || b3[0][:17] != "fedcba9876543210-" || b3[0][33:36] != "-0-" {
		t.Fatalf("upstream b3 %q", b3)
	}
	time.Sleep(300 * time.Millisecond)
	z.mu.Lock()
	for _, s := range z.spans {
		if s.TraceID == "fedcba9876543210" {
			t.Errorf("unsampled trace reported: %+v", s)
		}
	}
	z.mu.Unlock()
}
