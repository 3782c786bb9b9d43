package requesttransformer

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// optionalCaptures are those of ~/t((/\d+)(?P<tag>/\w+))? for /t: no group
// took part.
var optionalCaptures = plugin.Captures{
	Positional: []string{"/t", "", "", ""},
	Names:      []string{"", "", "", "tag"},
	Unmatched:  []bool{false, true, true, true},
}

func TestExpressions(t *testing.T) {
	addHeader := func(v string) func(*Config) {
		return func(c *Config) { c.Add.Headers = []string{"x-out:" + v} }
	}
	out := func(v string) upstream { return upstream{Header: http.Header{"X-Out": {v}}} }
	tests := []accessCase{
		{name: "or gives the default for a missing capture", set: addHeader("$(uri_captures.nope or 'default1')"), capt: userCaptures, want: out("default1")},
		{name: "or keeps a present value", set: addHeader(`$(uri_captures.user1 or "default1")`), capt: userCaptures, want: out("foo")},
		{name: "an empty string is true in Lua", set: addHeader("[$(query_params.q or 'd')]"), target: "/request?q=", want: upstream{RawQuery: "q=", Header: http.Header{"X-Out": {"[]"}}}},
		{name: "no captures without a regex group", set: addHeader("$(uri_captures[0] or 'none')"), capt: plugin.Captures{Positional: []string{"/request"}}, want: out("none")},
		{name: "or gives the default for a group that took no part", set: addHeader("$(uri_captures.tag or 'default'),$(uri_captures[1] or 'd1'),[$(uri_captures[1])],$(type(uri_captures.tag))"), capt: optionalCaptures, want: out("default,d1,[],boolean")},
		{name: "a group that took no part cannot be concatenated", set: addHeader("$('a' .. uri_captures.tag)"), capt: optionalCaptures, wantErr: true},
		{name: "positional capture", set: addHeader("$(uri_captures[2])"), capt: userCaptures, want: out("bar")},
		{name: "concatenation", set: addHeader(`$("u-" .. uri_captures.user1 .. '-' .. uri_captures[2])`), capt: userCaptures, want: out("u-foo-bar")},
		// ngx.req.get_headers(): the spelling written, then '-' for '_'.
		{name: "header spelt with an underscore", set: addHeader("$(headers.x_in)"), header: http.Header{"X_in": {"u"}, "X-In": {"d"}}, want: upstream{Header: http.Header{"X_in": {"u"}, "X-In": {"d"}, "X-Out": {"u"}}}},
		{name: "dashed name does not read the underscore header", set: addHeader("$(headers['x-in'] or 'none')"), header: http.Header{"X_in": {"u"}}, want: upstream{Header: http.Header{"X_in": {"u"}, "X-Out": {"none"}}}},
		{name: "lower and upper", set: addHeader("$(headers.x_in:lower())-$((headers['x-in'] .. 'b'):upper())"), header: http.Header{"X-In": {"MiXé"}}, want: upstream{Header: http.Header{"X-In": {"MiXé"}, "X-Out": {"mixé-MIXéB"}}}},
		{name: "type of each kind", set: addHeader("$(type(headers.none)) $(type(headers.a)) $(type(headers.b)) $(type(query_params.f))"), target: "/request?f", header: http.Header{"A": {"1"}, "B": {"1", "2"}}, want: upstream{RawQuery: "f", Header: http.Header{"A": {"1"}, "B": {"1", "2"}, "X-Out": {"nil string table boolean"}}}},
		{name: "first of a repeated header", set: addHeader(`$(type(headers["X-Foo"]) == "table" and headers["X-Foo"][1] .. "-first" or headers["X-Foo"])`), header: http.Header{"X-Foo": {"1", "2"}}, want: upstream{Header: http.Header{"X-Foo": {"1", "2"}, "X-Out": {"1-first"}}}},
		{name: "a single header through the same idiom", set: addHeader(`$(type(headers["X-Foo"]) == "table" and headers["X-Foo"][1] .. "-first" or headers["X-Foo"])`), header: http.Header{"X-Foo": {"only"}}, want: upstream{Header: http.Header{"X-Foo": {"only"}, "X-Out": {"only"}}}},
		{name: "elements of a repeated argument", set: addHeader("$(query_params.a[2])|$(query_params.a[3])|$(query_params.a[9])"), target: "/request?a=1&a&a=3", want: upstream{RawQuery: "a=1&a&a=3", Header: http.Header{"X-Out": {"true|3|"}}}},
		{name: "index of a string is nil", set: addHeader("$(headers.a[1] or 'nil')"), header: http.Header{"A": {"xyz"}}, want: upstream{Header: http.Header{"A": {"xyz"}, "X-Out": {"nil"}}}},
		{name: "comparisons", set: addHeader("$(query_params.a == 'x' and 'eq' or 'ne'),$(query_params.a ~= 'x' and 'ne' or 'eq'),$(headers.none == headers.other and 'nil')"), target: "/request?a=x", want: upstream{RawQuery: "a=x", Header: http.Header{"X-Out": {"eq,eq,nil"}}}},
		{name: "false renders empty", set: addHeader("[$(query_params.a == 'y')]"), target: "/request?a=x", want: upstream{RawQuery: "a=x", Header: http.Header{"X-Out": {"[]"}}}},
		{name: "and gives nil for a missing value", set: addHeader("[$(headers.none and 'x')]"), want: out("[]")},
		{name: "string escapes", set: addHeader(`$('it\'s' .. "\"q\"" .. '\\')`), want: out(`it's"q"\`)},
		{name: "templates in the path", set: func(c *Config) { c.Replace.URI = str("/v2/$(uri_captures.user1:upper())") }, capt: userCaptures, want: upstream{Path: "/v2/FOO"}},
		{name: "concatenating nil fails", set: addHeader("$('a' .. headers.none)"), wantErr: true},
		{name: "concatenating a table fails", set: addHeader("$('a' .. headers.b)"), header: http.Header{"B": {"1", "2"}}, wantErr: true},
		{name: "lower of nil fails", set: addHeader("$(headers.none:lower())"), wantErr: true},
		{name: "upper of a table fails", set: addHeader("$(headers.b:upper())"), header: http.Header{"B": {"1", "2"}}, wantErr: true},
		{name: "index of nil fails", set: addHeader("$(headers.none[1])"), wantErr: true},
		{name: "or does not hide an error", set: addHeader("$(headers.none:lower() or 'x')"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runAccess(t, tt) })
	}
}

func TestRenderErrorNamesTemplate(t *testing.T) {
	in, err := build(t, func(c *Config) { c.Add.Querystring = []string{"q:x$('a' .. query_params.none)"} })
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	err = in.Access(&plugin.Ctx{Req: r, Method: "GET", Path: "/"})
	want := "[request-transformer] failed to render the template in config.add.querystring[0], error:attempt to concatenate a nil value"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestRefusedExpressions(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"", "empty expression"},
		{"  ", "empty expression"},
		{"10 * uri_captures.user1", "unexpected '*' at offset 3"},
		{"uri_captures.a * 2", "unexpected '*' at offset 15"},
		{"ERROR()", "unknown name 'ERROR'"},
		{"foo(headers.a)", "unknown name 'foo'"},
		{"shared.my_version", "shared (kong.ctx.shared) is not supported"},
		{"shared.written = true", "shared (kong.ctx.shared) is not supported"},
		{"string.lower(headers.a)", "string.lower(...) is not available in Kong's sandbox either"},
		{"headers.a:find('x')", "only the string methods :lower(), :upper() and :sub(i [, j]) are supported"},
		{"headers", "headers must be followed by"},
		{"headers[1]", "headers has no numbered entries"},
		{"query_params[0]", "query_params has no numbered entries"},
		{"headers.end", "unexpected 'end'"},
		{"nil:lower()", "unexpected ':'"},
		{"headers.a - 1", "unexpected '-' at offset 10"},
		{"headers.a.b", "a field of a value is not supported"},
		{"headers.a['b']", "only a number can index"},
		{"type(headers.a)(1)", "only type(x) can be called"},
		{"type()", "unexpected ')'"},
		{"'a':lower()", "unexpected ':'"},
		{"'abc", "unfinished string at offset 0"},
		{`'\x41'`, "only the escapes"},
		{"headers.a -- c", "comments are not supported"},
		{"uri_captures[1.5]", "only decimal integers"},
		{"uri_captures[0x1]", "only decimal integers"},
		{"uri_captures[99999999999999999999999]", "number out of range"},
		{"headers.a ... 'b'", "unexpected '...'"},
		{"headers.a, headers.b", "unexpected ','"},
		{"headers.a or", "unexpected end"},
		{"(headers.a", "unexpected end"},
		{"headers.a 'b'", "unexpected string at offset 10"},
		{"headers.a < 1", "unexpected '<' at offset 10"},
		{strings.Repeat("(", maxDepth+1) + "headers.a" + strings.Repeat(")", maxDepth+1), "nested deeper than 16"},
		{strings.Repeat("'a' .. ", maxNodes) + "'a'", "longer than 64 terms"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := parseExpr(tt.expr)
			if err == nil {
				t.Fatal("accepted")
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || !strings.HasSuffix(msg, "; "+supportedForms) {
				t.Fatalf("error %q does not say %q and the supported forms", msg, tt.want)
			}
		})
	}
}

func TestTemplateSplitting(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"$(unbalanced", "$(unbalanced"},
		{`a$(('x'))b$("(" .. ')')c`, "axb()c"},
		{"$('(')c)", ""},
		{"$", "$"},
		{"x$(uri_captures.user1)y$(uri_captures.user2)z", "xfooybarz"},
	}
	for _, tt := range tests {
		tpl, err := compileTemplate(tt.in, "v")
		if tt.want == "" {
			// Penlight cuts at the first balancing ')', quotes or not.
			if err == nil {
				t.Errorf("%s: accepted", tt.in)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		e := &env{c: &plugin.Ctx{Req: httptest.NewRequest("GET", "/", nil), Captures: userCaptures}}
		if got, err := tpl.render(e); err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestRenderAllocations: a lookup costs nothing, and a value built from
// several pieces costs only its result string.
func TestRenderAllocations(t *testing.T) {
	r := httptest.NewRequest("GET", "/?q=v", nil)
	r.Header.Set("X-A", "Value")
	c := &plugin.Ctx{Req: r, RawQuery: "q=v", Captures: userCaptures}
	tests := []struct {
		tpl  string
		want float64
	}{
		{"$(headers.x_a)", 0},
		{"$(uri_captures.user1 or 'd')", 0},
		{"$(type(headers.a) == 'table' and headers.a[1] or headers.a)", 0},
		{"$(headers.x_a:lower())", 1},
		{"p-$(headers.x_a)-$(uri_captures[1])-s", 1},
		{"$('p-' .. headers.x_a .. '-' .. uri_captures[1] .. '-s')", 1},
	}
	for _, tt := range tests {
		tpl, err := compileTemplate(tt.tpl, "v")
		if err != nil {
			t.Fatal(err)
		}
		// The query arguments are parsed once per request, not per value.
		e := &env{c: c}
		e.queryArgs()
		if n := testing.AllocsPerRun(100, func() {
			if _, err := tpl.render(e); err != nil {
				t.Fatal(err)
			}
		}); n != tt.want {
			t.Errorf("%s: %v allocations, want %v", tt.tpl, n, tt.want)
		}
	}
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"$(uri_captures.user1 or 'default1')", "$(uri_captures[0])", `$(headers["x-a"])`,
		`$(query_params.q or "")`, "$('a' .. headers.b:lower() .. (query_params.c or ''):upper())",
		`$(type(headers["X-Foo"]) == "table" and headers["X-Foo"][1] .. "-first" or headers["X-Foo"])`,
		"x$(('('))y", "$(10 * uri_captures.user1)", "$('\\'')", "$(query_params.a ~= 'b')",
		"$((headers.authorization ~= nil and headers.authorization:sub(1, 10) ~= 'Bearer sb_' and headers.authorization) or headers.apikey)",
		"$(not headers.x_a and #query_params.a == -1 or headers.x_a:sub(-2, 2))",
	} {
		f.Add(s)
	}
	r := httptest.NewRequest("GET", "/?a=1&a&b=x&c", nil)
	r.Header["X-A"] = []string{"one"}
	r.Header["X-Foo"] = []string{"1", "2"}
	c := &plugin.Ctx{Req: r, RawQuery: r.URL.RawQuery, Captures: userCaptures}
	f.Fuzz(func(t *testing.T, s string) {
		tpl, err := compileTemplate(s, "v")
		if err != nil {
			if !strings.HasSuffix(err.Error(), supportedForms) {
				t.Fatalf("refusal without the supported forms: %v", err)
			}
			return
		}
		if !strings.Contains(s, "$(") && (len(tpl.parts) != 1 || tpl.parts[0].lit != s) {
			t.Fatalf("plain text %q compiled to %+v", s, tpl.parts)
		}
		out, err := tpl.render(&env{c: c})
		if err != nil {
			var le luaError
			if !errors.As(err, &le) {
				t.Fatalf("render error of another kind: %v", err)
			}
			return
		}
		if again, _ := tpl.render(&env{c: c}); again != out {
			t.Fatalf("rendered %q, then %q", out, again)
		}
	})
}
