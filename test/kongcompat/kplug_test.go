package kongcompat

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// kplugAdmin GETs an admin API path and decodes its JSON body.
func kplugAdmin(t *testing.T, gw *gwtest.Gateway, path string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, gw.AdminURL+path, nil)
	resp, body := gwtest.Do(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return m
}

// kplugReload rewrites the gateway's config file, sends SIGHUP and waits
// until the admin API reports a configuration with another hash.
func kplugReload(t *testing.T, gw *gwtest.Gateway, cfg string) {
	t.Helper()
	before := kplugAdmin(t, gw, "/status")["configuration_hash"]
	if err := os.WriteFile(gw.ConfigPath(), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	gw.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for kplugAdmin(t, gw, "/status")["configuration_hash"] == before {
		if time.Now().After(deadline) {
			t.Fatalf("the reload was not applied:\n%s", gw.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kplugJWTSecret is the secret the admin API shows for consumer's jwt
// credential key.
func kplugJWTSecret(t *testing.T, gw *gwtest.Gateway, consumer, key string) string {
	t.Helper()
	s, _ := kplugAdmin(t, gw, "/consumers/"+consumer+"/jwt/"+key)["secret"].(string)
	return s
}

func kplugSign(t *testing.T, iss, secret string) string {
	t.Helper()
	tok, err := gojwt.NewWithClaims(gojwt.SigningMethodHS256, gojwt.MapClaims{"iss": iss}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestKplugJWTGeneratedSecret: an HS256 jwt credential without a secret
// gets a random one of Kong's shape, shown by the admin API, that verifies
// tokens, survives a reload of the file, and is never logged.
func TestKplugJWTGeneratedSecret(t *testing.T) {
	const source = `Kong/kong spec/03-plugins/16-jwt/02-api_spec.lua: "does not fail when ` +
		"`secret`" + ` parameter for HS256 algorithms is missing"`
	echo := gwtest.StartEcho(t, "up")
	cfg := func(extraTag string) string {
		return `_format_version: "3.0"
services:
- name: svc
  url: ` + echo.URL + `
  routes:
  - name: r
    paths: [/jwt]
    plugins:
    - name: jwt
consumers:
- username: bob
  tags: [` + extraTag + `]
  jwt_secrets:
  - key: bob5
    algorithm: HS256
- username: alice
  jwt_secrets:
  - key: alice5
`
	}
	gw := gwtest.Start(t, cfg("one"), gwtest.Options{})
	secret := kplugJWTSecret(t, gw, "bob", "bob5")
	if !regexp.MustCompile(`^[A-Za-z0-9]{32}$`).MatchString(secret) {
		t.Fatalf("source %s: secret %q is not 32 alphanumerics", source, secret)
	}
	other := kplugJWTSecret(t, gw, "alice", "alice5")
	if other == secret || other == "" {
		t.Fatalf("source %s: the two credentials' secrets are %q and %q", source, secret, other)
	}
	tok := kplugSign(t, "bob5", secret)
	if resp, body := gw.Get("/jwt", "Authorization", "Bearer "+tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("a token signed with the generated secret: %d %s", resp.StatusCode, body)
	}
	if resp, _ := gw.Get("/jwt", "Authorization", "Bearer "+kplugSign(t, "bob5", secret+"x")); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a token signed with another secret: %d, want 401", resp.StatusCode)
	}

	// A reload that keeps consumer and key keeps the secret, so the token
	// issued with it still works.
	kplugReload(t, gw, cfg("two"))
	if got := kplugJWTSecret(t, gw, "bob", "bob5"); got != secret {
		t.Fatalf("the reload changed the generated secret")
	}
	if resp, body := gw.Get("/jwt", "Authorization", "Bearer "+tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the reload, a token signed with the generated secret: %d %s", resp.StatusCode, body)
	}

	// Moved to another consumer, it is another credential: a new secret.
	moved := strings.Replace(strings.Replace(cfg("three"), "key: bob5", "key: x5", 1), "key: alice5", "key: bob5", 1)
	kplugReload(t, gw, moved)
	if got := kplugJWTSecret(t, gw, "alice", "bob5"); got == secret || got == "" {
		t.Fatalf("the key moved to another consumer kept the secret (or has none: %q)", got)
	}

	logs := gw.Stderr()
	if !strings.Contains(logs, "consumers[0].jwt_secrets[0].secret: not set") {
		t.Fatalf("no load warning about the generated secret:\n%s", logs)
	}
	if strings.Contains(logs+gw.Stdout(), secret) || strings.Contains(logs, other) {
		t.Fatalf("a generated secret was logged:\n%s", logs)
	}
}

// kplugHeaderCase is one request of a header-spelling case: the header
// exactly as sent (not canonicalised), and what the gateway answers.
type kplugHeaderCase struct {
	source        string
	host          string
	header, value string
	status        int
	message       string
}

// TestKplugKeyNamesWithUnderscores: key-auth with `key_names: [api_key]`
// reads the key from a header spelt `api_key`, and from `api-key`, as Kong
// (NGINX's underscores_in_headers, ngx.req.get_headers() lookups) does;
// `key_names: [api-key]` reads only `api-key`.
func TestKplugKeyNamesWithUnderscores(t *testing.T) {
	const spec = `Kong/kong spec/03-plugins/09-key-auth/02-access_spec.lua: `
	echo := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, `_format_version: "3.0"
services:
- name: svc
  url: `+echo.URL+`
  routes:
  - name: route8
    hosts: [key-auth8.test]
    plugins:
    - name: key-auth
      config: {key_names: [api_key]}
  - name: route9
    hosts: [key-auth9.test]
    plugins:
    - name: key-auth
      config: {key_names: [api-key]}
consumers:
- username: bob
  keyauth_credentials:
  - key: kong
`, gwtest.Options{})
	cases := []kplugHeaderCase{
		{spec + `"authenticates valid credentials"`, "key-auth8.test", "api_key", "kong", 200, ""},
		{spec + `"authenticates valid credentials"`, "key-auth8.test", "api-key", "kong", 200, ""},
		{spec + `"authenticates valid credentials"`, "key-auth8.test", "API_KEY", "kong", 200, ""},
		{spec + `"returns 401 Unauthorized on invalid key"`, "key-auth8.test", "api_key", "123", 401, "Unauthorized"},
		{spec + `"returns 401 Unauthorized on invalid key"`, "key-auth8.test", "api-key", "123", 401, "Unauthorized"},
		{spec + `"authenticates valid credentials" (route9, key_names [api-key])`, "key-auth9.test", "api-key", "kong", 200, ""},
		{`Kong/kong kong/plugins/key-auth/handler.lua: get_headers()["api-key"] does not read an api_key header`,
			"key-auth9.test", "api_key", "kong", 401, "No API key found in request"},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(http.MethodGet, gw.URL+"/request", nil)
		req.Host = tc.host
		req.Header[tc.header] = []string{tc.value}
		// Identity headers spelt with underscores stay dropped.
		req.Header["X_Consumer_Username"] = []string{"mallory"}
		resp, body := gwtest.Do(t, req)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.message) {
			t.Errorf("%s %s: %s: %d %s, want %d %q (source %s)", tc.host, tc.header, tc.value,
				resp.StatusCode, body, tc.status, tc.message, tc.source)
			continue
		}
		if tc.status == 401 && resp.Header.Get("WWW-Authenticate") != "Key" {
			t.Errorf("%s %s: WWW-Authenticate %q, want Key (source %s)", tc.host, tc.header, resp.Header.Get("WWW-Authenticate"), tc.source)
		}
		if tc.status != 200 {
			continue
		}
		seen := gwtest.DecodeSeen(t, body)
		if u := seen.Header["X-Consumer-Username"]; len(u) != 1 || u[0] != "bob" || strings.Contains(body, "mallory") {
			t.Errorf("%s %s: not authenticated as bob alone: %s", tc.host, tc.header, body)
		}
	}
}

// kplugRaw sends a raw HTTP/1.1 request, so that no client library adds
// headers of its own, and returns the status and body.
func kplugRaw(t *testing.T, gw *gwtest.Gateway, raw string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestKplugEchoRequestAndMatchedRoute: request-termination's echo shows
// the client's headers only (none the gateway adds for the upstream), and
// the matched route and service whole, as Kong's router hands them to
// plugins: every field with its default, unset ones left out, the service
// as {id}, and the DB-less workspace.
func TestKplugEchoRequestAndMatchedRoute(t *testing.T) {
	const spec = `Kong/kong spec/03-plugins/14-request-termination/02-access_spec.lua: `
	echo := gwtest.StartEcho(t, "up")
	gw := gwtest.Start(t, `_format_version: "3.0"
services:
- name: svc
  url: `+echo.URL+`
  routes:
  - hosts: [api9.request-termination.test]
    strip_path: false
    paths: ["~/(?<parameter>[^#?/]+)/200"]
    plugins:
    - name: request-termination
      config: {echo: true, status_code: 404}
  - hosts: [api10.request-termination.test]
    plugins:
    - name: request-termination
      config: {echo: true, trigger: gimme-an-echo, status_code: 404}
`, gwtest.Options{})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(gw.URL, "http://"))
	routes := kplugAdmin(t, gw, "/routes")["data"].([]any)
	routeByHost := map[string]map[string]any{}
	for _, r := range routes {
		r := r.(map[string]any)
		routeByHost[r["hosts"].([]any)[0].(string)] = r
	}
	svc := kplugAdmin(t, gw, "/services/svc")

	cases := []struct {
		source, host, extra string
		headers             map[string]any
		captures            map[string]any
	}{
		{spec + `"echos a request if no trigger is set"`, "api9.request-termination.test", "",
			map[string]any{"content-length": "9", "host": "api9.request-termination.test"},
			map[string]any{"named": map[string]any{"parameter": "status"}, "unnamed": []any{"status"}}},
		{spec + `"echos a request if the trigger is specified as a header"`, "api10.request-termination.test",
			"Gimme-An-Echo: anything will do\r\n",
			map[string]any{"content-length": "9", "gimme-an-echo": "anything will do", "host": "api10.request-termination.test"},
			map[string]any{"named": map[string]any{}, "unnamed": []any{}}},
	}
	for _, tc := range cases {
		status, body := kplugRaw(t, gw, "GET /status/200?hello=there HTTP/1.1\r\nHost: "+tc.host+"\r\n"+tc.extra+
			"Content-Length: 9\r\n\r\ncool body")
		var got map[string]any
		if err := json.Unmarshal([]byte(body), &got); status != 404 || err != nil {
			t.Fatalf("%s: %d %s", tc.source, status, body)
		}
		req := got["request"].(map[string]any)
		want := map[string]any{
			"headers": tc.headers, "host": tc.host, "method": "GET", "path": "/status/200",
			"port": kplugNumber(t, port), "query": map[string]any{"hello": "there"}, "raw_body": "cool body",
			"scheme": "http", "uri_captures": tc.captures,
		}
		if diff := cmp.Diff(want, req); diff != "" {
			t.Errorf("request (-want +got), source %s:\n%s", tc.source, diff)
		}

		r := routeByHost[tc.host]
		wantRoute := map[string]any{
			"id": r["id"], "hosts": []any{tc.host}, "protocols": []any{"http", "https"},
			"strip_path": r["strip_path"], "preserve_host": false, "regex_priority": float64(0),
			"path_handling": "v0", "https_redirect_status_code": float64(426),
			"request_buffering": true, "response_buffering": true,
			"service": map[string]any{"id": svc["id"]}, "created_at": r["created_at"], "updated_at": r["updated_at"],
			"ws_id": "0dc6f45b-8f8d-40d2-a504-473544ee190b",
		}
		if p := r["paths"]; p != nil {
			wantRoute["paths"] = p
		}
		if diff := cmp.Diff(wantRoute, got["matched_route"]); diff != "" {
			t.Errorf("matched_route (-want +got), source %s:\n%s", tc.source, diff)
		}
		wantService := map[string]any{
			"id": svc["id"], "name": "svc", "protocol": "http", "host": "127.0.0.1", "port": svc["port"],
			"retries": float64(5), "connect_timeout": float64(60000), "write_timeout": float64(60000),
			"read_timeout": float64(60000), "enabled": true,
			"created_at": svc["created_at"], "updated_at": svc["updated_at"],
			"ws_id": "0dc6f45b-8f8d-40d2-a504-473544ee190b",
		}
		if diff := cmp.Diff(wantService, got["matched_service"]); diff != "" {
			t.Errorf("matched_service (-want +got), source %s:\n%s", tc.source, diff)
		}
	}
}

func kplugNumber(t *testing.T, s string) float64 {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return float64(n)
}
