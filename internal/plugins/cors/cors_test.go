package cors

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

const defaultMethods = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT"

func build(t *testing.T, set func(*Config)) (*instance, error) {
	t.Helper()
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	if set != nil {
		set(cfg)
	}
	in, err := reg.New(cfg, plugin.Env{})
	if err != nil {
		return nil, err
	}
	return in.(*instance), nil
}

func mustBuild(t *testing.T, set func(*Config)) *instance {
	t.Helper()
	in, err := build(t, set)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func newCtx(method string, hdr map[string]string) *plugin.Ctx {
	r := httptest.NewRequest(method, "/", nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return &plugin.Ctx{Req: r, Method: r.Method, Path: "/", Resp: plugin.Response{Header: http.Header{}}}
}

// preflight runs the access phase of a preflight and returns the answer.
func preflight(t *testing.T, in *instance, hdr map[string]string) *plugin.Exit {
	t.Helper()
	c := newCtx("OPTIONS", hdr)
	var e *plugin.Exit
	if err := in.Access(c); !errors.As(err, &e) {
		t.Fatalf("preflight not answered: %v", err)
	}
	// The gateway runs the header filters on an Exit too; they must not
	// touch it.
	c.Resp.Status = e.Status
	in.HeaderFilter(c)
	if len(c.Resp.Header) != 0 {
		t.Fatalf("header filter added %v to a preflight", c.Resp.Header)
	}
	return e
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "cors" || reg.Priority != 2000 || !reg.NoConsumer {
		t.Fatalf("got %+v", reg)
	}
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	want := &Config{Methods: []string{"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"}, AllowOriginAbsent: true}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want plugin.Errors
	}{
		{name: "star and regexes", set: func(c *Config) { c.Origins = []string{"*", `(.*\.)?foo\.test`, "http://a.test"} }},
		{name: "anchored regex", set: func(c *Config) { c.Origins = []string{`^https://x\.test$`} }},
		{
			name: "invalid regex",
			set:  func(c *Config) { c.Origins = []string{"ok.test", "bad[", "(x"} },
			want: plugin.Errors{
				{Path: "origins[1]", Message: "'bad[' is not a valid regex"},
				{Path: "origins[2]", Message: "'(x' is not a valid regex"},
			},
		},
		{
			name: "unknown method",
			set:  func(c *Config) { c.Methods = []string{"GET", "get", "FOO"} },
			want: plugin.Errors{
				{Path: "methods[1]", Message: "expected one of: GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT"},
				{Path: "methods[2]", Message: "expected one of: GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, tt.set)
			var got plugin.Errors
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("error %v is not plugin.Errors", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func f(v float64) *float64 { return &v }

func TestPreflight(t *testing.T) {
	tests := []struct {
		name   string
		set    func(*Config)
		header map[string]string
		want   http.Header
	}{
		{
			name:   "appropriate defaults",
			header: map[string]string{"Origin": "origin1.test", "Access-Control-Request-Method": "GET"},
			want:   http.Header{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Methods": {defaultMethods}},
		},
		{
			name:   "empty origins list means *",
			set:    func(c *Config) { c.Origins = []string{} },
			header: map[string]string{"Origin": "empty-origin.test", "Access-Control-Request-Method": "GET"},
			want:   http.Header{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Methods": {defaultMethods}},
		},
		{
			name:   "* with credentials echoes the origin",
			set:    func(c *Config) { c.Origins = []string{"*"}; c.Credentials = true },
			header: map[string]string{"Origin": "origin5.test", "Access-Control-Request-Method": "GET"},
			want: http.Header{
				"Access-Control-Allow-Origin":      {"origin5.test"},
				"Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Allow-Methods":     {defaultMethods},
				"Vary":                             {"Origin"},
			},
		},
		{
			name:   "* among several entries",
			set:    func(c *Config) { c.Origins = []string{"foo.bar", "*"} },
			header: map[string]string{"Origin": "http://www.example.net", "Access-Control-Request-Method": "GET"},
			want: http.Header{
				"Access-Control-Allow-Origin":  {"*"},
				"Access-Control-Allow-Methods": {defaultMethods},
				"Vary":                         {"Origin"},
			},
		},
		{
			name: "config options",
			set: func(c *Config) {
				c.Origins = []string{"example.test"}
				c.Methods = []string{"GET"}
				c.Headers = []string{"origin", "type", "accepts"}
				c.ExposedHeaders = []string{"x-auth-token"}
				c.MaxAge = f(23)
				c.Credentials = true
			},
			header: map[string]string{"Origin": "origin5.test", "Access-Control-Request-Method": "GET"},
			want: http.Header{
				"Access-Control-Allow-Origin":      {"example.test"},
				"Access-Control-Allow-Methods":     {"GET"},
				"Access-Control-Allow-Headers":     {"origin,type,accepts"},
				"Access-Control-Max-Age":           {"23"},
				"Access-Control-Allow-Credentials": {"true"},
				"Vary":                             {"Origin"},
			},
		},
		{
			name:   "fractional max_age prints like Lua",
			set:    func(c *Config) { c.MaxAge = f(1.5) },
			header: map[string]string{"Origin": "o.test", "Access-Control-Request-Method": "GET"},
			want: http.Header{
				"Access-Control-Allow-Origin":  {"*"},
				"Access-Control-Allow-Methods": {defaultMethods},
				"Access-Control-Max-Age":       {"1.5"},
			},
		},
		{
			name:   "echoes the request headers when none are configured",
			set:    func(c *Config) { c.Origins = []string{"*"}; c.Credentials = true },
			header: map[string]string{"Origin": "origin5.test", "Access-Control-Request-Headers": "origin,accepts", "Access-Control-Request-Method": "GET"},
			want: http.Header{
				"Access-Control-Allow-Origin":      {"origin5.test"},
				"Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Allow-Headers":     {"origin,accepts"},
				"Access-Control-Allow-Methods":     {defaultMethods},
				"Vary":                             {"Origin"},
			},
		},
		{
			name: "several literal origins with credentials, rejected origin",
			set: func(c *Config) {
				c.Credentials = true
				c.MaxAge = f(1728000)
				c.Headers = []string{"DNT", "X-CustomHeader", "Authorization"}
				c.Origins = []string{"a.xxx.test", "allowed-domain.test"}
			},
			header: map[string]string{"Origin": "disallowed-domain.test", "Access-Control-Request-Method": "GET"},
			want: http.Header{
				"Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Allow-Headers":     {"DNT,X-CustomHeader,Authorization"},
				"Access-Control-Allow-Methods":     {defaultMethods},
				"Access-Control-Max-Age":           {"1728000"},
				"Vary":                             {"Origin"},
			},
		},
		{
			name:   "private network",
			set:    func(c *Config) { c.PrivateNetwork = true; c.Origins = []string{"allowed-domain.test"} },
			header: map[string]string{"Origin": "allowed-domain.test", "Access-Control-Request-Private-Network": "true", "Access-Control-Request-Method": "PUT"},
			want: http.Header{
				"Access-Control-Allow-Origin":          {"allowed-domain.test"},
				"Access-Control-Allow-Methods":         {defaultMethods},
				"Access-Control-Allow-Private-Network": {"true"},
				"Vary":                                 {"Origin"},
			},
		},
		{
			name:   "private network needs the request header",
			set:    func(c *Config) { c.PrivateNetwork = true },
			header: map[string]string{"Origin": "a.test", "Access-Control-Request-Private-Network": "yes", "Access-Control-Request-Method": "PUT"},
			want:   http.Header{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Methods": {defaultMethods}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := preflight(t, mustBuild(t, tt.set), tt.header)
			if e.Status != 200 || e.Body == nil || len(e.Body) != 0 || e.Message != "" || e.ContentType != "" {
				t.Fatalf("exit %+v, want an empty 200", e)
			}
			if diff := cmp.Diff(tt.want, e.Header); diff != "" {
				t.Fatalf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResponses(t *testing.T) {
	configOptions := func(c *Config) {
		c.Origins = []string{"example.test"}
		c.Methods = []string{"GET"}
		c.Headers = []string{"origin", "type", "accepts"}
		c.ExposedHeaders = []string{"x-auth-token"}
		c.MaxAge = f(23)
		c.Credentials = true
	}
	tests := []struct {
		name     string
		set      func(*Config)
		method   string
		header   map[string]string
		upstream http.Header
		want     http.Header
	}{
		{
			name: "appropriate defaults",
			want: http.Header{"Access-Control-Allow-Origin": {"*"}},
		},
		{
			name:   "non-preflight OPTIONS is proxied and decorated",
			method: "OPTIONS",
			want:   http.Header{"Access-Control-Allow-Origin": {"*"}},
		},
		{
			name:   "OPTIONS with Origin but no request method is not a preflight",
			method: "OPTIONS",
			set:    func(c *Config) { c.Origins = []string{"http://my-site.test", "http://my-other-site.test"} },
			header: map[string]string{"Origin": "http://my-site.test"},
			want:   http.Header{"Access-Control-Allow-Origin": {"http://my-site.test"}, "Vary": {"Origin"}},
		},
		{
			name:   "config options",
			set:    configOptions,
			header: map[string]string{"Origin": "anything.test"},
			want: http.Header{
				"Access-Control-Allow-Origin":      {"example.test"},
				"Access-Control-Expose-Headers":    {"x-auth-token"},
				"Access-Control-Allow-Credentials": {"true"},
				"Vary":                             {"Origin"},
			},
		},
		{
			name:   "literal origin among several",
			set:    func(c *Config) { c.Origins = []string{"example.test", "example.org"} },
			header: map[string]string{"Origin": "example.test"},
			want:   http.Header{"Access-Control-Allow-Origin": {"example.test"}, "Vary": {"Origin"}},
		},
		{
			name:   "does not parse the host of a literal origin",
			set:    func(c *Config) { c.Origins = []string{"example.test", "example.org"} },
			header: map[string]string{"Origin": "https://example.test"},
			want:   http.Header{"Vary": {"Origin"}},
		},
		{
			name:   "flat strings: tricky illegitimate origin",
			set:    func(c *Config) { c.Origins = []string{"http://my-site.test", "http://my-other-site.test"} },
			header: map[string]string{"Origin": "http://my-site.test.bad-guys.test"},
			want:   http.Header{"Vary": {"Origin"}},
		},
		{
			name:   "validates scheme and port: default port dropped",
			set:    func(c *Config) { c.Origins = []string{"http://my-site.test", "https://my-other-site.test:9000"} },
			header: map[string]string{"Origin": "http://my-site.test:80"},
			want:   http.Header{"Access-Control-Allow-Origin": {"http://my-site.test"}, "Vary": {"Origin"}},
		},
		{
			name:   "validates scheme and port: other port",
			set:    func(c *Config) { c.Origins = []string{"http://my-site.test", "https://my-other-site.test:9000"} },
			header: map[string]string{"Origin": "http://my-site.test:8000"},
			want:   http.Header{"Vary": {"Origin"}},
		},
		{
			name:   "validates scheme and port: other scheme",
			set:    func(c *Config) { c.Origins = []string{"http://my-site.test", "https://my-other-site.test:9000"} },
			header: map[string]string{"Origin": "https://my-site.test"},
			want:   http.Header{"Vary": {"Origin"}},
		},
		{
			name:   "validates scheme and port: explicit port",
			set:    func(c *Config) { c.Origins = []string{"http://my-site.test", "https://my-other-site.test:9000"} },
			header: map[string]string{"Origin": "https://my-other-site.test:9000"},
			want:   http.Header{"Access-Control-Allow-Origin": {"https://my-other-site.test:9000"}, "Vary": {"Origin"}},
		},
		{
			name:   "credentials with * echo the origin including port",
			set:    func(c *Config) { c.Origins = []string{"*"}; c.Credentials = true },
			header: map[string]string{"Origin": "http://www.example.net:3000"},
			want: http.Header{
				"Access-Control-Allow-Origin":      {"http://www.example.net:3000"},
				"Access-Control-Allow-Credentials": {"true"},
				"Vary":                             {"Origin"},
			},
		},
		{
			name: "credentials with * and no origin",
			set:  func(c *Config) { c.Credentials = true },
			want: http.Header{"Access-Control-Allow-Origin": {"*"}},
		},
		{
			name:   "* without credentials",
			set:    func(c *Config) { c.Origins = []string{"*"} },
			header: map[string]string{"Origin": "http://www.example.net"},
			want:   http.Header{"Access-Control-Allow-Origin": {"*"}},
		},
		{
			name:     "keeps the upstream Vary",
			set:      func(c *Config) { c.Origins = []string{"example.test"} },
			header:   map[string]string{"Origin": "example.test"},
			upstream: http.Header{"Vary": {"Accept-Encoding"}},
			want:     http.Header{"Access-Control-Allow-Origin": {"example.test"}, "Vary": {"Accept-Encoding", "Origin"}},
		},
		{
			name: "replaces or removes the upstream allow-origin",
			set: func(c *Config) {
				c.Credentials = true
				c.Origins = []string{"a.xxx.test", "allowed-domain.test"}
			},
			header:   map[string]string{"Origin": "disallowed-domain.test"},
			upstream: http.Header{"Access-Control-Allow-Origin": {"*"}, "Response-Header": {"is-added"}},
			want: http.Header{
				"Access-Control-Allow-Credentials": {"true"},
				"Response-Header":                  {"is-added"},
				"Vary":                             {"Origin"},
			},
		},
		{
			name: "matching origin replaces the upstream allow-origin",
			set: func(c *Config) {
				c.Credentials = true
				c.Origins = []string{"a.xxx.test", "allowed-domain.test"}
			},
			header:   map[string]string{"Origin": "allowed-domain.test"},
			upstream: http.Header{"Access-Control-Allow-Origin": {"*"}},
			want: http.Header{
				"Access-Control-Allow-Origin":      {"allowed-domain.test"},
				"Access-Control-Allow-Credentials": {"true"},
				"Vary":                             {"Origin"},
			},
		},
		{
			name: "allow_origin_absent disabled and no Origin",
			set: func(c *Config) {
				c.AllowOriginAbsent = false
				c.Origins = []string{"foo.bar"}
				c.ExposedHeaders = []string{"x-auth-token"}
				c.Credentials = true
			},
			want: http.Header{},
		},
		{
			name: "allow_origin_absent disabled and empty Origin",
			set: func(c *Config) {
				c.AllowOriginAbsent = false
				c.Origins = []string{"foo.bar"}
				c.ExposedHeaders = []string{"x-auth-token"}
				c.Credentials = true
			},
			header: map[string]string{"Origin": ""},
			want:   http.Header{},
		},
		{
			name: "allow_origin_absent enabled and no Origin",
			set: func(c *Config) {
				c.Origins = []string{"foo.bar"}
				c.ExposedHeaders = []string{"x-auth-token"}
				c.Credentials = true
			},
			want: http.Header{
				"Access-Control-Allow-Origin":      {"foo.bar"},
				"Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Expose-Headers":    {"x-auth-token"},
				"Vary":                             {"Origin"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustBuild(t, tt.set)
			method := tt.method
			if method == "" {
				method = "GET"
			}
			c := newCtx(method, tt.header)
			if err := in.Access(c); err != nil {
				t.Fatalf("access: %v", err)
			}
			if tt.upstream != nil {
				c.Resp.Header = tt.upstream
			}
			c.Resp.Status = 200
			in.HeaderFilter(c)
			if diff := cmp.Diff(tt.want, c.Resp.Header); diff != "" {
				t.Fatalf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNoAllocations(t *testing.T) {
	in := mustBuild(t, func(c *Config) { c.Origins = []string{"http://a.test", `(.*\.)?b\.test`} })
	c := newCtx("GET", map[string]string{"Origin": "http://x.b.test"})
	n := testing.AllocsPerRun(100, func() {
		_, _ = normalizeOrigin("http://x.b.test")
		_ = in.Access(c)
	})
	if n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

func TestPreflightContinue(t *testing.T) {
	in := mustBuild(t, func(c *Config) {
		c.Origins = []string{"example.test"}
		c.ExposedHeaders = []string{"x-auth-token"}
		c.PreflightContinue = true
	})
	c := newCtx("OPTIONS", map[string]string{"Origin": "example.test", "Access-Control-Request-Method": "GET"})
	if err := in.Access(c); err != nil {
		t.Fatalf("preflight answered: %v", err)
	}
	c.Resp.Header = http.Header{"X-Upstream": {"1"}}
	c.Resp.Status = 201
	in.HeaderFilter(c)
	if diff := cmp.Diff(http.Header{"X-Upstream": {"1"}}, c.Resp.Header); diff != "" {
		t.Fatalf("upstream preflight answer changed (-want +got):\n%s", diff)
	}
}
