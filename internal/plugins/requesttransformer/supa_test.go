package requesttransformer

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// supabaseAuth is the value Supabase's kong-entrypoint.sh renders into its
// kong.yml, and supabaseLegacy the branch for installs without opaque keys.
const (
	supabaseAuth   = "$((headers.authorization ~= nil and headers.authorization:sub(1, 10) ~= 'Bearer sb_' and headers.authorization) or headers.apikey)"
	supabaseLegacy = "$((headers.authorization ~= nil and headers.authorization) or headers.apikey)"
)

func TestSupaLuaSubset(t *testing.T) {
	addHeader := func(v string) func(*Config) {
		return func(c *Config) { c.Add.Headers = []string{"x-out:" + v} }
	}
	out := func(v string) upstream { return upstream{Header: http.Header{"X-Out": {v}}} }
	withA := func(a, v string) upstream { return upstream{Header: http.Header{"A": {a}, "X-Out": {v}}} }
	tests := []accessCase{
		{name: "literals", set: addHeader("$(nil)|$(true)|$(false)|$(type(nil))|$(type(true))|$(type(1))|$(42)|$(-7)|$(007)"), want: out("|true||nil|boolean|number|42|-7|7")},
		{name: "nil compares with a missing header", set: addHeader("$(headers.none == nil and 'absent')"), want: out("absent")},
		{name: "nil does not equal false", set: addHeader("$(nil == false and 'eq' or 'ne')"), want: out("ne")},
		{name: "numbers compare by value and never equal a string", set: addHeader("$(1 == 01 and 'eq')|$(1 == '1' and 'eq' or 'ne')"), want: out("eq|ne")},
		{name: "a number concatenates as its digits", set: addHeader("$('n' .. 12 .. -3)"), want: out("n12-3")},
		{name: "not", set: addHeader("$(not headers.none and 'a')|$(not true)|$(not not 'x')|$(not headers.a == false and 'b')"), header: http.Header{"A": {"v"}}, want: withA("v", "a||true|b")},
		{name: "length of a string, a table and an argument", set: addHeader("$(#headers.a)|$(#headers.b)|$(#query_params.q)|$(#headers.a == 5 and 'five')|$('n' .. #headers.a)"), target: "/request?q=abc", header: http.Header{"A": {"héll"}, "B": {"1", "2", "3"}}, want: upstream{RawQuery: "q=abc", Header: http.Header{"A": {"héll"}, "B": {"1", "2", "3"}, "X-Out": {"5|3|3|five|n5"}}}},
		{name: "sub counts from 1 and includes j", set: addHeader("$(headers.a:sub(1, 3))|$(headers.a:sub(2))|$(headers.a:sub(3, 3))"), header: http.Header{"A": {"abcdef"}}, want: withA("abcdef", "abc|bcdef|c")},
		{name: "sub with negative indices counts from the end", set: addHeader("$(headers.a:sub(-2))|$(headers.a:sub(-4, -2))|$(headers.a:sub(2, -2))"), header: http.Header{"A": {"abcdef"}}, want: withA("abcdef", "ef|cde|bcde")},
		{name: "sub clamps and gives empty for a crossed range", set: addHeader("[$(headers.a:sub(0))][$(headers.a:sub(-100, 2))][$(headers.a:sub(4, 100))][$(headers.a:sub(5, 2))][$(headers.a:sub(7))][$(headers.a:sub(0, 0))]"), header: http.Header{"A": {"abcdef"}}, want: withA("abcdef", "[abcdef][ab][def][][][]")},
		{name: "sub is byte-wise", set: addHeader("$(headers.a:sub(1, 2))"), header: http.Header{"A": {"éa"}}, want: withA("éa", "é")},
		{name: "sub takes an expression and a numeric string", set: addHeader("$(headers.a:sub(#headers.a == 6 and 2 or 1, query_params.n))"), target: "/request?n=3", header: http.Header{"A": {"abcdef"}}, want: upstream{RawQuery: "n=3", Header: http.Header{"A": {"abcdef"}, "X-Out": {"bc"}}}},
		{name: "sub then a method", set: addHeader("$(headers.a:sub(1, 2):upper())$(('xyz'):sub(-1))"), header: http.Header{"A": {"abc"}}, want: withA("abc", "ABz")},
		{name: "sub of nil fails", set: addHeader("$(headers.none:sub(1))"), wantErr: true},
		{name: "sub of a table fails", set: addHeader("$(headers.b:sub(1))"), header: http.Header{"B": {"1", "2"}}, wantErr: true},
		{name: "sub with a nil index fails", set: addHeader("$(headers.a:sub(headers.none))"), header: http.Header{"A": {"abc"}}, wantErr: true},
		{name: "sub with a non-numeric string fails", set: addHeader("$(headers.a:sub('x'))"), header: http.Header{"A": {"abc"}}, wantErr: true},
		{name: "length of nil fails", set: addHeader("$(#headers.none)"), wantErr: true},
		{name: "a number has no methods", set: addHeader("$((1):lower())"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runAccess(t, tt) })
	}
}

// TestSupaSupabaseAuthorization runs Supabase's own expressions as its
// kong.yml uses them: in add and in replace of the same header, written
// "Authorization: $(...)". The space after the colon is part of the value
// in Kong too (its pattern skips colons only), so the value is never empty;
// the upstream's parser drops the leading space.
func TestSupaSupabaseAuthorization(t *testing.T) {
	for name, expr := range map[string]string{"current": supabaseAuth, "legacy": supabaseLegacy} {
		set := func(c *Config) {
			c.Add.Headers = []string{"Authorization: " + expr}
			c.Replace.Headers = []string{"Authorization: " + expr}
		}
		sbKey := "sb_publishable_x"
		wantOpaque := " Bearer sb_secret_y"
		if name == "current" {
			wantOpaque = " " + sbKey
		}
		tests := []accessCase{
			{name: "a JWT passes through", set: set, header: http.Header{"Authorization": {"Bearer eyJ.a.b"}, "Apikey": {sbKey}},
				want: upstream{Header: http.Header{"Authorization": {" Bearer eyJ.a.b"}, "Apikey": {sbKey}}}},
			{name: "an opaque key in Authorization", set: set, header: http.Header{"Authorization": {"Bearer sb_secret_y"}, "Apikey": {sbKey}},
				want: upstream{Header: http.Header{"Authorization": {wantOpaque}, "Apikey": {sbKey}}}},
			{name: "no Authorization falls back to apikey", set: set, header: http.Header{"Apikey": {sbKey}},
				want: upstream{Header: http.Header{"Authorization": {" " + sbKey}, "Apikey": {sbKey}}}},
			{name: "neither", set: set, want: upstream{Header: http.Header{"Authorization": {" "}}}},
		}
		for _, tt := range tests {
			t.Run(name+" "+tt.name, func(t *testing.T) { runAccess(t, tt) })
		}
	}
}

func TestSupaRefused(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"headers.a:sub()", ":sub takes one or two arguments"},
		{"headers.a:sub(1, 2, 3)", ":sub takes one or two arguments"},
		{"headers.a:gsub('a', 'b')", "only the string methods :lower(), :upper() and :sub(i [, j]) are supported"},
		{"-headers.a", "a minus sign is only supported before a number"},
		{"1.5", "only decimal integers"},
		{"123456789012345", "number out of range"},
		{"#", "unexpected end"},
		{"not", "unexpected end"},
		{strings.Repeat("not ", maxDepth+1) + "headers.a", "nested deeper than 16"},
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

// TestSupaAllocations: Supabase's expression and :sub cost nothing per
// request; they return the request's own strings.
func TestSupaAllocations(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer eyJ.a.b")
	r.Header.Set("Apikey", "k")
	c := &plugin.Ctx{Req: r}
	for _, s := range []string{supabaseAuth, supabaseLegacy, "$(headers.authorization:sub(-3, -2))", "$(not headers.apikey)"} {
		tpl, err := compileTemplate(s, "v")
		if err != nil {
			t.Fatal(err)
		}
		e := &env{c: c}
		if n := testing.AllocsPerRun(100, func() {
			if _, err := tpl.render(e); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations, want 0", s, n)
		}
	}
}
