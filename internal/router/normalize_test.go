package router

import (
	"strings"
	"testing"
	"unsafe"
)

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		ok   bool
	}{
		{name: "root", in: "/", want: "/", ok: true},
		{name: "already normal", in: "/api/v1/users", want: "/api/v1/users", ok: true},
		{name: "dot segment", in: "/a/./b", want: "/a/b", ok: true},
		{name: "dot-dot segment", in: "/a/../b", want: "/b", ok: true},
		{name: "duplicate slash", in: "/a//b", want: "/a/b", ok: true},
		{name: "many slashes", in: "///a///b//", want: "/a/b/", ok: true},
		{name: "encoded dots", in: "/%2e%2E/x", want: "/x", ok: true},
		{name: "encoded single dot", in: "/a/%2E/b", want: "/a/b", ok: true},
		{name: "mixed dot spelling", in: "/a/b/.%2e/c", want: "/a/c", ok: true},
		{name: "encoded tilde", in: "/%7euser", want: "/~user", ok: true},
		{name: "encoded slash stays encoded", in: "/a%2fb", want: "/a%2Fb", ok: true},
		{name: "encoded slash upper already", in: "/a%2Fb", want: "/a%2Fb", ok: true},
		{name: "encoded letter", in: "/%41", want: "/A", ok: true},
		{name: "encoded unreserved punctuation", in: "/%2D%5f%2e", want: "/-_.", ok: true},
		{name: "encoded space stays", in: "/a%20b", want: "/a%20b", ok: true},
		{name: "lower-case hex upper-cased", in: "/a%3ab%c3%a9", want: "/a%3Ab%C3%A9", ok: true},
		{name: "encoded percent stays", in: "/%2541", want: "/%2541", ok: true},
		{name: "dot-dot at root", in: "/..", want: "/", ok: true},
		{name: "dot at root", in: "/.", want: "/", ok: true},
		{name: "dot-dot above root", in: "/../../a", want: "/a", ok: true},
		{name: "trailing dot-dot", in: "/a/b/..", want: "/a/", ok: true},
		{name: "trailing dot", in: "/a/b/.", want: "/a/b/", ok: true},
		{name: "trailing slash kept", in: "/a/", want: "/a/", ok: true},
		{name: "dots inside names", in: "/a.b/..c/.../d..", want: "/a.b/..c/.../d..", ok: true},
		{name: "dot-dot after double slash", in: "/a//../b", want: "/b", ok: true},
		{name: "bad escape", in: "/%zz", ok: false},
		{name: "short escape", in: "/a%4", ok: false},
		{name: "escape at end", in: "/a%", ok: false},
		{name: "bad escape in otherwise dirty path", in: "/a//b%g1", ok: false},
		{name: "relative", in: "a", ok: false},
		{name: "empty", in: "", ok: false},
		{name: "absolute URI", in: "http://x/a", ok: false},
		{name: "asterisk form", in: "*", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NormalizePath(tt.in)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("NormalizePath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestNormalizePathNoAlloc(t *testing.T) {
	for _, p := range []string{"/", "/api/v1/users/42", "/a%2Fb/c%20d/", "/a.b/..c"} {
		var out string
		n := testing.AllocsPerRun(100, func() { out, _ = NormalizePath(p) })
		if n != 0 {
			t.Errorf("NormalizePath(%q) allocates %v times", p, n)
		}
		if out != p || unsafe.StringData(out) != unsafe.StringData(p) {
			t.Errorf("NormalizePath(%q) = %q, want the input string itself", p, out)
		}
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{
		"/", "/a/./b", "/a/../b", "/a//b", "/%2e%2E/x", "/%7euser", "/a%2fb",
		"/%41", "/..", "/a/", "/%zz", "a", "/a/b/.%2E", "//..//.//", "/%2E%2e%2F..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := NormalizePath(in)
		if !ok {
			if out != "" {
				t.Fatalf("NormalizePath(%q) = %q with ok=false", in, out)
			}
			return
		}
		if !strings.HasPrefix(out, "/") {
			t.Fatalf("NormalizePath(%q) = %q does not start with /", in, out)
		}
		for _, bad := range []string{"//", "/./", "/../"} {
			if strings.Contains(out, bad) {
				t.Fatalf("NormalizePath(%q) = %q contains %q", in, out, bad)
			}
		}
		if strings.HasSuffix(out, "/.") || strings.HasSuffix(out, "/..") {
			t.Fatalf("NormalizePath(%q) = %q ends in a dot segment", in, out)
		}
		again, ok := NormalizePath(out)
		if !ok || again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q (ok=%v)", in, out, again, ok)
		}
	})
}
