package requesttransformer

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func str(s string) *string { return &s }

func build(t *testing.T, set func(*Config)) (*instance, error) {
	t.Helper()
	reg := Registration()
	cfg := reg.NewConfig().(*Config)
	if set != nil {
		set(cfg)
	}
	in, err := reg.New(cfg, plugin.Env{})
	if err != nil {
		return nil, err
	}
	return in.(*instance), nil
}

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "request-transformer" || reg.Priority != 801 {
		t.Fatalf("got %q %d", reg.Name, reg.Priority)
	}
	if _, ok := reg.NewConfig().(*Config); !ok {
		t.Fatal("NewConfig does not return *Config")
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want plugin.Errors
	}{
		{name: "valid http_method", set: func(c *Config) { c.HTTPMethod = str("GET") }},
		{
			name: "invalid http_method",
			set:  func(c *Config) { c.HTTPMethod = str("HELLO!") },
			want: plugin.Errors{{Path: "http_method", Message: "invalid value: HELLO!"}},
		},
		{
			name: "lower-case http_method",
			set:  func(c *Config) { c.HTTPMethod = str("get") },
			want: plugin.Errors{{Path: "http_method", Message: "invalid value: get"}},
		},
		{
			name: "capture templates and plain values",
			set: func(c *Config) {
				c.Add.Querystring = []string{"uri_param1:$(uri_captures.user1)", "uri_param2:value", "p:$(uri_captures[0])"}
				c.Add.Headers = []string{`x-a:$(headers["x-b"])`, "x-c:$(headers.x_d)", "x-e:$(query_params['q'])", "x-f:"}
				c.Replace.URI = str(`/api/$(uri_captures["subpath"])`)
				c.Add.Body = []string{"q1:$('$(uri_captures.user1)')", "h:#value_with_hash", "u:$(unbalanced"}
			},
		},
		{
			name: "missing value",
			set:  func(c *Config) { c.Add.Querystring = []string{"uri_param2:"} },
			want: plugin.Errors{{Path: "add.querystring[0]", Message: "key 'uri_param2' has no value"}},
		},
		{
			name: "malformed template",
			set:  func(c *Config) { c.Add.Querystring = []string{"ok:1", "uri_param2:$(uri_captures user2)"} },
			want: plugin.Errors{{Path: "add.querystring[1]", Message: "value '$(uri_captures user2)' is not in supported format, error: " +
				"$(uri_captures user2): uri_captures must be followed by .<name> or [\"<name>\"]; " + supportedForms}},
		},
		{
			name: "Lua outside the supported subset",
			set: func(c *Config) {
				c.Add.Querystring = []string{"uri_param1:$(uri_captures.user1 or 'default1')"}
				c.Replace.URI = str("/requests/user2/$(10 * uri_captures.user1)")
				c.Append.Headers = []string{"x-v:$(shared.my_version)"}
			},
			want: plugin.Errors{
				{Path: "append.headers[0]", Message: "value '$(shared.my_version)' is not in supported format, error: " +
					"$(shared.my_version): shared (kong.ctx.shared) is not supported: no Turnpike plugin writes it; " + supportedForms},
				{Path: "replace.uri", Message: "value '/requests/user2/$(10 * uri_captures.user1)' is not in supported format, error: " +
					"$(10 * uri_captures.user1): unexpected '*' at offset 3; " + supportedForms},
			},
		},
		{
			name: "invalid header names",
			set: func(c *Config) {
				c.Remove.Headers = []string{"x ok"}
				c.Add.Headers = []string{"bad header:v"}
				c.Rename.Headers = []string{"x-a:b c"}
			},
			want: plugin.Errors{
				{Path: "remove.headers[0]", Message: "'x ok' is not a valid header"},
				{Path: "rename.headers[0]", Message: "'b c' is not a valid header"},
				{Path: "add.headers[0]", Message: "'bad header' is not a valid header"},
			},
		},
		{
			name: "header pairs need a colon",
			set: func(c *Config) {
				c.Rename.Headers = []string{"x-a"}
				c.Replace.Headers = []string{"x-b"}
			},
			want: plugin.Errors{
				{Path: "rename.headers[0]", Message: "invalid value: x-a"},
				{Path: "replace.headers[0]", Message: "invalid value: x-b"},
			},
		},
		{
			name: "rename body needs a target",
			set:  func(c *Config) { c.Rename.Body = []string{"a"} },
			want: plugin.Errors{{Path: "rename.body[0]", Message: "key 'a' has no value"}},
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

func TestSplitPair(t *testing.T) {
	tests := []struct {
		name, in, key, val string
		ok                 bool
	}{
		{name: "simple", in: "a:b", key: "a", val: "b", ok: true},
		{name: "colon in value", in: "h2:value:2", key: "h2", val: "value:2", ok: true},
		{name: "colons skipped", in: "a:::b", key: "a", val: "b", ok: true},
		{name: "no value", in: "a", key: "a", ok: true},
		{name: "leading colon", in: ":a"},
		{name: "empty", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, v, ok := splitPair(tt.in)
			if k != tt.key || v != tt.val || ok != tt.ok {
				t.Fatalf("got %q %q %v", k, v, ok)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	tests := []struct {
		name, in, sorted, ordered string
	}{
		{name: "plain", in: "b=2&a=1", sorted: "a=1&b=2", ordered: "b=2&a=1"},
		{name: "repeated and bare", in: "a=1&f&a=2", sorted: "a=1&a=2&f", ordered: "a=1&a=2&f"},
		{name: "escapes", in: "x+y=%24%26&e=", sorted: "e=&x%20y=%24%26", ordered: "x%20y=%24%26&e="},
		{name: "malformed escape kept", in: "a=%zz", sorted: "a=%25zz", ordered: "a=%25zz"},
		{name: "empty keys dropped", in: "&=v&&a=1", sorted: "a=1", ordered: "a=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := parseArgs(tt.in)
			if got := a.encodeSorted(); got != tt.sorted {
				t.Errorf("sorted %q, want %q", got, tt.sorted)
			}
			if got := string(a.encode()); got != tt.ordered {
				t.Errorf("ordered %q, want %q", got, tt.ordered)
			}
		})
	}
}
