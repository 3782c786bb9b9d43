package pathsafe

import "testing"

func TestUpstream(t *testing.T) {
	tests := []struct {
		path                      string
		trusted                   int
		allowSlashes, allowParams bool
		want                      bool
	}{
		{path: "/api/secret", want: true},
		{path: "/api/..;/secret"},
		{path: "/api/.;/secret"},
		{path: "/api/..;x=1/secret"},
		{path: "/api/%2e%2E;/secret"},
		{path: "/api/..%3b/secret"},
		{path: "/api/../secret"},
		{path: "/api/./secret"},
		{path: "/api/%2e%2e/secret"},
		{path: "/api/.."},
		{path: "/api/;x/secret", want: true},
		{path: "/api/a%2Fb"},
		{path: "/api/a%5cb"},
		{path: `/api/a\b`},
		{path: "/api/..;/secret", allowParams: true, want: true},
		{path: "/api/;x/secret", allowParams: true, want: true},
		{path: "/api/../secret", allowParams: true},
		{path: "/api/a%2Fb", allowSlashes: true, want: true},
		{path: "/api/;jsessionid=1", want: true},
		{path: "/api/ok;v=1/x", want: true},
		{path: "/api/.well-known/x", want: true},
		{path: "/api/.../x", want: true},
		{path: "/api/a..;/x", want: true},
		{path: "/", want: true},
		{path: "/api//x", want: true},
		// The service's own path is the operator's.
		{path: "/a/../api/x", trusted: len("/a/../api"), want: true},
		{path: "/a%2Fb/x", trusted: len("/a%2Fb"), want: true},
		{path: "/api/../x", trusted: len("/api/"), want: false},
		// A segment that only starts in the service path is checked.
		{path: "/api..;/x", trusted: len("/api"), want: true},
		{path: "/a/..;/x", trusted: len("/a/."), want: false},
	}
	for _, tt := range tests {
		if got := Upstream(tt.path, tt.trusted, tt.allowSlashes, tt.allowParams); got != tt.want {
			t.Errorf("Upstream(%q, %d, %v, %v) = %v, want %v", tt.path, tt.trusted, tt.allowSlashes, tt.allowParams, got, tt.want)
		}
	}
}
