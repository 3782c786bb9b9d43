package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func boolPtr(b bool) *bool { return &b }

// kongService is a service with Kong's defaults.
func kongService(name, host string, port int) *Service {
	s := &Service{}
	s.SetDefaults()
	s.Name, s.Host, s.Port = name, host, port
	return s
}

// kongRoute is a route with Kong's defaults.
func kongRoute(name string, paths ...string) Route {
	r := Route{}
	r.SetDefaults()
	r.Name, r.Paths = name, paths
	return r
}

func mustParse(t *testing.T, src string) *Model {
	t.Helper()
	m, err := Parse([]byte(src), Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func TestDefaults(t *testing.T) {
	m := mustParse(t, `_format_version: "3.0"
services:
  - name: s
    host: example.com
    routes:
      - paths: [/]
upstreams:
  - name: up
`)
	want := kongService("s", "example.com", 80)
	want.Routes = []Route{kongRoute("", "/")}
	if diff := cmp.Diff(want, m.Services[0].Service, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("service (-want +got):\n%s", diff)
	}
	r := m.Routes[0].Route
	if r.StripPath != nil || !r.StripPathValue() {
		t.Errorf("strip_path should be unset and default to true")
	}
	wantUp := Upstream{Name: "up"}
	wantUp.SetDefaults()
	wantUp.Healthchecks.Active.SetDefaults()
	wantUp.Healthchecks.Active.Healthy.SetDefaults()
	wantUp.Healthchecks.Active.Unhealthy.SetDefaults()
	wantUp.Healthchecks.Passive.SetDefaults()
	wantUp.Healthchecks.Passive.Healthy.SetDefaults()
	wantUp.Healthchecks.Passive.Unhealthy.SetDefaults()
	if diff := cmp.Diff(&wantUp, m.Upstreams[0].Upstream, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("upstream (-want +got):\n%s", diff)
	}
}

func TestGuideExamples(t *testing.T) {
	tenant := kongRoute("tenant-routing", "/api")
	tenant.Headers = map[string][]string{"X-Tenant-Id": {"tenant-1", "tenant-2"}}
	tenant.URL = "http://tenant-service-1:8080"
	v1, v2 := kongRoute("api-v1", "/v1"), kongRoute("api-v2", "/v2")
	v1.URL, v2.URL = "http://api-v1:8080", "http://api-v2:8080"

	type svc struct {
		Path, Name, Protocol, Host string
		Port                       int
		Implicit                   bool
	}
	type route struct {
		Path, Name, Service string
		Paths, Methods      []string
		StripPath           *bool
	}
	routing := []route{
		{"services[0].routes[0]", "user-route", "services[0]", []string{"/api/v1/users"}, []string{"GET", "POST"}, boolPtr(true)},
		{"services[1].routes[0]", "order-route", "services[1]", []string{"/api/v1/orders"}, []string{"GET", "POST", "PUT"}, boolPtr(true)},
	}
	routingSvcs := []svc{
		{"services[0]", "user-service", "http", "user-service", 8080, false},
		{"services[1]", "order-service", "http", "order-service", 8080, false},
	}
	tests := []struct {
		name        string
		file        string
		wantSvcs    []svc
		wantRoutes  []route
		wantSummary string
	}{
		{"request routing", "routing.yaml", routingSvcs, routing, "2 services, 2 routes, 0 plugins, 0 consumers"},
		{"request routing as JSON", "routing.json", routingSvcs, routing, "2 services, 2 routes, 0 plugins, 0 consumers"},
		{
			"tenant headers with url", "tenant.yaml",
			[]svc{{"routes[0]", "tenant-routing", "http", "tenant-service-1", 8080, true}},
			[]route{{"routes[0]", "tenant-routing", "routes[0]", []string{"/api"}, nil, nil}},
			"1 service, 1 route, 0 plugins, 0 consumers",
		},
		{
			"path versioning", "versioning.yaml",
			[]svc{{"routes[0]", "api-v1", "http", "api-v1", 8080, true}, {"routes[1]", "api-v2", "http", "api-v2", 8080, true}},
			[]route{
				{"routes[0]", "api-v1", "routes[0]", []string{"/v1"}, nil, nil},
				{"routes[1]", "api-v2", "routes[1]", []string{"/v2"}, nil, nil},
			},
			"2 services, 2 routes, 0 plugins, 0 consumers",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Load(filepath.Join("testdata", tt.file), Options{})
			if err != nil {
				t.Fatal(err)
			}
			var svcs []svc
			for _, s := range m.Services {
				svcs = append(svcs, svc{s.Path, s.Service.Name, s.Service.Protocol, s.Service.Host, s.Service.Port, s.Implicit})
			}
			if diff := cmp.Diff(tt.wantSvcs, svcs); diff != "" {
				t.Errorf("services (-want +got):\n%s", diff)
			}
			var routes []route
			for _, r := range m.Routes {
				routes = append(routes, route{r.Path, r.Route.Name, r.Service.Path, r.Route.Paths, r.Route.Methods, r.Route.StripPath})
			}
			if diff := cmp.Diff(tt.wantRoutes, routes, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
			if got := m.Summary(); got != tt.wantSummary {
				t.Errorf("Summary() = %q, want %q", got, tt.wantSummary)
			}
			if len(m.Hash) != 32 {
				t.Errorf("Hash = %q, want 32 hex chars", m.Hash)
			}
		})
	}
	m, err := Load("testdata/tenant.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&tenant, m.Routes[0].Route, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("tenant route (-want +got):\n%s", diff)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), Options{})
	if !os.IsNotExist(err) {
		t.Errorf("err = %v, want not-exist", err)
	}
}

func TestServiceURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		// extra is written beside the url: Kong's shorthand replaces it.
		extra string
		want  *Service
	}{
		{"http default port", "http://a.example", "", kongService("s", "a.example", 80)},
		{"https default port", "https://a.example/base", "", func() *Service {
			s := kongService("s", "a.example", 443)
			s.Protocol, s.Path = "https", "/base"
			return s
		}()},
		{"explicit port and path", "http://10.0.0.1:8080/v1/", "", func() *Service {
			s := kongService("s", "10.0.0.1", 8080)
			s.Path = "/v1/"
			return s
		}()},
		{"grpc", "grpc://grpc-backend:50051", "", func() *Service {
			s := kongService("s", "grpc-backend", 50051)
			s.Protocol = "grpc"
			return s
		}()},
		{"grpcs defaults to port 80, as every scheme but https", "grpcs://g.example", "", func() *Service {
			s := kongService("s", "g.example", 80)
			s.Protocol = "grpcs"
			return s
		}()},
		{"url wins over protocol, host, port and path", "https://a.example:8443/v2", "protocol: grpc\n    host: b.example\n    port: 81\n    path: /v1", func() *Service {
			s := kongService("s", "a.example", 8443)
			s.Protocol, s.Path = "https", "/v2"
			return s
		}()},
		{"a url without path or port clears the path and sets the default port", "http://a.example", "protocol: ws\n    port: 8080\n    path: /v1", kongService("s", "a.example", 80)},
		{"explicit fields are not checked", "http://a.example/", "protocol: foo\n    host: 'not a host'\n    port: 99999\n    path: nope", func() *Service {
			s := kongService("s", "a.example", 80)
			s.Path = "/"
			return s
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: " + tt.url + "\n"
			if tt.extra != "" {
				src += "    " + tt.extra + "\n"
			}
			m := mustParse(t, src)
			tt.want.URL = tt.url
			if diff := cmp.Diff(tt.want, m.Services[0].Service, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPathMigration(t *testing.T) {
	tests := []struct {
		name    string
		version string
		want    []string
	}{
		{"2.1 marks regex-looking paths and normalises the others", "2.1", []string{"/plain/a-b_c.d~e%2F", "~/users/\\d+$", "~/a(b|c)", "/x/y~"}},
		{"1.1 too", "1.1", []string{"/plain/a-b_c.d~e%2F", "~/users/\\d+$", "~/a(b|c)", "/x/y~"}},
		{"3.0 keeps them as prefixes", "3.0", []string{"/plain/a-b_c.d~e%2F", "/users/\\d+$", "/a(b|c)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paths := "/plain/a-b_c.d~e%2F, '/users/\\d+$', '/a(b|c)'"
			if tt.version != "3.0" {
				// Kong 3.0 refuses a prefix path that is not normalised.
				paths += ", /x/./y%7e"
			}
			src := "_format_version: \"" + tt.version + "\"\nservices:\n  - host: h\n    routes:\n      - paths: [" + paths + "]\n"
			m, err := Parse([]byte(src), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, m.Routes[0].Route.Paths); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestOrderAndPluginScopes(t *testing.T) {
	src := `_format_version: "3.0"
routes:
  - name: top
    paths: [/top]
    service: b
    plugins:
      - name: cors
services:
  - name: a
    id: 0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4
    host: a.internal
    plugins:
      - name: cors
    routes:
      - name: a1
        paths: [/a1]
        plugins:
          - name: cors
          - name: key-auth
      - name: a2
        paths: [/a2]
  - name: b
    host: up.internal
    routes:
      - name: b1
        paths: [/b1]
consumers:
  - username: alice
    plugins:
      - name: rate-limiting
  - custom_id: c-2
plugins:
  - name: cors
  - name: cors
    service: 0b7c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4
    route: {name: b1}
  - name: rate-limiting
    route: a2
    consumer: alice
    config: {minute: 5}
upstreams:
  - name: up.internal
    targets: [{target: 10.0.0.1}]
targets:
  - target: "[::1]:9000"
    upstream: up.internal
`
	m := mustParse(t, src)
	var routes []string
	for _, r := range m.Routes {
		routes = append(routes, r.Path+"="+r.Route.Name+"->"+r.Service.Service.Name)
	}
	wantRoutes := []string{"services[0].routes[0]=a1->a", "services[0].routes[1]=a2->a", "services[1].routes[0]=b1->b", "routes[0]=top->b"}
	if diff := cmp.Diff(wantRoutes, routes); diff != "" {
		t.Errorf("route order (-want +got):\n%s", diff)
	}

	name := func(s *ServiceEntry) string {
		if s == nil {
			return "-"
		}
		return s.Service.Name
	}
	var plugins []string
	for _, p := range m.Plugins {
		r, c := "-", "-"
		if p.Route != nil {
			r = p.Route.Route.Name
		}
		if p.Consumer != nil {
			c = p.Consumer.Consumer.Username
		}
		plugins = append(plugins, strings.Join([]string{p.Path, p.Plugin.Name, name(p.Service), r, c}, " "))
	}
	wantPlugins := []string{
		"services[0].plugins[0] cors a - -",
		"services[0].routes[0].plugins[0] cors - a1 -",
		"services[0].routes[0].plugins[1] key-auth - a1 -",
		"routes[0].plugins[0] cors - top -",
		"consumers[0].plugins[0] rate-limiting - - alice",
		"plugins[0] cors - - -",
		"plugins[1] cors a b1 -",
		"plugins[2] rate-limiting - a2 alice",
	}
	if diff := cmp.Diff(wantPlugins, plugins); diff != "" {
		t.Errorf("plugins (-want +got):\n%s", diff)
	}
	if got, want := m.Plugins[7].Plugin.Config.Path(), "plugins[2].config"; got != want {
		t.Errorf("config path = %q, want %q", got, want)
	}

	if m.Services[1].Upstream != m.Upstreams[0] || m.Services[0].Upstream != nil {
		t.Error("service b should be balanced through upstream up.internal, a not")
	}
	var targets []string
	for _, te := range m.Upstreams[0].Targets {
		targets = append(targets, te.Path+" "+te.Host+" "+strconv.Itoa(te.Port))
	}
	if diff := cmp.Diff([]string{"upstreams[0].targets[0] 10.0.0.1 8000", "targets[0] ::1 9000"}, targets); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	want := "2 services, 4 routes, 8 plugins, 2 consumers, 1 upstream, 2 targets"
	if got := m.Summary(); got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

func TestUpstreamShorthands(t *testing.T) {
	m := mustParse(t, `_format_version: "3.0"
upstreams:
  - name: hashed
    hash_on: header
    hash_on_header: X-User
  - name: lc
    algorithm: least-connections
    hash_on: ip
    hash_fallback: header
`)
	got := [][3]string{}
	for _, u := range m.Upstreams {
		got = append(got, [3]string{u.Upstream.Algorithm, u.Upstream.HashOn, u.Upstream.HashFallback})
	}
	want := [][3]string{{"consistent-hashing", "header", "none"}, {"least-connections", "none", "none"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
