package router

import "testing"

// TestRouteInKongNormalFormMatchesEncodedRequest: Kong's normal form of a
// route path decodes characters that are neither reserved nor unreserved
// (the config refuses `/caf%C3%A9` and asks for `/café`), while the
// request keeps them encoded after NormalizePath; the route must still
// match, and strip the right prefix.
func TestRouteInKongNormalFormMatchesEncodedRequest(t *testing.T) {
	r := mustNew(t, []Route{{Paths: []string{"/café"}}, {Paths: []string{"/a b/c"}}, {Paths: []string{"/plain"}}})
	for _, tc := range []struct {
		raw     string
		want    int
		matched string
	}{
		{"/caf%C3%A9/menu", 0, "/caf%C3%A9"},
		{"/caf%c3%a9", 0, "/caf%C3%A9"},
		{"/a%20b/c/d", 1, "/a%20b/c"},
		{"/plain/x", 2, "/plain"},
	} {
		path, ok := NormalizePath(tc.raw)
		if !ok {
			t.Fatalf("NormalizePath(%q) refused", tc.raw)
		}
		var m Match
		if !r.Match(req("GET", "h", path), &m) || m.Route != tc.want || m.MatchedPath != tc.matched {
			t.Errorf("%s: matched route %d at %q, want route %d at %q", tc.raw, m.Route, m.MatchedPath, tc.want, tc.matched)
		}
	}
	if got := requestForm("/plain"); got != "/plain" {
		t.Errorf("requestForm copies a plain path: %q", got)
	}
}
