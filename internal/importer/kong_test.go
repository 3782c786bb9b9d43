package importer

import (
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
)

func sample() *Config {
	c := &Config{}
	c.Services = append(c.Services,
		&Service{Name: "zeta", Protocol: "http", Host: "z.example.com", Port: 80, Routes: []*Route{
			{Name: "zeta-b", Paths: []string{"~/b$"}, StripPath: Bool(false)},
			{Name: "zeta-a", Paths: []string{"/a"}, Methods: []string{"GET"}, Headers: map[string][]string{"x-b": {"1"}, "x-a": {"2"}}, Plugins: []*Plugin{
				{Name: "request-transformer", Config: map[string]any{"replace": map[string]any{"uri": "/x"}, "add": map[string]any{"headers": []any{"A:1"}}}},
				{Name: "key-auth"},
			}},
		}},
		&Service{Name: "alpha", Protocol: "https", Host: "alpha.upstream", Port: 443, Fields: Fields{"retries": 2, "read_timeout": 1000}},
	)
	c.Upstreams = append(c.Upstreams, &Upstream{Name: "alpha.upstream", Targets: []Target{{Target: "b:443"}, {Target: "a:443", Weight: Int(5)}}})
	c.Routes = append(c.Routes, &Route{Name: "mock", Paths: []string{"/mock"}, Plugins: []*Plugin{{Name: "request-termination", Config: map[string]any{"status_code": 204}}}})
	c.Consumers = append(c.Consumers, &Consumer{Username: "u", Credentials: map[string][]Fields{"keyauth_credentials": {{"key": "k"}}}})
	c.Plugins = append(c.Plugins, &Plugin{Name: "cors"})
	return c
}

// TestYAML checks the output's shape: sorted entities and keys, name
// first, nested lists last, and that the gateway parses it.
func TestYAML(t *testing.T) {
	out, err := sample().YAML()
	if err != nil {
		t.Fatal(err)
	}
	want := `_format_version: "3.0"
consumers:
  - username: u
    keyauth_credentials:
      - key: k
plugins:
  - name: cors
routes:
  - name: mock
    paths:
      - /mock
    plugins:
      - name: request-termination
        config:
          status_code: 204
services:
  - name: alpha
    host: alpha.upstream
    port: 443
    protocol: https
    read_timeout: 1000
    retries: 2
  - name: zeta
    host: z.example.com
    port: 80
    protocol: http
    routes:
      - name: zeta-a
        headers:
          x-a:
            - "2"
          x-b:
            - "1"
        methods:
          - GET
        paths:
          - /a
        plugins:
          - name: key-auth
          - name: request-transformer
            config:
              add:
                headers:
                  - A:1
              replace:
                uri: /x
      - name: zeta-b
        paths:
          - "~/b$"
        strip_path: false
upstreams:
  - name: alpha.upstream
    targets:
      - target: a:443
        weight: 5
      - target: b:443
`
	if string(out) != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	if _, err := config.Parse(out, config.Options{Credentials: []config.CredentialKind{keyKind()}}); err != nil {
		t.Errorf("the gateway refuses it: %v", err)
	}
	again, _ := sample().YAML()
	if string(again) != string(out) {
		t.Error("not deterministic")
	}
}

func TestUniqueNameAndSlug(t *testing.T) {
	c := sample()
	cases := []struct {
		kind       Kind
		base, want string
	}{
		{KindService, "fresh", "fresh"},
		{KindService, "zeta", "zeta-2"},
		{KindRoute, "zeta", "zeta"},
		{KindRoute, "zeta-a", "zeta-a-2"},
		{KindRoute, "mock", "mock-2"},
		{KindConsumer, "u", "u-2"},
		{KindUpstream, "alpha.upstream", "alpha.upstream-2"},
		{KindUpstream, "alpha", "alpha"},
	}
	for _, tc := range cases {
		if got := c.UniqueName(tc.kind, tc.base); got != tc.want {
			t.Errorf("UniqueName(%d, %q) = %q, want %q", tc.kind, tc.base, got, tc.want)
		}
	}
	c.Services = append(c.Services, &Service{Name: "zeta-2"})
	if got := c.UniqueName(KindService, "zeta"); got != "zeta-3" {
		t.Errorf("UniqueName(zeta) = %q, want zeta-3", got)
	}
	if got := Slug("Pet Store/v2 (beta)~ü"); got != "Pet_Store_v2__beta_~_" {
		t.Errorf("Slug = %q", got)
	}
}

func TestWarnings(t *testing.T) {
	var ws Warnings
	if ws.Strict() != nil {
		t.Error("no warnings: Strict must be nil")
	}
	ws.Add("Ingress default/api", "metadata.annotations[nginx.ingress.kubernetes.io/rewrite-target]", "capture group $%d unknown", 2)
	ws.Add("api.yaml:3 paths./x.get", "", "skipped")
	if got := ws[0].String(); got != "Ingress default/api: metadata.annotations[nginx.ingress.kubernetes.io/rewrite-target]: capture group $2 unknown" {
		t.Errorf("got %q", got)
	}
	if got := ws[1].String(); got != "api.yaml:3 paths./x.get: skipped" {
		t.Errorf("got %q", got)
	}
	if err := ws.Strict(); err == nil || !strings.Contains(err.Error(), "2 warnings") {
		t.Errorf("Strict = %v", err)
	}
}

type keyCred struct {
	Key string `yaml:"key"`
}

// keyKind is a minimal credential kind, enough for the config package
// to accept the sample's consumer (the golden tests of the formats use
// the real ones).
func keyKind() config.CredentialKind {
	return config.CredentialKind{
		Name:  "keyauth_credentials",
		New:   func() any { return &keyCred{} },
		Key:   func(f any) string { return f.(*keyCred).Key },
		Check: func(any, config.CredentialCheck) bool { return true },
	}
}
