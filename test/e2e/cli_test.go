package e2e

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

var sigterm = syscall.SIGTERM

func runCLI(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(gwtest.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	good := writeFile(t, "good.yml", `
_format_version: "3.0"
services:
- name: users
  url: http://users:8080
  routes:
  - name: r
    paths: [/users]
  plugins:
  - name: cors
consumers:
- username: alice
`)
	out, _, code := runCLI(t, nil, "validate", "-c", good)
	if code != 0 || !strings.Contains(out, "OK:") || !strings.Contains(out, "1 service,") || !strings.Contains(out, "1 route,") {
		t.Errorf("valid config: exit %d, %q", code, out)
	}

	bad := writeFile(t, "bad.yml", `
_format_version: "3.0"
services:
- name: users
  url: http://users:8080
  retries: many
  routes:
  - name: r
    paths: [/users, "~/a(b"]
    colour: blue
plugins:
- name: no-such-plugin
- name: cors
  config:
    max_age: soon
routes:
- name: dangling
  paths: [/x]
  service: nope
`)
	out, stderr, code := runCLI(t, nil, "validate", "-c", bad)
	if code != 1 {
		t.Fatalf("invalid config: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{
		"services[0].retries: ",
		"services[0].routes[0].paths[1]: invalid regex",
		"services[0].routes[0].colour: unknown field",
		"routes[0].service: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !regexp.MustCompile(`^[a-z_\[\]0-9.]+(\.[A-Za-z_-]+)*: `).MatchString(line) {
			t.Errorf("line without a field path: %q", line)
		}
	}

	plugins := writeFile(t, "plugins.yml", `
_format_version: "3.0"
plugins:
- name: no-such-plugin
- name: cors
  config:
    max_age: soon
`)
	out, _, code = runCLI(t, nil, "validate", "-c", plugins)
	if code != 1 || !strings.Contains(out, "plugins[0].name: plugin 'no-such-plugin'") || !strings.Contains(out, "plugins[1].config.max_age: ") {
		t.Errorf("plugin errors: exit %d\n%s", code, out)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	bad := writeFile(t, "bad.yml", "_format_version: \"3.0\"\nservices:\n- name: a\n  url: http://a\n  routes:\n  - paths: [nope]\n")
	_, stderr, code := runCLI(t, nil, "run", "-c", bad, "--proxy-listen", "127.0.0.1:0", "--admin-listen", "off")
	if code != 1 || !strings.Contains(stderr, "services[0].routes[0].paths[0]") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
}

func TestEnvExpansionAndEnvFlags(t *testing.T) {
	up := gwtest.StartEcho(t, "env")
	gw := gwtest.Start(t, `
_format_version: "3.0"
services:
- name: env
  url: ${E2E_UPSTREAM}
  routes: [{paths: [/]}]
  plugins:
  - name: request-transformer
    config:
      add:
        headers: ["X-Secret:${E2E_SECRET}"]
`, gwtest.Options{Env: []string{"E2E_UPSTREAM=" + up.URL, "E2E_SECRET=s3cr3t", "TURNPIKE_REQUEST_ID_HEADER=X-Trace-Id"},
		Args: []string{"--expand-env"}})
	resp, body := gw.Get("/")
	seen := gwtest.DecodeSeen(t, body)
	if got := strings.Join(seen.Header["X-Secret"], ""); got != "s3cr3t" {
		t.Errorf("X-Secret upstream = %q", got)
	}
	if resp.Header.Get("X-Trace-Id") == "" || len(seen.Header["X-Trace-Id"]) == 0 {
		t.Errorf("TURNPIKE_REQUEST_ID_HEADER not applied: %v", resp.Header)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "turnpike ") {
		t.Errorf("version: %d %q", code, out)
	}
}

// `turnpike demo` starts with no file and its printed curls work.
func TestDemo(t *testing.T) {
	cmd := exec.Command(gwtest.Binary(t), "demo", "--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	base, metrics := "", ""
	var tokens []string
	timeout := time.After(20 * time.Second)
	for base == "" || metrics == "" || len(tokens) < 2 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("demo exited")
			}
			if m := regexp.MustCompile(`curl -i (http://127\.0\.0\.1:\d+)/api/users/7`).FindStringSubmatch(l); m != nil {
				base = m[1]
			}
			if m := regexp.MustCompile(`Metrics: curl -s (http://127\.0\.0\.1:\d+/metrics)`).FindStringSubmatch(l); m != nil {
				metrics = m[1]
			}
			if m := regexp.MustCompile(`Authorization: (Bearer [\w.-]+)`).FindStringSubmatch(l); m != nil {
				tokens = append(tokens, m[1])
			}
		case <-timeout:
			t.Fatal("demo did not print its curl commands and tokens")
		}
	}
	// The users route logs the patterns guide's format on standard output.
	guideLine := make(chan string, 1)
	go func() {
		for l := range lines {
			if strings.HasPrefix(l, `{"request":{"uri":"/api/users/7"`) {
				select {
				case guideLine <- l:
				default:
				}
			}
		}
	}()
	get := func(path string, header ...string) (int, string) {
		resp, body := gwtest.Do(t, gwtest.NewRequest(t, http.MethodGet, base+path, "", header...))
		return resp.StatusCode, body
	}
	checks := []struct {
		path   string
		header []string
		status int
		want   string
	}{
		{path: "/api/users/7", status: 200, want: `"path":"/users/7"`},
		{path: "/v2/products", status: 200, want: `"query":"api_version=2"`},
		// The printed REST-to-gRPC curl: the in-process gRPC UserService's
		// user 1 as JSON.
		{path: "/v1/users/1", status: 200, want: `"name":"Alice"`},
		{path: "/api/tenant", header: []string{"X-Tenant-Id", "tenant-1"}, status: 200, want: `"path":"/tenants"`},
		{path: "/api/tenant", status: 404, want: "no Route matched"},
		{path: "/api/admin/maintenance", status: 503, want: "maintenance"},
		// The printed aggregation curl: three services in one answer,
		// the orders without the fields the route does not allow.
		{path: "/api/dashboard/7", status: 200, want: `"user":{"id":"7","name":"Alan Turing"`},
		{path: "/api/dashboard/7", status: 200, want: `"orders":[{"id":"o-7-1","total":42.5,"status":"shipped"}`},
		// The three printed admin curls: no token, demo-user's, demo-admin's.
		{path: "/api/admin", status: 401, want: "Unauthorized"},
		{path: "/api/admin", header: []string{"Authorization", tokens[0]}, status: 403, want: "You cannot consume this service"},
		{path: "/api/admin", header: []string{"Authorization", tokens[1]}, status: 200, want: `"service":"admin"`},
	}
	req, _ := http.NewRequest(http.MethodOptions, base+"/api/orders", nil)
	req.Header.Set("Origin", "https://example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	if resp, _ := gwtest.Do(t, req); resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("demo CORS preflight: %d %v", resp.StatusCode, resp.Header)
	}
	for _, c := range checks {
		status, body := get(c.path, c.header...)
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("demo %s: %d %s", c.path, status, body)
		}
	}
	// The printed reports curls: a client-credentials token from the
	// gateway, then the API with it.
	treq, _ := http.NewRequest(http.MethodPost, base+"/api/reports/oauth2/token", strings.NewReader(
		"grant_type=client_credentials&client_id=demo-client&client_secret=demo-client-secret&scope=reports:read"))
	treq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	treq.Header.Set("X-Forwarded-Proto", "https")
	tresp, tbody := gwtest.Do(t, treq)
	token := regexp.MustCompile(`"access_token":"([^"]+)"`).FindStringSubmatch(tbody)
	if tresp.StatusCode != 200 || token == nil {
		t.Fatalf("demo oauth2 token: %d %s", tresp.StatusCode, tbody)
	}
	if status, body := get("/api/reports", "Authorization", "Bearer "+token[1]); status != 200 ||
		!strings.Contains(body, `"X-Authenticated-Scope":"reports:read"`) {
		t.Errorf("demo reports with a token: %d %s", status, body)
	}
	if status, _ := get("/api/reports"); status != 401 {
		t.Errorf("demo reports without a token: %d", status)
	}
	// The printed products curl: the response cache's Miss, then a Hit
	// with the same body.
	var cached []string
	var bodies []string
	for range 2 {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/products", nil)
		resp, body := gwtest.Do(t, req)
		if resp.StatusCode != 200 || !strings.Contains(body, `"service":"products`) {
			t.Fatalf("demo /v1/products: %d %s", resp.StatusCode, body)
		}
		cached = append(cached, resp.Header.Get("X-Cache-Status"))
		bodies = append(bodies, body)
	}
	if strings.Join(cached, ",") != "Miss,Hit" || bodies[0] != bodies[1] {
		t.Errorf("demo products cache: X-Cache-Status %v, bodies %q", cached, bodies)
	}
	// The listing is compressed for a client that asks (a cache hit too).
	zreq, _ := http.NewRequest(http.MethodGet, base+"/v1/products", nil)
	zreq.Header.Set("Accept-Encoding", "gzip")
	zresp, zbody := gwtest.Do(t, zreq)
	if zresp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("demo products: Content-Encoding %q, want gzip", zresp.Header.Get("Content-Encoding"))
	} else if zr, err := gzip.NewReader(strings.NewReader(zbody)); err != nil {
		t.Errorf("demo products: %v", err)
	} else if plain, _ := io.ReadAll(zr); string(plain) != bodies[0] {
		t.Errorf("demo products: decompressed %q, want %q", plain, bodies[0])
	}
	// The printed orders loop: 5 a minute per consumer, then 429. A minute
	// boundary in between restarts the count, so the loop runs until the
	// first 429 and checks the countdown before it.
	remaining := []string{}
	limited := false
	for i := 0; i < 12 && !limited; i++ {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/orders", nil)
		req.Header.Set("apikey", "demo-key")
		resp, body := gwtest.Do(t, req)
		switch resp.StatusCode {
		case 200:
			remaining = append(remaining, resp.Header.Get("X-RateLimit-Remaining-Minute"))
		case 429:
			limited = true
			if resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "API rate limit exceeded") {
				t.Errorf("demo orders 429: %v %s", resp.Header, body)
			}
		default:
			t.Fatalf("demo orders: %d %s", resp.StatusCode, body)
		}
	}
	if n := len(remaining); !limited || n < 5 || strings.Join(remaining[n-5:], ",") != "4,3,2,1,0" {
		t.Errorf("demo orders countdown %v, limited %v", remaining, limited)
	}
	select {
	case l := <-guideLine:
		var entry struct {
			Request  map[string]any `json:"request"`
			Response map[string]any `json:"response"`
			Latency  map[string]any `json:"latency"`
		}
		if err := json.Unmarshal([]byte(l), &entry); err != nil || entry.Request["method"] != "GET" ||
			entry.Response["status"] != float64(200) || entry.Latency["request"] == nil {
			t.Errorf("demo logging line %s: %v", l, err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the demo's users route wrote no line in the patterns guide's format")
	}
	// The printed metrics curl: the guide's series, with the demo's routes.
	mreq, _ := http.NewRequest(http.MethodGet, metrics, nil)
	resp, body := gwtest.Do(t, mreq)
	if resp.StatusCode != 200 || !strings.Contains(body, `api_gateway_requests_total{method="GET",route="users",status="200"}`) ||
		!strings.Contains(body, `api_gateway_rate_limit_exceeded{route="orders"} 1`) {
		t.Errorf("demo metrics: %d %.2000s", resp.StatusCode, body)
	}
}
