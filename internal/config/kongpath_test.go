package config

import "testing"

// Cases from Kong's kong/tools/uri.lua normalize and the percent-encoding
// cases of spec/01-unit/01-db/01-schema/05-services_spec.lua.
func TestKongPathChecks(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/", "/"},
		{"/foo/bar", "/foo/bar"},
		{"/foo/./bar", "/foo/bar"},
		{"/foo/../bar", "/bar"},
		{"/foo/..", "/"},
		{"/foo/.", "/foo/"},
		{"/..", "/"},
		{"/a/b/../../../c", "/c"},
		{"/file.json", "/file.json"},
		{"/a//b", "/a/b"},
		{"/%c3%A4", "/ä"},
		{"/%20", "/ "},
		{"/%25", "/%25"},
		{"/a%2fb", "/a%2Fb"},
		{"/%7euser", "/~user"},
		{"/%2e%2E/x", "/x"},
	} {
		if got := normalizePath(tt.in); got != tt.want {
			t.Errorf("normalizePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"/some%2words", "%2w"},
		{"/some%0Xwords", "%0X"},
		{"/some%2Gwords", "%2G"},
		{"/some%20words%", "%"},
		{"/some%20words%a", "%a"},
		{"/some%20words%ax", "%ax"},
		{"/%%20", "%__"},
		{"/ok%20%2F", ""},
	} {
		if got := badPercent(tt.in); got != tt.want {
			t.Errorf("badPercent(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"/hello/path$with$!&'()*+,;=stuff", true},
		{"/users/(this|foo/profile)", false},
		{"/users/|foo/profile", false},
		{"/a b", false},
		{"/ä", false},
		{"/a:b@c~d", true},
	} {
		if got := rfc3986Path(tt.in); got != tt.want {
			t.Errorf("rfc3986Path(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
