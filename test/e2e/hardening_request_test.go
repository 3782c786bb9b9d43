package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// reqRaw writes raw to addr and reads one response (status 0 and the
// error when none came in 10 s). A write error is not the end: the
// gateway may answer and close before taking all of raw (a huge header).
func reqRaw(t *testing.T, addr, raw string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, raw)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// reqErrorLines are the ERROR lines of the gateway's own log.
func reqErrorLines(gw *gwtest.Gateway) []string {
	var out []string
	for _, line := range strings.Split(gw.Stderr(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			out = append(out, line)
		}
	}
	return out
}

// TestHardeningHostSyntax: a Host or :authority that is not a host name or
// IP literal with an optional numeric port gets 400 before routing, so
// `admin.example.com:80:80` can no longer miss the admin route's key-auth,
// fall to the catch-all and reach the admin virtual host with
// preserve_host. Over HTTP/1.1 and HTTP/2.
func TestHardeningHostSyntax(t *testing.T) {
	admin := gwtest.StartEcho(t, "admin")
	public := gwtest.StartEcho(t, "public")
	cert, key := selfSigned(t, "gw.example.com")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
consumers:
- username: ops
  keyauth_credentials: [{key: ops-key}]
services:
- name: admin
  url: %s
  routes:
  - name: admin
    hosts: [admin.example.com]
    preserve_host: true
    plugins: [{name: key-auth}]
- name: public
  url: %s
  routes:
  - name: catch-all
    paths: [/]
    preserve_host: true
certificates:
- cert: |
%s
  key: |
%s
  snis: [gw.example.com]
`, admin.URL, public.URL, indent(cert, "    "), indent(key, "    ")), gwtest.Options{ProxyListen: "127.0.0.1:0, 127.0.0.1:0 ssl"})
	if len(gw.URLs) != 2 {
		t.Fatalf("listeners: %v", gw.URLs)
	}
	plainAddr := strings.TrimPrefix(gw.URLs[0], "http://")
	tlsAddr := strings.TrimPrefix(gw.URLs[1], "http://")
	h2 := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "gw.example.com", InsecureSkipVerify: true}, Protocols: new(http.Protocols)}
	h2.Protocols.SetHTTP2(true)
	t.Cleanup(h2.CloseIdleConnections)
	h2Get := func(t *testing.T, host string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "https://"+tlsAddr+"/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := (&http.Client{Transport: h2, Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("h2 GET with :authority %q: %v", host, err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("h2 GET went over %s", resp.Proto)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	h1Get := func(t *testing.T, host string) (int, string) {
		t.Helper()
		return reqRaw(t, plainAddr, "GET /x HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
	}

	bad := []string{
		"admin.example.com:80:80",
		"ADMIN.example.com:1:2",
		"admin.example.com:8080:",
		"admin.example.com:",
		"admin.example.com:99999",
		"admin.example.com:-1",
		"admin.example.com:8o",
		"admin..example.com",
		".admin.example.com",
		"admin.example.com%2e",
		"admin.example.com,evil.example.com",
		"admin.example.com;x",
		"[::1",
		"[::1]:80:80",
		"[::1]x",
		"[admin.example.com]",
		"[v1.x]",
		":80",
	}
	for _, proto := range []string{"http1", "h2"} {
		get := h1Get
		if proto == "h2" {
			get = h2Get
		}
		t.Run(proto, func(t *testing.T) {
			for _, host := range bad {
				before := admin.Count.Load() + public.Count.Load()
				status, body := get(t, host)
				if status != http.StatusBadRequest || kongMessage(body) != "Bad request" {
					t.Errorf("Host %q: %d %q, want 400 Bad request", host, status, body)
				}
				if after := admin.Count.Load() + public.Count.Load(); after != before {
					t.Errorf("Host %q reached an upstream", host)
				}
			}
			for _, tc := range []struct {
				host   string
				status int
				want   string // upstream that answers, "" for none
			}{
				{host: "admin.example.com", status: 401},
				{host: "ADMIN.example.com:8080", status: 401},
				{host: "admin.example.com.", status: 401},
				{host: "admin.example.com:0", status: 401},
				{host: "admin.example.com:65535", status: 401},
				{host: "other.example.com", status: 200, want: "public"},
				{host: "under_score.example.com", status: 200, want: "public"},
				{host: "127.0.0.1:8000", status: 200, want: "public"},
				{host: "[::1]", status: 200, want: "public"},
				{host: "[2001:db8::1]:443", status: 200, want: "public"},
			} {
				status, body := get(t, tc.host)
				if status != tc.status {
					t.Errorf("Host %q: %d %q, want %d", tc.host, status, body, tc.status)
					continue
				}
				if tc.want != "" {
					if seen := gwtest.DecodeSeen(t, body); seen.Name != tc.want || seen.Host != tc.host {
						t.Errorf("Host %q reached %s with Host %q", tc.host, seen.Name, seen.Host)
					}
				}
			}
		})
	}
	if lines := reqErrorLines(gw); len(lines) > 0 {
		t.Errorf("client errors were logged as errors:\n%s", strings.Join(lines, "\n"))
	}
}

// TestHardeningDisabledService: the routes of a service with enabled:
// false are absent from the router, as in Kong: 404 when nothing else
// matches, the next route otherwise, and explain says why. Plugins with
// enabled: false never run, consumer-scoped ones included.
func TestHardeningDisabledService(t *testing.T) {
	off := gwtest.StartEcho(t, "off")
	on := gwtest.StartEcho(t, "on")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
consumers:
- username: alice
  keyauth_credentials: [{key: alice-key}]
services:
- name: off
  url: %s
  enabled: false
  routes:
  - name: off-route
    paths: [/off]
  - name: off-shadow
    hosts: [shadow.example.com]
    paths: [/shadowed]
- name: on
  url: %s
  routes:
  - name: shadow-fallback
    hosts: [shadow.example.com]
  - name: keyed
    paths: [/keyed]
    plugins:
    - name: key-auth
      enabled: false
  - name: consumer-terminated
    paths: [/consumer]
    plugins:
    - name: key-auth
    - name: request-termination
      consumer: alice
      enabled: false
      config: {status_code: 418}
`, off.URL, on.URL), gwtest.Options{})

	resp, body := gw.Get("/off")
	if resp.StatusCode != 404 || body != kongError("no Route matched with those values", resp) {
		t.Errorf("route of a disabled service: %d %q, want Kong's 404", resp.StatusCode, body)
	}
	resp, body = gw.Get("/shadowed", "Host", "shadow.example.com")
	if resp.StatusCode != 200 || gwtest.DecodeSeen(t, body).Name != "on" {
		t.Errorf("a disabled service's route shadowed the next one: %d %q", resp.StatusCode, body)
	}
	if n := off.Count.Load(); n != 0 {
		t.Errorf("the disabled service's upstream got %d requests", n)
	}
	resp, body = gw.Get("/keyed")
	if resp.StatusCode != 200 {
		t.Errorf("a disabled key-auth ran: %d %q", resp.StatusCode, body)
	}
	resp, body = gw.Get("/consumer", "apikey", "alice-key")
	if resp.StatusCode != 200 {
		t.Errorf("a disabled consumer-scoped plugin ran: %d %q", resp.StatusCode, body)
	}

	for _, tc := range []struct{ url, want string }{
		{"http://x/off", "service off is disabled"},
		{"http://shadow.example.com/shadowed", "service off is disabled"},
	} {
		req, _ := http.NewRequest(http.MethodGet, gw.AdminURL+"/explain?url="+url.QueryEscape(tc.url), nil)
		resp, body := gwtest.Do(t, req)
		if resp.StatusCode != 200 || !strings.Contains(body, tc.want) {
			t.Errorf("explain %s: %d %s, want it to say %q", tc.url, resp.StatusCode, body, tc.want)
		}
	}
}

// TestHardeningPreserveHostWithoutHost: an HTTP/1.0 request without Host,
// or any request with an empty Host, on a preserve_host route is the
// client's fault: 400, and nothing in the error log.
func TestHardeningPreserveHostWithoutHost(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  routes:
  - name: kept
    paths: [/kept]
    preserve_host: true
  - name: plain
    paths: [/plain]
`, up.URL), gwtest.Options{})
	addr := strings.TrimPrefix(gw.URL, "http://")
	for _, raw := range []string{
		"GET /kept HTTP/1.0\r\n\r\n",
		"GET /kept HTTP/1.0\r\nHost:\r\n\r\n",
		"GET /kept HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n",
	} {
		status, body := reqRaw(t, addr, raw)
		if status != 400 || kongMessage(body) != "Bad request" {
			t.Errorf("%q: %d %q, want 400 Bad request", raw, status, body)
		}
	}
	if n := up.Count.Load(); n != 0 {
		t.Errorf("upstream got %d requests without a Host to preserve", n)
	}
	status, body := reqRaw(t, addr, "GET /plain HTTP/1.0\r\n\r\n")
	if status != 200 {
		t.Errorf("HTTP/1.0 without Host on a route that sets the service's Host: %d %q", status, body)
	} else if seen := gwtest.DecodeSeen(t, body); seen.Host != strings.TrimPrefix(up.URL, "http://") {
		t.Errorf("upstream Host %q", seen.Host)
	}
	if lines := reqErrorLines(gw); len(lines) > 0 {
		t.Errorf("client errors were logged as errors:\n%s", strings.Join(lines, "\n"))
	}
}

// TestHardeningUnderscoreHeaders: underscore spellings of forwarding,
// hop-by-hop and framing headers never reach the upstream, where a
// CGI-style server would read them as the real ones; other underscore
// headers pass.
func TestHardeningUnderscoreHeaders(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, proxyAllConfig(up.URL), gwtest.Options{Args: []string{"--real-ip-header", "CF-Connecting-IP"}})
	forged := []string{
		"X-Real_IP", "X_Forwarded_For", "x_forwarded_for", "Transfer_Encoding", "X_Forwarded_Host",
		"X-Forwarded_Proto", "X_Forwarded_Port", "X_Forwarded_Path", "X_Forwarded_Prefix",
		"Proxy_Connection", "Keep_Alive", "Proxy_Authorization", "Content_Length", "X_Request_Id",
		"CF_Connecting_IP", "X_Consumer_Username",
	}
	header := []string{"X-Custom_Name", "kept", "api_key", "kept"}
	for _, k := range forged {
		header = append(header, k, "6.6.6.6")
	}
	resp, body := gw.Get("/h", header...)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	seen := gwtest.DecodeSeen(t, body)
	for k, vs := range seen.Header {
		if strings.Contains(k, "_") && strings.Contains(strings.Join(vs, ","), "6.6.6.6") {
			t.Errorf("%s: %q reached the upstream", k, vs)
		}
	}
	for _, k := range []string{"X-Custom_name", "Api_key"} {
		if strings.Join(seen.Header[k], "") != "kept" {
			t.Errorf("%s did not pass: %v", k, seen.Header)
		}
	}
	if got := strings.Join(seen.Header["X-Forwarded-For"], ","); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", got)
	}
}

// TestHardeningServletPathParams: `..;` and `.;` segments (also spelt with
// %2e and %3b) are refused with 400 by default, since Tomcat and Spring
// read `/public/x/..;/..;/admin` as /admin past the route that was
// checked; --allow-dot-segment-params lets them through unchanged.
func TestHardeningServletPathParams(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	cfg := fmt.Sprintf(`
_format_version: "3.0"
services:
- name: a
  url: %s
  routes:
  - name: public
    paths: [/public]
    strip_path: false
  - name: admin
    paths: [/admin]
    plugins: [{name: key-auth}]
`, up.URL)
	gw := gwtest.Start(t, cfg, gwtest.Options{})
	addr := strings.TrimPrefix(gw.URL, "http://")
	get := func(addr, path string) (int, string) {
		return reqRaw(t, addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	}
	refused := []string{
		"/public/x/..;/..;/admin",
		"/public/..;/admin",
		"/public/..;jsessionid=1/admin",
		"/public/.;/x",
		"/public/.;a=b/x",
		"/public/%2e%2e;/admin",
		"/public/%2E.;/admin",
		"/public/..%3b/admin",
		"/public/..%3B/admin",
		"/public/%2e%2e%3b/admin",
		"/public/x/..;",
		"/public/.%3B",
		"/;/admin",
	}
	for _, p := range refused {
		before := up.Count.Load()
		status, body := get(addr, p)
		if status != 400 || kongMessage(body) != "Bad request" {
			t.Errorf("%s: %d %q, want 400 Bad request", p, status, body)
		}
		if up.Count.Load() != before {
			t.Errorf("%s reached the upstream", p)
		}
	}
	for _, p := range []string{"/public/a;b/c", "/public/x;v=1", "/public/...;/x", "/public/..a;/x", "/public/a.;/x", "/public/;jsessionid=1"} {
		status, body := get(addr, p)
		if status != 200 {
			t.Errorf("%s: %d %q, want 200", p, status, body)
		} else if seen := gwtest.DecodeSeen(t, body); seen.Path != p {
			t.Errorf("%s reached the upstream as %s", p, seen.Path)
		}
	}

	allowed := gwtest.Start(t, cfg, gwtest.Options{Args: []string{"--allow-dot-segment-params"}})
	status, body := get(strings.TrimPrefix(allowed.URL, "http://"), "/public/x/..;/..;/admin")
	if status != 200 {
		t.Fatalf("with --allow-dot-segment-params: %d %q", status, body)
	}
	if seen := gwtest.DecodeSeen(t, body); seen.Path != "/public/x/..;/..;/admin" {
		t.Errorf("with --allow-dot-segment-params the upstream got %s", seen.Path)
	}
}
