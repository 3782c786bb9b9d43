package config

import (
	"strings"
	"testing"
)

// A key holding a path's syntax is quoted, so that no reader of the path
// takes `x0[2999999]` for an index (a list of three million slots).
func TestKeyPathQuotesSyntax(t *testing.T) {
	for _, c := range []struct{ prefix, key, want string }{
		{"services[0]", "retries", "services[0].retries"},
		{"config.headers", "X-Foo", "config.headers.X-Foo"},
		{"services[0]", "x0[2999999]", `services[0]["x0[2999999]"]`},
		{"config.headers", "a.b", `config.headers["a.b"]`},
		{"", `q"`, `["q\""]`},
		{"m", "", `m[""]`},
		{"", "top", "top"},
	} {
		if got := KeyPath(c.prefix, c.key); got != c.want {
			t.Errorf("KeyPath(%q, %q) = %q, want %q", c.prefix, c.key, got, c.want)
		}
	}
	long := "[1]" + strings.Repeat("k", 100)
	if got := KeyPath("a", long); !strings.HasPrefix(got, `a["[1]kkk`) || !strings.HasSuffix(got, `…"]`) {
		t.Errorf("long key: %q", got)
	}
}

// An unknown key that looks like an index is reported under its quoted
// path by the loader.
func TestUnknownKeyPathQuoted(t *testing.T) {
	_, err := Parse([]byte("_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://a/\n  x0[2999999]: 1\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), `services[0]["x0[2999999]"]`) {
		t.Fatalf("got %v", err)
	}
}
