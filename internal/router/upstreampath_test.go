package router

import "testing"

func TestUpstreamPath(t *testing.T) {
	tests := []struct {
		name               string
		base, req, matched string
		strip              bool
		want               string
	}{
		// The path_handling v0 rows of Kong's route documentation.
		{name: "v0 no strip", base: "/s", req: "/fv0/req", matched: "/fv0", want: "/s/fv0/req"},
		{name: "v0 strip", base: "/s", req: "/tv0/req", matched: "/tv0", strip: true, want: "/s/req"},
		{name: "v0 strip exact", base: "/s", req: "/tv0", matched: "/tv0", strip: true, want: "/s"},
		{name: "root base strip", base: "/", req: "/api/v1/users/7", matched: "/api/v1/users", strip: true, want: "/7"},
		{name: "root base strip exact", base: "/", req: "/api", matched: "/api", strip: true, want: "/"},
		{name: "root base no strip", base: "/", req: "/api/x", matched: "/api", want: "/api/x"},
		{name: "empty base", base: "", req: "/a/b", matched: "/a", strip: true, want: "/b"},
		{name: "slash base strip", base: "/s/", req: "/p/x", matched: "/p", strip: true, want: "/s/x"},
		{name: "slash base strip exact with slash", base: "/s/", req: "/p/", matched: "/p/", strip: true, want: "/s/"},
		{name: "slash base strip exact", base: "/s/", req: "/p", matched: "/p", strip: true, want: "/s"},
		{name: "slash base no strip", base: "/s/", req: "/p/x", matched: "/p", want: "/s/p/x"},
		{name: "trailing slash kept", base: "/s", req: "/p/", matched: "/p/", strip: true, want: "/s/"},
		{name: "prefix mid-segment", base: "/s", req: "/v1abc", matched: "/v1", strip: true, want: "/s/abc"},
		{name: "no paths strip", base: "/", req: "/foo", matched: "", strip: true, want: "/foo"},
		{name: "dot postfix", base: "/s", req: "/p..", matched: "/p", strip: true, want: "/s"},
		{name: "dot-dot postfix", base: "/s", req: "/p../x", matched: "/p", strip: true, want: "/s/x"},
		{name: "dot-dot params postfix", base: "/s", req: "/p..;/x", matched: "/p", strip: true, want: "/s/x"},
		{name: "dot-dot valued params postfix", base: "/s", req: "/p..;a=1/x", matched: "/p", strip: true, want: "/s/x"},
		{name: "dot params postfix", base: "/s", req: "/p.;/x", matched: "/p", strip: true, want: "/s/x"},
		{name: "encoded params postfix", base: "/s/", req: "/p..%3B/x", matched: "/p", strip: true, want: "/s/x"},
		{name: "final dot-dot params postfix", base: "/s", req: "/p..;", matched: "/p", strip: true, want: "/s"},
		{name: "slash base dot-dot params postfix", base: "/s/", req: "/p..;/x", matched: "/p", strip: true, want: "/s/x"},
		{name: "three dots kept", base: "/s", req: "/p...;/x", matched: "/p", strip: true, want: "/s/...;/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UpstreamPath(tt.base, tt.req, tt.matched, tt.strip); got != tt.want {
				t.Fatalf("UpstreamPath(%q, %q, %q) = %q, want %q", tt.base, tt.req, tt.matched, got, tt.want)
			}
		})
	}
}
