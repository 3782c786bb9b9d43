package requesttransformer

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// accessErr runs the plugin on a GET of target with one header x.
func accessErr(t *testing.T, set func(*Config), target, x string) (*plugin.Ctx, error) {
	t.Helper()
	in, err := build(t, set)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", target, nil)
	r.Host = "test.test"
	if x != "" {
		r.Header.Set("X", x)
	}
	c := &plugin.Ctx{Req: r, Method: "GET", Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery}
	return c, in.Access(c)
}

func TestRenderedValueCap(t *testing.T) {
	half := strings.Repeat("a", maxRendered/2+1)
	tests := []struct {
		name string
		set  func(*Config)
		x    string
	}{
		{"concatenation", func(c *Config) { c.Add.Headers = []string{"y:$(headers.x .. headers.x)"} }, half},
		{"template parts", func(c *Config) { c.Add.Headers = []string{"y:$(headers.x)$(headers.x)"} }, half},
		{"literal and lookup", func(c *Config) { c.Add.Headers = []string{"y:" + half + "$(headers.x)"} }, half},
		{"path", func(c *Config) { c.Replace.URI = str("/$(headers.x)/$(headers.x)") }, half},
		{"query", func(c *Config) { c.Add.Querystring = []string{"q:$(headers.x .. headers.x:upper())"} }, half},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := accessErr(t, tt.set, "/", tt.x)
			var ex *plugin.Exit
			if !errors.As(err, &ex) || ex.Status != 400 {
				t.Fatalf("got %v, want a 400 exit", err)
			}
			if len(c.Req.Header.Get("Y")) > 0 || len(c.RawQuery) > 0 || len(c.Path) > 1 {
				t.Error("a value over the cap was applied")
			}
		})
	}
	// Right at the cap is still fine.
	exact := strings.Repeat("b", maxRendered/2)
	c, err := accessErr(t, func(c *Config) { c.Add.Headers = []string{"y:$(headers.x .. headers.x)"} }, "/", exact)
	if err != nil || len(c.Req.Header.Get("Y")) != maxRendered {
		t.Fatalf("at the cap: %v, %d bytes", err, len(c.Req.Header.Get("Y")))
	}
}

func TestTooManyExpressions(t *testing.T) {
	v := "x:" + strings.Repeat("$(headers.a)", maxExprs+1)
	_, err := build(t, func(c *Config) { c.Add.Headers = []string{"h:1", v} })
	if err == nil || !strings.Contains(err.Error(), "add.headers[1]") || !strings.Contains(err.Error(), "more than 64 $(...) expressions") {
		t.Fatalf("got %v", err)
	}
	if _, err := build(t, func(c *Config) { c.Add.Headers = []string{"x:" + strings.Repeat("$(headers.a)", maxExprs)} }); err != nil {
		t.Fatal(err)
	}
}

// A '#' in a request-target would start a fragment; '?' starts the query
// upstream, as in Kong.
func TestURIEscapesHash(t *testing.T) {
	c, err := accessErr(t, func(c *Config) { c.Replace.URI = str("/t/$(query_params.p)") }, "/?p=a%23frag%3Fb%3D1", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != "/t/a%23frag?b=1" {
		t.Errorf("path %q", c.Path)
	}
}

// A control character written into a Host template is refused at load, so
// that the proxy's 400 for a Host rendered from the request (it holds any
// Host a plugin sets to the client's rules) only ever blames the request.
func TestHostTemplateLiteralRefused(t *testing.T) {
	for _, v := range []string{"host:a\rb", `host:$('a\nb')`, "host:a b$(headers.x)", `host:$(headers.x or 'a/b')`} {
		_, err := build(t, func(c *Config) { c.Replace.Headers = []string{v} })
		if err == nil || !strings.Contains(err.Error(), "replace.headers[0]") {
			t.Errorf("%q: got %v", v, err)
		}
	}
}

// Strings an expression builds and throws away count too: a result fed
// to type() renders a few bytes after building many, so a value of such
// expressions over a large header is refused once they built maxBuilt.
func TestBuiltStringsCap(t *testing.T) {
	x := strings.Repeat("a", maxRendered/2)
	expr := "$(type(headers.x:upper():lower():upper()))"
	set := func(n int) func(*Config) {
		return func(c *Config) { c.Add.Headers = []string{"y:" + strings.Repeat(expr, n)} }
	}
	// Each expression builds three copies of x: 1.5 × maxRendered.
	c, err := accessErr(t, set(2), "/", x)
	if err != nil || c.Req.Header.Get("Y") != "stringstring" {
		t.Fatalf("within the bound: %v, %q", err, c.Req.Header.Get("Y"))
	}
	c, err = accessErr(t, set(3), "/", x)
	var ex *plugin.Exit
	if !errors.As(err, &ex) || ex.Status != 400 {
		t.Fatalf("past the bound: got %v, want a 400 exit", err)
	}
	if c.Req.Header.Get("Y") != "" {
		t.Error("a value past the bound was applied")
	}
}
