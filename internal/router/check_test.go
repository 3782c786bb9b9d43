package router

import (
	"reflect"
	"testing"
)

func TestCheckPerCriterion(t *testing.T) {
	r := mustNew(t, []Route{
		{
			Paths: []string{"/b", `~/a/\d+`, "/a"}, Hosts: []string{"*.example.com:8080", "api.example.org"},
			Methods: []string{"get"}, SNIs: []string{"api.example.org."},
			Headers: []Header{{"X-Tenant", []string{"acme"}}, {"X-Version", []string{"~*^v[12]$"}}},
		},
		{},
		{Methods: []string{"POST"}},
	})
	all := func(q *Request) *Request {
		q.Header.Set("X-Tenant", "ACME")
		q.Header.Set("X-Version", "V2")
		q.SNI = "api.example.org."
		return q
	}
	tests := []struct {
		name  string
		route int
		req   *Request
		want  RouteCheck
		match bool
	}{
		{
			name: "all pass, the first path in configuration order", req: all(req("GET", "API.example.org", "/a/42")),
			want:  RouteCheck{Path: 1, Paths: Pass, Methods: Pass, Hosts: Pass, Headers: Pass, SNIs: Pass},
			match: true,
		},
		{
			name: "prefix path, wildcard host with its port", req: all(req("GET", "x.example.com:8080", "/a/b")),
			want:  RouteCheck{Path: 2, Paths: Pass, Methods: Pass, Hosts: Pass, Headers: Pass, SNIs: Pass},
			match: true,
		},
		{
			name: "every criterion fails", req: req("PUT", "x.example.com:9090", "/c", "X-Version", "v3"),
			want: RouteCheck{Path: -1, Paths: Fail, Methods: Fail, Hosts: Fail, Headers: Fail, SNIs: Fail,
				HeaderFailed: []bool{true, true}},
		},
		{
			name: "one header fails", req: func() *Request {
				q := all(req("GET", "api.example.org", "/b"))
				q.Header.Set("X-Version", "v3")
				return q
			}(),
			want: RouteCheck{Path: 0, Paths: Pass, Methods: Pass, Hosts: Pass, Headers: Fail, SNIs: Pass,
				HeaderFailed: []bool{false, true}},
		},
		{
			name: "a route without criteria has no verdicts", route: 1, req: req("GET", "h", "/"),
			want: RouteCheck{Path: -1},
		},
		{
			name: "unset criteria", route: 2, req: req("POST", "h", "/"),
			want:  RouteCheck{Path: -1, Methods: Pass},
			match: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			all := r.Check(tc.req)
			if len(all) != 3 {
				t.Fatalf("Check gave %d routes, want 3", len(all))
			}
			got := all[tc.route]
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Check = %+v, want %+v", got, tc.want)
			}
			if got.Matches() != tc.match {
				t.Errorf("Matches = %v, want %v", got.Matches(), tc.match)
			}
			var m Match
			if ok := r.Match(tc.req, &m); ok != tc.match || ok && m.Route != tc.route {
				t.Errorf("Match = %v (route %d), Check says %v for route %d", ok, m.Route, tc.match, tc.route)
			}
		})
	}
}

// checkAgrees asserts that Check judges every route of r as Match does:
// it matches q exactly when MatchAll has a candidate of it, with the first
// of its matching paths.
func checkAgrees(t *testing.T, r *Router, q *Request, all []Candidate) {
	t.Helper()
	for i, c := range r.Check(q) {
		want, wantPath := false, -1
		for _, m := range all {
			if m.Route == i {
				if !want || m.PathIndex < wantPath {
					wantPath = m.PathIndex
				}
				want = true
			}
		}
		if c.Matches() != want {
			t.Fatalf("route %d: Check %+v matches=%v, MatchAll says %v", i, c, c.Matches(), want)
		}
		if want && c.Path != wantPath {
			t.Fatalf("route %d: Check path %d, MatchAll's first path %d", i, c.Path, wantPath)
		}
	}
}
