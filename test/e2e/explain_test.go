package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/explain"
	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// TestExplainAgreesWithProxy runs `turnpike explain --json` and the real
// proxy on the same config and requests: explain must name the route the
// proxy chose (each route has its own echo upstream, named after it), the
// path and Host the upstream received, and the gateway's own answers.
func TestExplainAgreesWithProxy(t *testing.T) {
	raw, err := os.ReadFile("../../internal/explain/testdata/explain.yml")
	if err != nil {
		t.Fatal(err)
	}
	echoes := map[string]*gwtest.Echo{}
	placeholder := regexp.MustCompile(`\{\{([a-z0-9-]+)(\.addr)?\}\}`)
	cfg := placeholder.ReplaceAllStringFunc(string(raw), func(s string) string {
		m := placeholder.FindStringSubmatch(s)
		e := echoes[m[1]]
		if e == nil {
			e = gwtest.StartEcho(t, m[1])
			echoes[m[1]] = e
		}
		if m[2] != "" {
			return strings.TrimPrefix(e.URL, "http://")
		}
		return e.URL
	})
	path := writeFile(t, "kong.yml", cfg)
	gw := gwtest.Start(t, cfg, gwtest.Options{})

	tests := []struct {
		name   string
		method string
		target string   // path and query
		header []string // name, value pairs; Host sets the Host header
		route  string   // what explain must name ("" for no match)
		status int      // the proxy's status
	}{
		{name: "prefix, strip into service path", target: "/v1/users?page=2", route: "v1-users", status: 200},
		{name: "shorter prefix", target: "/v1/things/x?a=1&b=2", route: "v1-catch-all", status: 200},
		{name: "regex_priority", target: "/v1/users/7", route: "user-by-id", status: 200},
		{name: "regex over prefix, strip to service path", target: "/v1/users/bob", route: "user-any", status: 200},
		{name: "normalised path", target: "/v1//users/./%37", route: "user-by-id", status: 200},
		{name: "plain host", target: "/shop/cart", header: []string{"Host", "api.example.com"}, route: "shop-plain", status: 200},
		{name: "wildcard host, preserve_host", target: "/shop/cart", header: []string{"Host", "www.example.com:8000"}, route: "shop-wild", status: 200},
		{name: "tenant header, balanced", target: "/v1/orders/1", header: []string{"X-Tenant-Id", "t1"}, route: "tenant", status: 200},
		{name: "more header names", target: "/v1/orders/1", header: []string{"X-Tenant-Id", "T1", "X-Beta", "yes"}, route: "tenant-beta", status: 200},
		{name: "header does not match", target: "/v1/orders/1", header: []string{"X-Tenant-Id", "t2"}, route: "v1-catch-all", status: 200},
		{name: "method", method: "POST", target: "/admin/x", route: "admin", status: 200},
		{name: "no route", target: "/admin/x", status: 404},
		{name: "host not matched", target: "/shop", header: []string{"Host", "other.org"}, status: 404},
		{name: "https-only", target: "/secure", route: "secure", status: 426},
		{name: "https redirect", target: "/login?next=%2F", route: "login", status: 308},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			args := []string{"explain", "-c", path, "--json", method, gw.URL + tt.target}
			for i := 0; i+1 < len(tt.header); i += 2 {
				args = append(args, "-H", tt.header[i]+": "+tt.header[i+1])
			}
			stdout, stderr, code := runCLI(t, nil, args...)
			if code != 0 {
				t.Fatalf("explain exit %d: %s", code, stderr)
			}
			var rep explain.Report
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("explain --json: %v\n%s", err, stdout)
			}

			req, err := http.NewRequest(method, gw.URL+tt.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(tt.header); i += 2 {
				if tt.header[i] == "Host" {
					req.Host = tt.header[i+1]
					continue
				}
				req.Header.Add(tt.header[i], tt.header[i+1])
			}
			resp, body := gwtest.Do(t, req)
			if resp.StatusCode != tt.status {
				t.Fatalf("proxy status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}

			got := ""
			if rep.Matched != nil {
				got = rep.Matched.Route.Name
			}
			if got != tt.route {
				t.Fatalf("explain matched %q, want %q\n%s", got, tt.route, stdout)
			}
			if resp.StatusCode != 200 {
				if rep.Status != resp.StatusCode || rep.Upstream != nil {
					t.Errorf("explain status %d (upstream %v), the proxy answered %d", rep.Status, rep.Upstream, resp.StatusCode)
				}
				return
			}
			seen := gwtest.DecodeSeen(t, body)
			if seen.Name != got {
				t.Errorf("the proxy chose %s, explain %s", seen.Name, got)
			}
			u := rep.Upstream
			if rep.Status != 0 || u == nil {
				t.Fatalf("explain says the gateway answers %d, the proxy forwarded", rep.Status)
			}
			if seen.Path != u.Path || seen.Query != u.Query || seen.Host != u.Host || seen.Method != u.Method {
				t.Errorf("upstream received %s %s?%s Host %s; explain says %s %s?%s Host %s",
					seen.Method, seen.Path, seen.Query, seen.Host, u.Method, u.Path, u.Query, u.Host)
			}
			if len(u.Targets) == 0 || (!u.Balanced && u.Targets[0].Address != strings.TrimPrefix(echoes[seen.Name].URL, "http://")) {
				t.Errorf("targets %+v", u.Targets)
			}
		})
	}
}

// TestExplainCLI covers the text output and the exit codes.
func TestExplainCLI(t *testing.T) {
	cfg := writeFile(t, "kong.yml", `
_format_version: "3.0"
plugins:
- name: cors
services:
- name: users
  url: http://users.internal:8080/api
  routes:
  - name: v1-users
    paths: [/v1/users]
    headers:
      X-Tenant-Id: [t1]
  - name: catch-all
    paths: [/]
`)
	out, stderr, code := runCLI(t, nil, "explain", "-c", cfg, "GET", "http://api.example.com/v1/users/7", "-H", "X-Tenant-Id: t1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"GET http://api.example.com/v1/users/7\n",
		"matched  route v1-users (paths[0] /v1/users, prefix; also headers)  → service users\n",
		"upstream GET http://users.internal:8080/api/7\n",
		"  1. route catch-all (/): more criteria (v1-users has 2 (headers, paths), catch-all has 1 (paths))\n",
		"  cors  global  plugins[0]  access, header_filter\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, _, code = runCLI(t, nil, "explain", "-c", cfg, "GET", "http://api.example.com/v1/users/7")
	if code != 0 || !strings.Contains(out, "matched  route catch-all") {
		t.Errorf("exit %d:\n%s", code, out)
	}

	empty := writeFile(t, "empty.yml", "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://s\n  routes:\n  - paths: [/a]\n")
	out, _, code = runCLI(t, nil, "explain", "-c", empty, "GET", "http://h/b")
	if code != 0 || !strings.Contains(out, "no match: the proxy answers 404") {
		t.Errorf("no match: exit %d:\n%s", code, out)
	}

	bad := writeFile(t, "bad.yml", "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://s\n  routes:\n  - paths: [nope]\n")
	_, stderr, code = runCLI(t, nil, "explain", "-c", bad, "GET", "http://h/")
	if code != 1 || !strings.Contains(stderr, "paths[0]") {
		t.Errorf("bad config: exit %d: %s", code, stderr)
	}
	_, stderr, code = runCLI(t, nil, "explain", "-c", cfg, "GET", "http://h/%zz")
	if code != 1 || !strings.Contains(stderr, "400 Bad request") {
		t.Errorf("bad path: exit %d: %s", code, stderr)
	}
	if _, _, code = runCLI(t, nil, "explain", "-c", cfg, "GET"); code != 1 {
		t.Errorf("missing URL: exit %d", code)
	}
}
