package kongcompat

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/explain"
	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// tiesRoute is one route of a case: its id ("" to let it be derived from
// the name) and criteria. Each route gets its own service, an echo upstream
// named after the route, so the proxy's choice can be read off the answer.
type tiesRoute struct {
	name, id     string
	hosts, paths []string
	methods      []string
}

// tiesRequest is one request of a case and the route Kong picks ("" for
// none); tie is set when that route beats another of equal priority, so
// that explain must say the route id decided.
type tiesRequest struct {
	method, host, path string
	want               string
	tie                bool
}

type tiesCase struct {
	name     string
	source   string
	routes   []tiesRoute
	requests []tiesRequest
}

// Kong's router spec numbers its routes' ids; the last four hex digits
// tell them apart.
const tiesIDBase = "e8fb37f1-102d-461e-9c51-6608a6bb"

// TestTiesReplayKongRouterSpec replays the cases of Kong's router spec in
// which routes of equal priority compete, and a few built from the code
// that sets the order (the ids Kong derives, the split of a route whose
// paths differ in priority), through `turnpike explain` and the running
// proxy. Kong's cases list their routes in ascending id order, so the route
// listed last wins each tie: configuration order alone would pick the
// other.
func TestTiesReplayKongRouterSpec(t *testing.T) {
	const spec = "Kong/kong spec/01-unit/08-router_spec.lua: "
	cases := []tiesCase{
		{
			name:   "host with and without port",
			source: spec + `"[host] matches specific port"`,
			routes: []tiesRoute{
				{name: "r8101", id: tiesIDBase + "8101", hosts: []string{"domain-1.org", "domain-2.org"}},
				{name: "r8113", id: tiesIDBase + "8113", hosts: []string{"domain-1.org:321", "domain-2.org"}},
				{name: "r8114", id: tiesIDBase + "8114", hosts: []string{"domain-3.org:321"}},
			},
			requests: []tiesRequest{
				{host: "domain-1.org:321", want: "r8113", tie: true},
				{host: "domain-1.org:80", want: "r8101"},
				{host: "domain-3.org:321", want: "r8114"},
				{host: "domain-3.org:123", want: ""},
			},
		},
		{
			name:   "wildcard host with and without port",
			source: spec + `"matches port-specific routes"`,
			routes: []tiesRoute{
				{name: "r8101", id: tiesIDBase + "8101", hosts: []string{"*.route.com"}},
				{name: "r8102", id: tiesIDBase + "8102", hosts: []string{"route.*"}},
				{name: "r8103", id: tiesIDBase + "8103", hosts: []string{"*.route.net:123"}},
				{name: "r8104", id: tiesIDBase + "8104", hosts: []string{"route.*:123"}},
			},
			requests: []tiesRequest{
				{host: "foo.route.net:123", want: "r8103"},
				{host: "foo.route.net:456", want: ""},
				{host: "route.org:123", want: "r8104", tie: true},
			},
		},
		{
			name:   "wildcard host on the http default port",
			source: spec + `"prefers port-specific even for http default port"`,
			routes: []tiesRoute{
				{name: "r8101", id: tiesIDBase + "8101", hosts: []string{"*.route.com"}},
				{name: "r8102", id: tiesIDBase + "8102", hosts: []string{"route.*"}},
				{name: "r8103", id: tiesIDBase + "8103", hosts: []string{"route.*:80"}},
			},
			requests: []tiesRequest{
				{host: "route.org:123", want: "r8102"},
				{host: "route.org:80", want: "r8103", tie: true},
			},
		},
		{
			name:   "wildcard host on the https default port",
			source: spec + `"prefers port-specific even for https default port"`,
			routes: []tiesRoute{
				{name: "r8101", id: tiesIDBase + "8101", hosts: []string{"*.route.com"}},
				{name: "r8102", id: tiesIDBase + "8102", hosts: []string{"route.*"}},
				{name: "r8103", id: tiesIDBase + "8103", hosts: []string{"route.*:443"}},
			},
			requests: []tiesRequest{
				{host: "route.org:123", want: "r8102"},
				{host: "route.org:443", want: "r8103", tie: true},
			},
		},
		{
			name:   "wildcard host with a port among others",
			source: spec + `"submatch_weight [wildcard host port] > [wildcard host] "`,
			routes: []tiesRoute{
				{name: "r8101", id: tiesIDBase + "8101", hosts: []string{"route.*"}},
				{name: "r8102", id: tiesIDBase + "8102", hosts: []string{"route.*:80", "route.com.*"}},
			},
			requests: []tiesRequest{{host: "route.org:80", want: "r8102", tie: true}},
		},
		{
			name:   "wildcard hosts with different ports",
			source: spec + `"matches a [wildcard host + port] even if a [wildcard host] matched"`,
			routes: []tiesRoute{
				{name: "r8101", id: tiesIDBase + "8101", hosts: []string{"route.*"}},
				{name: "r8102", id: tiesIDBase + "8102", hosts: []string{"route.*:123"}},
				{name: "r8103", id: tiesIDBase + "8103", hosts: []string{"route.*:80"}},
			},
			requests: []tiesRequest{{host: "route.org:123", want: "r8102", tie: true}},
		},
		{
			name:   "method against wildcard host",
			source: spec + `"[method] does not supersede [wildcard host]"`,
			routes: []tiesRoute{
				{name: "r8101", id: tiesIDBase + "8101", methods: []string{"GET"}},
				{name: "r8102", id: tiesIDBase + "8102", hosts: []string{"domain.*"}},
			},
			requests: []tiesRequest{
				{host: "nothing.com", want: "r8101"},
				{host: "domain.com", want: "r8102", tie: true},
			},
		},
		{
			name:   "method against wildcard host, listed the other way round",
			source: spec + `"[method] does not supersede [wildcard host]"`,
			routes: []tiesRoute{
				{name: "r8102", id: tiesIDBase + "8102", hosts: []string{"domain.*"}},
				{name: "r8101", id: tiesIDBase + "8101", methods: []string{"GET"}},
			},
			requests: []tiesRequest{
				{host: "nothing.com", want: "r8101"},
				{host: "domain.com", want: "r8102", tie: true},
			},
		},
		{
			// Kong derives the ids from the names: first 2ccad8ae-...,
			// second 8b279206-...
			name:   "ids derived from route names",
			source: "Kong/kong kong/db/schema/others/declarative_config.lua: generate_ids",
			routes: []tiesRoute{
				{name: "first", paths: []string{"/x"}},
				{name: "second", paths: []string{"/x"}},
			},
			requests: []tiesRequest{{path: "/x/y", want: "second", tie: true}},
		},
		{
			// r8101's paths differ in length, so Kong gives /foo the id of
			// "<r8101's id>#1", 086b6591-..., below low's.
			name:   "a split route competes with the id of its path group",
			source: "Kong/kong kong/router/transform.lua: split_routes_and_services_by_path",
			routes: []tiesRoute{
				{name: "r8101", id: tiesIDBase + "8101", paths: []string{"/foo", "/foobar"}},
				{name: "low", id: "0fffffff-ffff-4fff-bfff-ffffffffffff", paths: []string{"/foo"}},
			},
			requests: []tiesRequest{
				{path: "/foo", want: "low", tie: true},
				{path: "/foobar", want: "r8101"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tiesRun(t, tc)
		})
	}
}

func tiesRun(t *testing.T, tc tiesCase) {
	var b strings.Builder
	b.WriteString("_format_version: \"3.0\"\nservices:\n")
	for _, r := range tc.routes {
		echo := gwtest.StartEcho(t, r.name)
		b.WriteString("- name: svc-" + r.name + "\n  url: " + echo.URL + "\n  routes:\n  - name: " + r.name + "\n")
		if r.id != "" {
			b.WriteString("    id: " + r.id + "\n")
		}
		for _, f := range []struct {
			key  string
			list []string
		}{{"hosts", r.hosts}, {"paths", r.paths}, {"methods", r.methods}} {
			if len(f.list) > 0 {
				quoted, _ := json.Marshal(f.list)
				b.WriteString("    " + f.key + ": " + string(quoted) + "\n")
			}
		}
	}
	cfg := b.String()
	path := filepath.Join(t.TempDir(), "kong.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := gwtest.Start(t, cfg, gwtest.Options{})
	for _, rq := range tc.requests {
		method, p, host := rq.method, rq.path, rq.host
		if method == "" {
			method = http.MethodGet
		}
		if p == "" {
			p = "/"
		}
		if host == "" {
			host = "example.com"
		}
		url := "http://" + host + p
		rep := tiesExplain(t, path, method, url)
		got := ""
		if rep.Matched != nil {
			got = rep.Matched.Route.Name
		}
		if got != rq.want {
			t.Errorf("%s %s: explain matched %q, Kong matches %q (source %s)\n%s", method, url, got, rq.want, tc.source, rep.Text())
		}
		if rq.tie {
			tied := false
			for _, c := range rep.Candidates {
				if c.Reason == "route id" && !c.SameRoute && strings.Contains(c.ReasonDetail, "the higher id wins") {
					tied = true
				}
			}
			if !tied {
				t.Errorf("%s %s: explain does not say the route id decided\n%s", method, url, rep.Text())
			}
		}

		req, err := http.NewRequest(method, gw.URL+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, body := gwtest.Do(t, req)
		switch {
		case rq.want == "" && resp.StatusCode != http.StatusNotFound:
			t.Errorf("%s %s: proxy answered %d, Kong matches no route", method, url, resp.StatusCode)
		case rq.want == "":
		case resp.StatusCode != http.StatusOK:
			t.Errorf("%s %s: proxy answered %d: %s", method, url, resp.StatusCode, body)
		default:
			if seen := gwtest.DecodeSeen(t, body); seen.Name != rq.want {
				t.Errorf("%s %s: the proxy chose %s, Kong chooses %s (source %s)", method, url, seen.Name, rq.want, tc.source)
			}
		}
	}
}

// tiesExplain runs `turnpike explain --json` on the config at path.
func tiesExplain(t *testing.T, path, method, url string) explain.Report {
	t.Helper()
	out, err := exec.Command(gwtest.Binary(t), "explain", "-c", path, "--json", method, url).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("explain %s %s: %v %s", method, url, err, stderr)
	}
	var rep explain.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("explain --json: %v\n%s", err, out)
	}
	return rep
}

// tiesV1Row is a row of Kong's path_handling table set to v1, with the
// path its v0 twin expects.
type tiesV1Row struct {
	source                  string
	servicePath, routePath  string
	strip                   bool
	requestPath, expectedV0 string
	expectedV1ByTraditional string
}

// TestTiesPathHandlingV1IsV0 checks that a route with path_handling: v1 is
// handled as v0, as Kong's default router does (kong/router/atc.lua joins
// every route's paths with get_upstream_uri_v0), by the proxy and explain
// alike, and that loading such a file warns, naming the route.
func TestTiesPathHandlingV1IsV0(t *testing.T) {
	const fixture = "Kong/kong spec/fixtures/router_path_handling_tests.lua: row "
	rows := []tiesV1Row{
		{source: fixture + "17 (v1), expecting row 16 (v0)", servicePath: "/srv", routePath: "/rou",
			requestPath: "/roureq", expectedV0: "/srv/roureq", expectedV1ByTraditional: "/srvroureq"},
		{source: fixture + "19 (v1), expecting row 18 (v0)", servicePath: "/srv", routePath: "/rou", strip: true,
			requestPath: "/roureq", expectedV0: "/srv/req", expectedV1ByTraditional: "/srvreq"},
		{source: fixture + "22 (v1), expecting row 21 (v0)", servicePath: "/srv/", routePath: "/rou", strip: true,
			requestPath: "/rou", expectedV0: "/srv", expectedV1ByTraditional: "/srv/"},
		{source: fixture + "47 (v1), expecting row 46 (v0)", servicePath: "/service", routePath: "/route/", strip: true,
			requestPath: "/route/", expectedV0: "/service/", expectedV1ByTraditional: "/service"},
	}
	echo := gwtest.StartEcho(t, "s")
	var b strings.Builder
	b.WriteString("_format_version: \"3.0\"\nservices:\n")
	for i, r := range rows {
		name := "row" + strconv.Itoa(i)
		b.WriteString("- name: svc-" + name + "\n  url: " + echo.URL + r.servicePath + "\n  routes:\n" +
			"  - name: " + name + "\n    hosts: [" + name + ".test]\n    paths: [\"" + r.routePath + "\"]\n" +
			"    strip_path: " + strconv.FormatBool(r.strip) + "\n    path_handling: v1\n")
	}
	cfg := b.String()
	path := filepath.Join(t.TempDir(), "kong.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := validate(t, path)
	if err != nil {
		t.Fatalf("validate refused the file (%v):\n%s", err, out)
	}
	gw := gwtest.Start(t, cfg, gwtest.Options{})
	for i, r := range rows {
		name := "row" + strconv.Itoa(i)
		host := name + ".test"
		warning := "services[" + strconv.Itoa(i) + "].routes[0].path_handling: route '" + name + "': v1 does not work"
		if !strings.Contains(out, "warning: "+warning) {
			t.Errorf("validate does not warn about %s:\n%s", name, out)
		}
		if !strings.Contains(gw.Stderr(), warning) {
			t.Errorf("the gateway's log does not warn about %s:\n%s", name, gw.Stderr())
		}

		rep := tiesExplain(t, path, http.MethodGet, "http://"+host+r.requestPath)
		if rep.Upstream == nil || rep.Upstream.Path != r.expectedV0 {
			t.Errorf("%s: explain sends %+v, Kong %s (traditional router with v1: %s)\n%s",
				r.source, rep.Upstream, r.expectedV0, r.expectedV1ByTraditional, rep.Text())
		}
		req, err := http.NewRequest(http.MethodGet, gw.URL+r.requestPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, body := gwtest.Do(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", r.source, resp.StatusCode, body)
		}
		if seen := gwtest.DecodeSeen(t, body); seen.Path != r.expectedV0 {
			t.Errorf("%s: upstream got %s, Kong sends %s (traditional router with v1: %s)",
				r.source, seen.Path, r.expectedV0, r.expectedV1ByTraditional)
		}
	}
}
