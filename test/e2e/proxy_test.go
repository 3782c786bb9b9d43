package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// proxyAllConfig is a config with one service, a, to upstream and one
// route taking every path.
func proxyAllConfig(upstream string) string {
	return "_format_version: \"3.0\"\nservices:\n- name: a\n  url: " + upstream + "\n  routes: [{paths: [/]}]\n"
}

func TestProxyBasicsAndForwardedHeaders(t *testing.T) {
	up := gwtest.StartEcho(t, "users")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: users
  url: %s/users
  routes:
  - name: users
    paths: [/api/users]
`, up.URL), gwtest.Options{})

	resp, body := gw.Get("/api/users/7?x=1",
		"X-Consumer-ID", "forged", "X-Credential-Identifier", "forged", "X-Authenticated-Groups", "admins",
		"X-Anonymous-Consumer", "true", "Connection", "X-Secret", "X-Secret", "hop", "X-Forwarded-For", "6.6.6.6",
		"Host", "api.example.com:8000")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	seen := gwtest.DecodeSeen(t, body)
	if seen.Path != "/users/7" || seen.Query != "x=1" {
		t.Errorf("upstream got %s?%s, want /users/7?x=1", seen.Path, seen.Query)
	}
	wantHost := strings.TrimPrefix(up.URL, "http://")
	if seen.Host != wantHost {
		t.Errorf("upstream Host %q, want the service host %q", seen.Host, wantHost)
	}
	for _, h := range []string{"X-Consumer-Id", "X-Credential-Identifier", "X-Authenticated-Groups", "X-Anonymous-Consumer", "X-Secret"} {
		if v, ok := seen.Header[h]; ok {
			t.Errorf("client-sent %s reached the upstream: %q", h, v)
		}
	}
	checks := map[string]string{
		"X-Forwarded-For":    "127.0.0.1", // the forged value is not trusted
		"X-Real-Ip":          "127.0.0.1",
		"X-Forwarded-Proto":  "http",
		"X-Forwarded-Host":   "api.example.com",
		"X-Forwarded-Path":   "/api/users/7",
		"X-Forwarded-Prefix": "/api/users",
	}
	for h, want := range checks {
		if got := strings.Join(seen.Header[h], ","); got != want {
			t.Errorf("upstream %s = %q, want %q", h, got, want)
		}
	}
	if got := strings.Join(seen.Header["Via"], ","); !strings.HasPrefix(got, "1.1 turnpike/") {
		t.Errorf("upstream Via = %q", got)
	}
	id := resp.Header.Get("X-Request-Id")
	if len(id) != 32 || strings.Join(seen.Header["X-Request-Id"], "") != id {
		t.Errorf("request id downstream %q, upstream %q", id, seen.Header["X-Request-Id"])
	}
	if resp.Header.Get("X-Upstream") != "users" || !strings.HasPrefix(resp.Header.Get("Via"), "1.1 turnpike/") {
		t.Errorf("downstream headers: %v", resp.Header)
	}
	for _, h := range []string{"X-Turnpike-Upstream-Latency", "X-Turnpike-Proxy-Latency"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}

	lines := gw.AccessLog(1)
	if len(lines) != 1 {
		t.Fatalf("access log lines: %d\n%s", len(lines), gw.Stdout())
	}
	l := lines[0]
	if l["status"] != float64(200) || l["route"] != "users" || l["service"] != "users" || l["request_id"] != id ||
		l["uri"] != "/api/users/7?x=1" || l["source"] != "upstream" {
		t.Errorf("access log line: %v", l)
	}
}

func TestTrustedIPsKeepForwardedHeaders(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, proxyAllConfig(up.URL), gwtest.Options{Args: []string{"--trusted-ips", "127.0.0.0/8"}})
	_, body := gw.Get("/", "X-Forwarded-For", "203.0.113.9", "X-Forwarded-Proto", "https", "X-Real-IP", "203.0.113.9")
	seen := gwtest.DecodeSeen(t, body)
	if got := strings.Join(seen.Header["X-Forwarded-For"], ","); got != "203.0.113.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	if got := strings.Join(seen.Header["X-Forwarded-Proto"], ","); got != "https" {
		t.Errorf("X-Forwarded-Proto = %q", got)
	}
	if got := strings.Join(seen.Header["X-Real-Ip"], ","); got != "203.0.113.9" {
		t.Errorf("X-Real-Ip = %q", got)
	}
}

func TestNoRouteIsKong404(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  routes:
  - paths: [/a]
`, up.URL), gwtest.Options{})
	resp, body := gw.Get("/nowhere")
	id := resp.Header.Get("X-Request-Id")
	want := "{\n  \"message\":\"no Route matched with those values\",\n  \"request_id\":\"" + id + "\"\n}"
	if resp.StatusCode != 404 || body != want {
		t.Fatalf("got %d %q, want 404 %q", resp.StatusCode, body, want)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	resp, body = gw.Get("/nowhere", "Accept", "text/plain")
	if body != "no Route matched with those values\nrequest_id: "+resp.Header.Get("X-Request-Id")+"\n" {
		t.Errorf("text/plain body %q", body)
	}
	resp, body = gw.Get("/nowhere", "Accept", "text/html;q=0.9, application/xml")
	if !strings.Contains(body, "<message>no Route matched with those values</message>") {
		t.Errorf("xml body %q", body)
	}
	if up.Count.Load() != 0 {
		t.Errorf("upstream saw %d requests", up.Count.Load())
	}
}

// The patterns guide's routing examples: path versioning and tenant routing
// by header, each to its own upstream.
func TestPatternsGuideRouting(t *testing.T) {
	v1 := gwtest.StartEcho(t, "api-v1")
	v2 := gwtest.StartEcho(t, "api-v2")
	t1 := gwtest.StartEcho(t, "tenant-service-1")
	other := gwtest.StartEcho(t, "default")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
routes:
- name: api-v1
  paths:
  - /v1
  url: %s
- name: api-v2
  paths:
  - /v2
  url: %s
- name: tenant-routing
  paths:
  - /api
  headers:
    X-Tenant-Id:
    - tenant-1
    - tenant-2
  url: %s
- name: default-api
  paths:
  - /api
  url: %s
`, v1.URL, v2.URL, t1.URL, other.URL), gwtest.Options{})

	tests := []struct {
		name   string
		path   string
		header []string
		want   string
		path2  string
	}{
		{name: "v1", path: "/v1/users", want: "api-v1", path2: "/users"},
		{name: "v2", path: "/v2/users", want: "api-v2", path2: "/users"},
		{name: "tenant-1", path: "/api/x", header: []string{"X-Tenant-Id", "tenant-1"}, want: "tenant-service-1", path2: "/x"},
		{name: "tenant-2 any case", path: "/api/x", header: []string{"X-Tenant-Id", "TENANT-2"}, want: "tenant-service-1", path2: "/x"},
		{name: "other tenant", path: "/api/x", header: []string{"X-Tenant-Id", "tenant-3"}, want: "default", path2: "/x"},
		{name: "no tenant", path: "/api/x", want: "default", path2: "/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := gw.Get(tt.path, tt.header...)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d %s", resp.StatusCode, body)
			}
			seen := gwtest.DecodeSeen(t, body)
			if seen.Name != tt.want || seen.Path != tt.path2 {
				t.Errorf("went to %s%s, want %s%s", seen.Name, seen.Path, tt.want, tt.path2)
			}
		})
	}
}

func TestPathHandlingAndNormalisation(t *testing.T) {
	up := gwtest.StartEcho(t, "s")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: s
  url: %s/s
  routes:
  - name: fv0
    paths: [/fv0]
    strip_path: false
  - name: tv0
    paths: [/tv0]
  - name: regex
    paths: ["~/users/(?P<id>\\d+)$"]
  - name: private
    paths: [/private]
    plugins:
    - name: request-termination
      config: {status_code: 403, message: private}
  - name: public
    paths: [/]
    strip_path: false
    preserve_host: true
`, up.URL), gwtest.Options{})
	tests := []struct {
		name, path, want string
		status           int
	}{
		{name: "v0 no strip", path: "/fv0/req", want: "/s/fv0/req", status: 200},
		{name: "v0 strip", path: "/tv0/req", want: "/s/req", status: 200},
		{name: "v0 strip exact", path: "/tv0", want: "/s", status: 200},
		{name: "regex strips the match", path: "/users/42", want: "/s", status: 200},
		{name: "dot segments", path: "/tv0/a/../b/./c", want: "/s/b/c", status: 200},
		{name: "double slash", path: "/tv0//x", want: "/s/x", status: 200},
		{name: "encoded unreserved", path: "/tv0/%7Euser", want: "/s/~user", status: 200},
		{name: "encoded slash is refused", path: "/tv0/a%2fb", status: 400},
		{name: "dot-dot behind an encoded slash is refused", path: "/public/..%2fprivate", status: 400},
		{name: "encoded backslash is refused", path: "/public/..%5Cprivate", status: 400},
		{name: "backslash is refused", path: "/public/..\\private", status: 400},
		{name: "encoded dots resolve before matching", path: "/public/%2e%2e/private/x", status: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A raw request line, so no client library cleans the path first.
			status, b := reqRaw(t, strings.TrimPrefix(gw.URL, "http://"), "GET "+tt.path+" HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, b)
			}
			if tt.want != "" {
				if seen := gwtest.DecodeSeen(t, b); seen.Path != tt.want {
					t.Errorf("upstream path %q, want %q", seen.Path, tt.want)
				}
			}
		})
	}
	_, body := gw.Get("/anything", "Host", "kept.example.com")
	if seen := gwtest.DecodeSeen(t, body); seen.Host != "kept.example.com" {
		t.Errorf("preserve_host: upstream Host %q", seen.Host)
	}
}

// With --allow-encoded-slashes an encoded slash passes, still encoded.
func TestAllowEncodedSlashes(t *testing.T) {
	up := gwtest.StartEcho(t, "s")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: s
  url: %s/s
  routes: [{paths: [/tv0]}]
`, up.URL), gwtest.Options{Args: []string{"--allow-encoded-slashes"}})
	_, b := reqRaw(t, strings.TrimPrefix(gw.URL, "http://"), "GET /tv0/a%2fb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if seen := gwtest.DecodeSeen(t, b); seen.Path != "/s/a%2Fb" {
		t.Errorf("upstream path %q", seen.Path)
	}
}

// A client cannot forge an identity with an underscore spelling, and a
// template fed from the query string cannot split the upstream request.
func TestHeaderSmugglingByClientInput(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  routes:
  - name: plain
    paths: [/plain]
  - name: templated
    paths: [/templated]
    plugins:
    - name: request-transformer
      config:
        replace:
          headers: ["host:$(query_params.region).svc"]
`, up.URL), gwtest.Options{})
	_, body := gw.Get("/plain", "X-Consumer_Id", "forged", "X_Credential_Identifier", "forged")
	seen := gwtest.DecodeSeen(t, body)
	for k := range seen.Header {
		if strings.Contains(strings.ToLower(k), "consumer") || strings.Contains(strings.ToLower(k), "credential") {
			t.Errorf("an underscore identity header reached the upstream: %s", k)
		}
	}
	before := up.Count.Load()
	// The plugin refuses the Host it rendered from the request: a 400.
	resp, _ := gw.Get("/templated?region=a%0d%0aX-Admin:%20true")
	if resp.StatusCode != 400 || up.Count.Load() != before {
		t.Errorf("a CRLF from the query reached the upstream's request line: %d, upstream requests %d -> %d",
			resp.StatusCode, before, up.Count.Load())
	}
}

// Gateway-made errors on a matched route carry the route's response
// headers (CORS), so a browser sees the real status.
func TestCORSHeadersOnGatewayErrors(t *testing.T) {
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: dead
  url: http://%s
  retries: 0
  routes: [{paths: [/dead]}]
plugins:
- name: cors
  config: {origins: ["https://app.example.com"]}
`, deadAddr(t)), gwtest.Options{})
	resp, _ := gw.Get("/dead", "Origin", "https://app.example.com")
	if resp.StatusCode != 502 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("502 without CORS headers: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestHTTPSOnlyRoute(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  routes:
  - name: upgrade
    paths: [/secure]
    protocols: [https]
  - name: redirect
    paths: [/moved]
    protocols: [https]
    https_redirect_status_code: 301
`, up.URL), gwtest.Options{})
	resp, body := gw.Get("/secure")
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 426 || body != "{\n  \"message\":\"Please use HTTPS protocol\",\n  \"request_id\":\""+id+"\"\n}" {
		t.Errorf("426: got %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Upgrade") != "TLS/1.2, HTTP/1.1" {
		t.Errorf("Upgrade header %q", resp.Header.Get("Upgrade"))
	}
	resp, _ = gw.Get("/moved/x?y=1", "Host", "api.example.com")
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://api.example.com/moved/x?y=1" {
		t.Errorf("redirect: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if up.Count.Load() != 0 {
		t.Errorf("upstream was reached")
	}
}

func TestUpstreamFailures(t *testing.T) {
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	slowSrv := startServer(t, slow)
	dead := deadAddr(t)
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: dead
  url: http://%s
  retries: 1
  routes: [{paths: [/dead]}]
- name: slow
  url: http://%s
  read_timeout: 300
  routes: [{paths: [/slow]}]
- name: empty
  host: empty-upstream
  routes: [{paths: [/empty]}]
upstreams:
- name: empty-upstream
`, dead, slowSrv), gwtest.Options{})

	resp, body := gw.Get("/dead")
	if resp.StatusCode != 502 || !strings.Contains(body, `"message":"An invalid response was received from the upstream server"`) {
		t.Errorf("dead upstream: %d %s", resp.StatusCode, body)
	}
	start := time.Now()
	resp, body = gw.Get("/slow")
	if resp.StatusCode != 504 || !strings.Contains(body, `"message":"The upstream server is timing out"`) {
		t.Errorf("slow upstream: %d %s", resp.StatusCode, body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("504 took %v with read_timeout 300ms", d)
	}
	resp, body = gw.Get("/empty")
	if resp.StatusCode != 503 || !strings.Contains(body, "failure to get a peer from the ring-balancer") {
		t.Errorf("no targets: %d %s", resp.StatusCode, body)
	}
}

func TestWeightedRoundRobin(t *testing.T) {
	a := gwtest.StartEcho(t, "a")
	b := gwtest.StartEcho(t, "b")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: s
  host: backend
  routes: [{paths: [/]}]
upstreams:
- name: backend
  targets:
  - target: %s
    weight: 100
  - target: %s
    weight: 300
`, strings.TrimPrefix(a.URL, "http://"), strings.TrimPrefix(b.URL, "http://")), gwtest.Options{})
	counts := map[string]int{}
	for range 40 {
		_, body := gw.Get("/")
		counts[gwtest.DecodeSeen(t, body).Name]++
	}
	if counts["a"] != 10 || counts["b"] != 30 {
		t.Errorf("distribution %v, want a=10 b=30", counts)
	}
}

func TestMalformedRequestsNeverReachUpstream(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, proxyAllConfig(up.URL), gwtest.Options{})
	addr := strings.TrimPrefix(gw.URL, "http://")
	tests := []struct {
		name, raw string
		status    int
	}{
		{name: "bad chunk size", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", status: 400},
		{name: "bad header byte", raw: "GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n", status: 400},
		{name: "two content lengths", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", status: 400},
		{name: "huge header", raw: "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", status: 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.Count.Load()
			if status, body := reqRaw(t, addr, tt.raw); status != tt.status {
				t.Errorf("status %d (%s), want %d", status, body, tt.status)
			}
			if up.Count.Load() != before {
				t.Errorf("the malformed request reached the upstream")
			}
		})
	}
}

func TestAdminStatus(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, proxyAllConfig(up.URL), gwtest.Options{})
	gw.Get("/")
	req, _ := http.NewRequest(http.MethodGet, gw.AdminURL+"/status/ready", nil)
	resp, body := gwtest.Do(t, req)
	if resp.StatusCode != 200 {
		t.Errorf("ready: %d %s", resp.StatusCode, body)
	}
	req, _ = http.NewRequest(http.MethodGet, gw.AdminURL+"/status", nil)
	resp, body = gwtest.Do(t, req)
	if resp.StatusCode != 200 || !strings.Contains(body, `"total_requests":1`) || !strings.Contains(body, `"connections_active"`) ||
		!strings.Contains(body, `"uptime_seconds"`) || !strings.Contains(body, `"configuration_hash"`) {
		t.Errorf("status: %d %s", resp.StatusCode, body)
	}
	// The admin API is not reachable through the proxy port.
	resp, _ = gw.Get("/status/ready", "Host", "localhost")
	if resp.Header.Get("X-Upstream") != "a" {
		t.Errorf("/status/ready on the proxy port was not proxied")
	}
}

func startServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
