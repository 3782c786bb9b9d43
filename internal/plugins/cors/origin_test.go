package cors

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPreflightOrigins ports Kong's regex_testcases: for each configured
// origins list, which request origins are accepted and with what value.
func TestPreflightOrigins(t *testing.T) {
	type expect struct {
		origin string
		// acao is the expected Access-Control-Allow-Origin; "" means none.
		acao string
	}
	groups := []struct {
		name    string
		origins []string
		tests   []expect
	}{
		{
			name:    "single host entry is always returned",
			origins: []string{"foo.test"},
			tests: []expect{
				{"http://evil.test", "foo.test"}, {"http://foo.test", "foo.test"},
				{"http://foo.test.evil.test", "foo.test"}, {"http://foo.test:8000", "foo.test"},
				{"https://bar.test:1234", "foo.test"},
			},
		},
		{
			name:    "single full domain is always returned",
			origins: []string{"https://bar.test:1234"},
			tests: []expect{
				{"http://evil.test", "https://bar.test:1234"}, {"http://foobtest", "https://bar.test:1234"},
				{"https://bar.test:1234", "https://bar.test:1234"},
			},
		},
		{
			name:    "simple regex without colon matches the host",
			origins: []string{`foo\.test`},
			tests: []expect{
				{"http://evil.test", ""}, {"http://foo.test", "http://foo.test"},
				{"http://foo.test.evil.test", ""}, {"http://something.foo.test", ""},
				{"http://evilfoo.test", ""}, {"http://foo.test:80", "http://foo.test"},
				{"http://foo.test:8000", "http://foo.test:8000"}, {"https://foo.test:8000", "https://foo.test:8000"},
				{"http://foo.test:90", "http://foo.test:90"}, {"http://foobtest", ""},
				{"https://bar.test:1234", ""},
			},
		},
		{
			name:    "subdomain regex without colon",
			origins: []string{`(.*[./])?foo\.test`},
			tests: []expect{
				{"http://evil.test", ""}, {"http://foo.test", "http://foo.test"},
				{"http://foo.test.evil.test", ""}, {"http://something.foo.test", "http://something.foo.test"},
				{"http://evilfoo.test", ""}, {"http://foo.test:80", "http://foo.test"},
				{"https://foo.test:8000", "https://foo.test:8000"}, {"http://foobtest", ""},
			},
		},
		{
			name:    "any-scheme subdomain regex with port",
			origins: []string{`(.*[./])?foo\.test:8000`},
			tests: []expect{
				{"http://foo.test", ""}, {"http://foo.test:80", ""},
				{"http://foo.test:8000", "http://foo.test:8000"}, {"https://foo.test:8000", "https://foo.test:8000"},
				{"http://foo.test:90", ""}, {"https://bar.test:1234", ""},
			},
		},
		{
			name:    "https subdomain regex with port",
			origins: []string{`https://(.*[.])?foo\.test:8000`},
			tests: []expect{
				{"http://foo.test:8000", ""}, {"https://foo.test:8000", "https://foo.test:8000"},
				{"https://something.foo.test:8000", "https://something.foo.test:8000"}, {"https://foo.test", ""},
			},
		},
		{
			name:    "explicitly anchored regex",
			origins: []string{`^http://(.*[.])?foo\.test(:(80|90))?$`},
			tests: []expect{
				{"http://evil.test", ""}, {"http://foo.test", "http://foo.test"},
				{"http://foo.test.evil.test", ""}, {"http://something.foo.test", "http://something.foo.test"},
				{"http://foo.test:80", "http://foo.test"}, {"http://foo.test:8000", ""},
				{"https://foo.test:8000", ""}, {"http://foo.test:90", "http://foo.test:90"},
				{"http://foobtest", ""},
			},
		},
		{
			name:    "several host entries compare the normalised origin",
			origins: []string{"foo.test", "bar.test"},
			tests: []expect{
				{"http://foo.test", ""}, {"http://foo.test:80", ""}, {"foo.test", "foo.test"},
			},
		},
		{
			name:    "several full domains",
			origins: []string{"http://foo.test", "https://bar.test:1234"},
			tests: []expect{
				{"http://evil.test", ""}, {"http://foo.test", "http://foo.test"},
				{"http://foo.test:80", "http://foo.test"}, {"http://foo.test:8000", ""},
				{"http://foo.test/some/path", "http://foo.test"},
				{"https://bar.test:1234", "https://bar.test:1234"}, {"https://bar.test", ""},
			},
		},
		{
			name:    "host entry and simple regex",
			origins: []string{"bar.test", `foo\.test`},
			tests: []expect{
				{"http://foo.test", "http://foo.test"}, {"http://something.foo.test", ""},
				{"http://foo.test:80", "http://foo.test"}, {"http://foo.test:90", "http://foo.test:90"},
				{"https://bar.test:1234", ""},
			},
		},
		{
			name:    "host entry and subdomain regex",
			origins: []string{"bar.test", `(.*\.)?foo\.test`},
			tests: []expect{
				{"http://foo.test", "http://foo.test"}, {"http://foo.test.evil.test", ""},
				{"http://something.foo.test", "http://something.foo.test"}, {"http://foobtest", ""},
			},
		},
		{
			name:    "host entry and https regex with port",
			origins: []string{"bar.test", `https://(.*\.)?foo\.test:8000`},
			tests: []expect{
				{"http://foo.test:8000", ""}, {"https://foo.test:8000", "https://foo.test:8000"},
			},
		},
		{
			name:    "regex on a schemeless origin uses it whole",
			origins: []string{`.*\.?example(?:-foo)?.test`},
			tests: []expect{
				{"example.test", "example.test"}, {"www.example.test", "www.example.test"},
				{"example-foo.test", "example-foo.test"}, {"www.example-foo.test", "www.example-foo.test"},
				{"www.example-fo0.test", ""},
			},
		},
	}
	for _, g := range groups {
		in := mustBuild(t, func(c *Config) { c.Origins = g.origins })
		for _, tt := range g.tests {
			t.Run(g.name+"/"+tt.origin, func(t *testing.T) {
				e := preflight(t, in, map[string]string{"Origin": tt.origin, "Access-Control-Request-Method": "GET"})
				want := http.Header{"Access-Control-Allow-Methods": {defaultMethods}, "Vary": {"Origin"}}
				if tt.acao != "" {
					want["Access-Control-Allow-Origin"] = []string{tt.acao}
				}
				if diff := cmp.Diff(want, e.Header); diff != "" {
					t.Fatalf("headers (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestNormalizeOrigin(t *testing.T) {
	tests := []struct {
		name, in, domain, host string
	}{
		{name: "plain", in: "http://a.test", domain: "http://a.test", host: "a.test"},
		{name: "default http port", in: "http://a.test:80", domain: "http://a.test", host: "a.test"},
		{name: "default https port", in: "https://a.test:443", domain: "https://a.test", host: "a.test"},
		{name: "other port kept", in: "https://a.test:80", domain: "https://a.test:80", host: "a.test"},
		{name: "path and userinfo dropped", in: "http://u:p@a.test:8080/x#f", domain: "http://a.test:8080", host: "a.test"},
		{name: "no authority", in: "a.test", domain: "a.test", host: "a.test"},
		{name: "host and port without scheme", in: "a.test:8080", domain: "a.test:8080", host: "a.test:8080"},
		{name: "ipv6", in: "http://[::1]:8080", domain: "http://::1:8080", host: "::1"},
		{name: "empty authority", in: "http://", domain: "http://", host: "http://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, h := normalizeOrigin(tt.in)
			if d != tt.domain || h != tt.host {
				t.Fatalf("got %q %q, want %q %q", d, h, tt.domain, tt.host)
			}
		})
	}
}
