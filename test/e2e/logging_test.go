package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// pluginLines are the lines on the gateway's stdout that have key, the
// logging plugin's among the access log's own.
func pluginLines(t *testing.T, gw *gwtest.Gateway, key string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var out []map[string]any
		for _, m := range gw.AccessLog(0) {
			if _, ok := m[key]; ok {
				out = append(out, m)
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The guide's Observability example, pasted into a kong.yml as written,
// writes one JSON object of its shape per request to standard output,
// beside the access log's line, with numbers as numbers.
func TestLoggingGuideExampleOnStdout(t *testing.T) {
	up := gwtest.StartEcho(t, "users")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: users
  url: %s
  routes:
  - name: users
    paths: [/users]
# Structured logging
plugins:
- name: logging
  config:
    log_level: info
    log_format:
      request:
        uri: $request_uri
        method: $request_method
        size: $request_length
      response:
        status: $status
        size: $response_length
      latency:
        request: $request_time_ms
        upstream: $upstream_connect_time_ms
`, up.URL), gwtest.Options{})
	req, _ := http.NewRequest("POST", gw.URL+"/users/7?page=2", strings.NewReader("hello"))
	resp, body := gwtest.Do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	lines := pluginLines(t, gw, "request", 1)
	if len(lines) != 1 {
		t.Fatalf("%d logging lines in:\n%s", len(lines), gw.Stdout())
	}
	l := lines[0]
	request, _ := l["request"].(map[string]any)
	response, _ := l["response"].(map[string]any)
	latency, _ := l["latency"].(map[string]any)
	if len(l) != 3 || len(request) != 3 || len(response) != 2 || len(latency) != 2 {
		t.Fatalf("shape: %v", l)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"request.uri", request["uri"], "/users/7?page=2"},
		{"request.method", request["method"], "POST"},
		{"response.status", response["status"], 200.0},
		{"response.size", response["size"], float64(len(body))},
	} {
		if c.got != c.want {
			t.Errorf("%s: %#v, want %#v", c.name, c.got, c.want)
		}
	}
	// NGINX's $request_length: request line, headers and the 5 bytes of
	// body, as Kong's request.size.
	if size, _ := request["size"].(float64); size < float64(len("POST /users/7?page=2 HTTP/1.1\r\n")+5) || size > 4096 {
		t.Errorf("request.size: %#v, want the request line, headers and body", request["size"])
	}
	for _, k := range []string{"request", "upstream"} {
		if v, ok := latency[k].(float64); !ok || v < 0 || v > 5000 {
			t.Errorf("latency.%s: %#v, want a number of milliseconds", k, latency[k])
		}
	}
	// The admin API shows the format as written.
	resp, body = gwtest.Do(t, mustRequest(t, gw.AdminURL+"/plugins"))
	var plugins struct {
		Data []struct {
			Config struct {
				LogFormat map[string]map[string]string `json:"log_format"`
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &plugins); err != nil || resp.StatusCode != 200 || len(plugins.Data) != 1 ||
		plugins.Data[0].Config.LogFormat["latency"]["upstream"] != "$upstream_connect_time_ms" {
		t.Errorf("admin /plugins: %d %s", resp.StatusCode, body)
	}
	// The keys keep the order the file gave them.
	raw := gw.Stdout()
	i := strings.Index(raw, `{"request":{"uri":`)
	if i < 0 || !strings.HasPrefix(raw[i+strings.Index(raw[i:], `},"response":{"status":`):], `},"response":{"status":200,"size":`) {
		t.Errorf("key order not kept:\n%s", raw)
	}
}

// --access-log off silences the gateway's own line, not the lines a
// logging plugin was configured for: those still go to stdout.
func TestLoggingWithAccessLogOff(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: api
  url: %s
  routes:
  - paths: [/]
plugins:
- name: logging
  config:
    log_format: {status: $status, uri: $uri}
`, up.URL), gwtest.Options{Args: []string{"--access-log", "off"}})
	gw.Get("/a")
	gw.Get("/b")
	lines := pluginLines(t, gw, "status", 2)
	if len(lines) != 2 || len(gw.AccessLog(0)) != 2 || lines[0]["uri"] != "/a" || lines[1]["status"] != 200.0 {
		t.Errorf("stdout:\n%s", gw.Stdout())
	}
}

// With a path the lines go to that file, not stdout, every one written
// by a clean shutdown; credentials in headers and the key-auth query
// argument are redacted, and the other variables filled.
func TestLoggingPathRedactsCredentials(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	path := filepath.Join(t.TempDir(), "requests.log")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
consumers:
- username: alice
  keyauth_credentials:
  - key: s3cret-key
services:
- name: api
  url: %s
  routes:
  - name: api
    paths: [/api]
    plugins:
    - name: key-auth
    - name: logging
      config:
        path: %s
        log_format:
          at: "${request_method} ${uri}?${args}"
          who: {consumer: $consumer, auth: $http_authorization, agent: $http_user_agent}
          upstream: {addr: $upstream_addr, status: $upstream_status}
          route: $route
          service: $service
          id: $request_id
          echoed: $sent_http_x_upstream
          host: $host
`, up.URL, path), gwtest.Options{})
	const n = 20
	for i := range n {
		resp, _ := gw.Get(fmt.Sprintf("/api/x?apikey=s3cret-key&i=%d", i), "Authorization", "Basic dXNlcjpwYXNz", "User-Agent", "e2e")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	gw.Stop()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "s3cret") || strings.Contains(string(data), "dXNlcjpwYXNz") {
		t.Fatalf("a credential reached the log:\n%s", data)
	}
	if strings.Contains(gw.Stdout(), `"who"`) {
		t.Error("lines went to stdout too")
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), n, data)
	}
	var l struct {
		At       string
		Who      struct{ Consumer, Auth, Agent string }
		Upstream struct {
			Addr   string
			Status int
		}
		Route, Service, ID, Echoed, Host string
	}
	if err := json.Unmarshal([]byte(lines[n-1]), &l); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("GET /api/x?apikey=REDACTED&i=%d", n-1)
	upAddr := strings.TrimPrefix(up.URL, "http://")
	if l.At != want || l.Who.Consumer != "alice" || l.Who.Auth != "REDACTED" || l.Who.Agent != "e2e" ||
		l.Upstream.Addr != upAddr || l.Upstream.Status != 200 || l.Route != "api" || l.Service != "api" ||
		len(l.ID) < 16 || l.Echoed != "a" || l.Host != "127.0.0.1" {
		t.Errorf("line %+v", l)
	}
}

// An unknown variable is a configuration error with its field path, and
// the gateway does not start on it.
func TestLoggingUnknownVariableIsAConfigError(t *testing.T) {
	bad := writeFile(t, "bad.yml", `
_format_version: "3.0"
plugins:
- name: logging
  config:
    log_format:
      request:
        uri: $foo
`)
	out, _, code := runCLI(t, nil, "validate", "-c", bad)
	if code != 1 || !strings.Contains(out, "plugins[0].config.log_format.request.uri: unknown variable $foo") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// correlation-id: the upstream sees a generated id, the client's own is
// kept, and with echo_downstream the client gets the id back.
func TestCorrelationID(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: api
  url: %s
  routes:
  - name: quiet
    paths: [/quiet]
    plugins:
    - name: correlation-id
  - name: echo
    paths: [/echo]
    plugins:
    - name: correlation-id
      config: {header_name: X-Correlation-ID, generator: uuid, echo_downstream: true}
`, up.URL), gwtest.Options{})
	resp, body := gw.Get("/quiet")
	first := gwtest.DecodeSeen(t, body).Header["Kong-Request-Id"]
	if len(first) != 1 || !strings.HasSuffix(first[0], "#1") || resp.Header.Get("Kong-Request-ID") != "" {
		t.Fatalf("upstream got %q, client %v", first, resp.Header)
	}
	_, body = gw.Get("/quiet")
	if second := gwtest.DecodeSeen(t, body).Header["Kong-Request-Id"]; len(second) != 1 ||
		second[0] != strings.TrimSuffix(first[0], "1")+"2" {
		t.Errorf("second id %q after %q", second, first)
	}
	resp, body = gw.Get("/echo")
	sent := gwtest.DecodeSeen(t, body).Header["X-Correlation-Id"]
	if len(sent) != 1 || len(sent[0]) != 36 || resp.Header.Get("X-Correlation-ID") != sent[0] {
		t.Errorf("upstream got %q, client got %q", sent, resp.Header.Get("X-Correlation-ID"))
	}
	resp, body = gw.Get("/echo", "X-Correlation-ID", "client-chosen")
	if got := gwtest.DecodeSeen(t, body).Header["X-Correlation-Id"]; len(got) != 1 || got[0] != "client-chosen" ||
		resp.Header.Get("X-Correlation-ID") != "client-chosen" {
		t.Errorf("client's id: upstream %q, client %q", got, resp.Header.Get("X-Correlation-ID"))
	}
}

// The admin API shows log_format in the order the config wrote it: it is
// the shape of the lines, and a dump read back must log the same shape.
func TestLoggingFormatOrderInAdminAPI(t *testing.T) {
	up := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, globalPluginsConfig(up.URL, `
- name: logging
  config:
    log_format:
      zeta: $status
      alpha: {mid: $request_method, beta: $uri}
      mu: $request_id
`), gwtest.Options{})
	resp, err := http.Get(gw.AdminURL + "/plugins")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := `"log_format":{"zeta":"$status","alpha":{"mid":"$request_method","beta":"$uri"},"mu":"$request_id"}`
	if !strings.Contains(string(body), want) {
		t.Errorf("admin API body lacks %s:\n%s", want, body)
	}
}

// As Kong's spec (11-correlation-id, "log correlation id to file-log"):
// the id the upstream got is the log object's correlation_id.
func TestCorrelationIDInFileLog(t *testing.T) {
	up := gwtest.StartEcho(t, "a")
	path := filepath.Join(t.TempDir(), "file.log")
	gw := gwtest.Start(t, globalPluginsConfig(up.URL, fmt.Sprintf(`
- name: correlation-id
  config: {header_name: X.Request.Id}
- name: file-log
  config: {path: %s}
`, path)), gwtest.Options{})
	_, body := gw.Get("/")
	sent := gwtest.DecodeSeen(t, body).Header["X.request.id"]
	if len(sent) != 1 {
		t.Fatalf("upstream got %v", gwtest.DecodeSeen(t, body).Header)
	}
	var entry map[string]any
	waitUntil(t, "the file-log line", func() bool {
		data, _ := os.ReadFile(path)
		return json.Unmarshal(data, &entry) == nil
	})
	if entry["correlation_id"] != sent[0] {
		t.Errorf("correlation_id %v, upstream got %q", entry["correlation_id"], sent[0])
	}
}
