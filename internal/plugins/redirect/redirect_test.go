package redirect

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

func build(c Config) (plugin.Instance, error) {
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	if c.StatusCode != 0 {
		cfg.StatusCode = c.StatusCode
	}
	cfg.Location, cfg.KeepIncomingPath = c.Location, c.KeepIncomingPath
	return reg.New(cfg, plugin.Env{})
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "redirect" || reg.Priority != 779 || reg.NoConsumer {
		t.Fatalf("got %q %d %v", reg.Name, reg.Priority, reg.NoConsumer)
	}
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	if diff := cmp.Diff(&Config{StatusCode: 301}, cfg); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

// The cases of Kong's spec/03-plugins/45-redirect/01-schema_spec.lua.
func TestSchema(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want plugin.Errors
	}{
		{name: "valid status_code", cfg: Config{StatusCode: 404, Location: "https://example.com"}},
		{name: "valid location", cfg: Config{Location: "https://example.com"}},
		{name: "status_code < 100", cfg: Config{StatusCode: 99, Location: "https://example.com"},
			want: plugin.Errors{{Path: "status_code", Message: "value should be between 100 and 599"}}},
		{name: "status_code > 599", cfg: Config{StatusCode: 600, Location: "https://example.com"},
			want: plugin.Errors{{Path: "status_code", Message: "value should be between 100 and 599"}}},
		{name: "location is required", cfg: Config{StatusCode: 301},
			want: plugin.Errors{{Path: "location", Message: "required field missing"}}},
		{name: "location must be a url", cfg: Config{Location: "definitely_not_a_url"},
			want: plugin.Errors{{Path: "location", Message: "missing host in url"}}},
		{name: "location needs a scheme", cfg: Config{Location: "//example.com/x"},
			want: plugin.Errors{{Path: "location", Message: "missing scheme in url"}}},
		{name: "no header splitting", cfg: Config{Location: "https://example.com/\r\nSet-Cookie: a=b"},
			want: plugin.Errors{{Path: "location", Message: "could not parse url. parse \"https://example.com/\\r\\nSet-Cookie: a=b\": net/url: invalid control character in URL"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := build(tc.cfg)
			var got plugin.Errors
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("not plugin.Errors: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// Kong's "expected an integer" and "expected a boolean" are the loader's,
// by field type.
func TestSchemaTypes(t *testing.T) {
	for src, want := range map[string]string{
		"status_code: abcd\nlocation: https://example.com\n":           "plugins[0].config.status_code: expected an integer",
		"keep_incoming_path: invalid\nlocation: https://example.com\n": "plugins[0].config.keep_incoming_path: expected a boolean",
	} {
		raw, err := config.ParseRaw([]byte(src), "plugins[0].config")
		if err != nil {
			t.Fatal(err)
		}
		errs := raw.Decode(Registration().NewConfig())
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), want) {
			t.Errorf("%q: got %v, want %s", src, errs, want)
		}
	}
}

func redirect(t *testing.T, cfg Config, clientPath, query string) *plugin.Exit {
	t.Helper()
	in, err := build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &plugin.Ctx{Req: httptest.NewRequest(http.MethodGet, "/", nil), ClientPath: clientPath, RawQuery: query}
	var e *plugin.Exit
	if err := in.(plugin.Accessor).Access(c); !errors.As(err, &e) {
		t.Fatalf("no exit: %v", err)
	}
	return e
}

// The cases of Kong's 02-access_spec.lua, and how the incoming path and
// query are written into the location.
func TestAccess(t *testing.T) {
	for _, tc := range []struct {
		name         string
		cfg          Config
		path, query  string
		status       int
		wantLocation string
	}{
		{"default status", Config{Location: "https://example.com"}, "/status/200", "", 301, "https://example.com"},
		{"custom status", Config{StatusCode: 302, Location: "https://example.com"}, "/status/200", "", 302, "https://example.com"},
		{"path and query kept in location", Config{Location: "https://example.com/path?foo=bar"}, "/status/200", "", 301, "https://example.com/path?foo=bar"},
		{"incoming path kept", Config{Location: "https://example.com/some_path?foo=bar", KeepIncomingPath: true}, "/status/200", "keep=this", 301, "https://example.com/status/200?keep=this"},
		{"no incoming query drops location's", Config{Location: "https://example.com/some_path?foo=bar", KeepIncomingPath: true}, "/a", "", 301, "https://example.com/a"},
		{"fragment stays", Config{Location: "https://example.com/x#top", KeepIncomingPath: true}, "/a", "b=1", 301, "https://example.com/a?b=1#top"},
		{"origin normalised", Config{Location: "HTTPS://Example.COM:443/x", KeepIncomingPath: true}, "/a", "", 301, "https://example.com/a"},
		{"other port kept", Config{Location: "http://example.com:8080", KeepIncomingPath: true}, "/a", "", 301, "http://example.com:8080/a"},
		{"unsafe bytes escaped", Config{Location: "https://example.com", KeepIncomingPath: true}, "/a b\r\n<x>", "q=\"1\" 2#", 301, "https://example.com/a%20b%0D%0A%3Cx%3E?q=%221%22%202%23"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := redirect(t, tc.cfg, tc.path, tc.query)
			if e.Status != tc.status || e.Header.Get("Location") != tc.wantLocation || string(e.Body) != "redirecting" || e.ContentType != "" {
				t.Fatalf("got %d %q %q %q", e.Status, e.Header.Get("Location"), e.Body, e.ContentType)
			}
		})
	}
}

// BenchmarkAccess: a fixed location (no allocation) and one built from
// the incoming path.
func BenchmarkAccess(b *testing.B) {
	for _, keep := range []bool{false, true} {
		in, _ := build(Config{Location: "https://example.com/x", KeepIncomingPath: keep})
		acc := in.(plugin.Accessor)
		c := &plugin.Ctx{Req: httptest.NewRequest(http.MethodGet, "/", nil), ClientPath: "/status/200", RawQuery: "keep=this"}
		b.Run(map[bool]string{false: "fixed", true: "keep-incoming-path"}[keep], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if acc.Access(c) == nil {
					b.Fatal("no redirect")
				}
			}
		})
	}
}
