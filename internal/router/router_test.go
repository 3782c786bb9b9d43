package router

import (
	"errors"
	"net/http"
	"regexp/syntax"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// req builds a request; headers are name, value pairs.
func req(method, host, path string, headers ...string) *Request {
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Add(headers[i], headers[i+1])
	}
	return &Request{Method: method, Host: host, Path: path, Header: h}
}

func mustNew(t testing.TB, routes []Route) *Router {
	t.Helper()
	r, err := New(routes)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// matchRoute returns the matched route index, or -1, after checking that
// Match and the head of MatchAll agree, and Check with both for every
// route.
func matchRoute(t *testing.T, r *Router, q *Request) (int, Match) {
	t.Helper()
	var m Match
	ok := r.Match(q, &m)
	all := r.MatchAll(q)
	if ok != (len(all) > 0) {
		t.Fatalf("Match ok=%v but MatchAll found %d candidates", ok, len(all))
	}
	checkAgrees(t, r, q, all)
	if !ok {
		return -1, m
	}
	if diff := cmp.Diff(all[0].Match, m); diff != "" {
		t.Fatalf("Match and MatchAll[0] differ (-all +match):\n%s", diff)
	}
	return m.Route, m
}

type routeCase struct {
	name string
	req  *Request
	want int // route index, -1 for no match
	// wantPath, when set, is the expected MatchedPath.
	wantPath string
}

func runCases(t *testing.T, routes []Route, cases []routeCase) {
	t.Helper()
	r := mustNew(t, routes)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, m := matchRoute(t, r, tc.req)
			if got != tc.want {
				t.Fatalf("matched route %d, want %d", got, tc.want)
			}
			if tc.wantPath != "" && m.MatchedPath != tc.wantPath {
				t.Errorf("MatchedPath = %q, want %q", m.MatchedPath, tc.wantPath)
			}
		})
	}
}

func TestPriority(t *testing.T) {
	tests := []struct {
		name   string
		routes []Route
		cases  []routeCase
	}{
		{
			name: "more criteria beats fewer (Kong docs: hosts vs hosts+methods)",
			routes: []Route{
				{Hosts: []string{"example.com"}},
				{Hosts: []string{"example.com"}, Methods: []string{"POST"}},
			},
			cases: []routeCase{
				{name: "POST", req: req("POST", "example.com", "/"), want: 1},
				{name: "GET", req: req("GET", "example.com", "/"), want: 0},
			},
		},
		{
			name: "more criteria beats a longer prefix",
			routes: []Route{
				{Paths: []string{"/a/very/long/prefix"}},
				{Paths: []string{"/"}, Hosts: []string{"x.com"}},
			},
			cases: []routeCase{
				{name: "host set", req: req("GET", "x.com", "/a/very/long/prefix/z"), want: 1},
				{name: "other host", req: req("GET", "y.com", "/a/very/long/prefix/z"), want: 0},
			},
		},
		{
			name: "plain host beats wildcard",
			routes: []Route{
				{Hosts: []string{"*.example.com"}, Paths: []string{"/long/path"}},
				{Hosts: []string{"api.example.com"}, Paths: []string{"/"}},
			},
			cases: []routeCase{
				{name: "plain", req: req("GET", "api.example.com", "/long/path"), want: 1},
				{name: "wildcard only", req: req("GET", "web.example.com", "/long/path"), want: 0},
			},
		},
		{
			name: "plain host bit is lost when any host is a wildcard",
			routes: []Route{
				{Hosts: []string{"api.example.com", "*.example.org"}, Paths: []string{"/"}},
				{Hosts: []string{"api.example.com"}, Paths: []string{"/"}},
			},
			cases: []routeCase{
				{name: "both match", req: req("GET", "api.example.com", "/"), want: 1},
			},
		},
		{
			name: "plain host beats more headers",
			routes: []Route{
				{Hosts: []string{"*.x.com"}, Headers: []Header{{"A", []string{"1"}}, {"B", []string{"2"}}}},
				{Hosts: []string{"a.x.com"}, Headers: []Header{{"A", []string{"1"}}}},
			},
			cases: []routeCase{
				{name: "both match", req: req("GET", "a.x.com", "/", "A", "1", "B", "2"), want: 1},
			},
		},
		{
			name: "more headers beat fewer",
			routes: []Route{
				{Paths: []string{"/"}, Headers: []Header{{"X-A", []string{"1"}}}},
				{Paths: []string{"/"}, Headers: []Header{{"X-A", []string{"1"}}, {"X-B", []string{"2"}}}},
			},
			cases: []routeCase{
				{name: "both headers", req: req("GET", "h", "/x", "X-A", "1", "X-B", "2"), want: 1},
				{name: "one header", req: req("GET", "h", "/x", "X-A", "1"), want: 0},
			},
		},
		{
			name: "regex beats a longer prefix",
			routes: []Route{
				{Paths: []string{"/users/admin/settings"}},
				{Paths: []string{`~/users/\w+`}},
			},
			cases: []routeCase{
				{name: "both match", req: req("GET", "h", "/users/admin/settings"), want: 1, wantPath: "/users/admin"},
				{name: "prefix only", req: req("GET", "h", "/users/-/x"), want: -1},
			},
		},
		{
			name: "regex_priority orders regex routes",
			routes: []Route{
				{Paths: []string{`~/a/\d+`}},
				{Paths: []string{`~/a/.*`}, RegexPriority: 5},
			},
			cases: []routeCase{
				{name: "highest regex_priority", req: req("GET", "h", "/a/1"), want: 1},
			},
		},
		{
			// Kong's get_priority shifts a negative regex_priority into a
			// negative 32-bit number, which LuaJIT turns into 1<<63: the
			// route outranks every route of fewer than four criteria.
			name: "a negative regex_priority ranks first, as in Kong",
			routes: []Route{
				{Paths: []string{`~/a/.*`}, RegexPriority: 5},
				{Paths: []string{`~/a/[0-9]`}, RegexPriority: -1},
			},
			cases: []routeCase{
				{name: "negative regex_priority", req: req("GET", "h", "/a/1"), want: 1},
			},
		},
		{
			name: "regex_priority does not count for prefix paths",
			routes: []Route{
				{Paths: []string{"/a"}, RegexPriority: 100},
				{Paths: []string{"/a/b"}},
			},
			cases: []routeCase{
				{name: "longer prefix", req: req("GET", "h", "/a/b/c"), want: 1},
			},
		},
		{
			name: "Kong docs regex evaluation order",
			routes: []Route{
				{Paths: []string{`~/status/\d+`}},
				{Paths: []string{`~/version/\d+/status/\d+`}, RegexPriority: 6},
				{Paths: []string{"/version"}},
				{Paths: []string{"/version/any/"}},
			},
			cases: []routeCase{
				{name: "regex with priority 6", req: req("GET", "h", "/version/1/status/2"), want: 1},
				{name: "regex with priority 0", req: req("GET", "h", "/status/42"), want: 0},
				{name: "longer prefix", req: req("GET", "h", "/version/any/thing"), want: 3},
				{name: "shorter prefix", req: req("GET", "h", "/version/x"), want: 2},
				{name: "regex anchored at start", req: req("GET", "h", "/x/status/42"), want: -1},
			},
		},
		{
			name: "longest prefix wins (Kong docs /service vs /service/resource)",
			routes: []Route{
				{Paths: []string{"/service"}},
				{Paths: []string{"/service/resource"}},
			},
			cases: []routeCase{
				{name: "deep", req: req("GET", "h", "/service/resource/123"), want: 1, wantPath: "/service/resource"},
				{name: "shallow", req: req("GET", "h", "/service/other"), want: 0, wantPath: "/service"},
				{name: "prefix is a plain string prefix", req: req("GET", "h", "/services"), want: 0},
				{name: "none", req: req("GET", "h", "/x"), want: -1},
			},
		},
		{
			name: "route with several paths uses the priority of the path that matched",
			routes: []Route{
				{Paths: []string{"/a", "/abcdef"}},
				{Paths: []string{"/abc"}},
			},
			cases: []routeCase{
				{name: "long path of route 0", req: req("GET", "h", "/abcdefg"), want: 0, wantPath: "/abcdef"},
				{name: "route 1 beats short path", req: req("GET", "h", "/abcx"), want: 1, wantPath: "/abc"},
				{name: "short path of route 0", req: req("GET", "h", "/ax"), want: 0, wantPath: "/a"},
			},
		},
		{
			name: "equal priority without ids keeps configuration order",
			routes: []Route{
				{Paths: []string{"/x"}},
				{Paths: []string{"/x"}},
				{Paths: []string{"/y", "/x"}},
			},
			cases: []routeCase{
				{name: "first configured", req: req("GET", "h", "/x"), want: 0},
			},
		},
		{
			name: "path-less route competes with path routes by weight",
			routes: []Route{
				{Paths: []string{"/a"}},
				{Methods: []string{"GET"}, Hosts: []string{"h.com"}},
			},
			cases: []routeCase{
				{name: "two criteria", req: req("GET", "h.com", "/a"), want: 1, wantPath: ""},
				{name: "only path matches", req: req("PUT", "h.com", "/a"), want: 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runCases(t, tt.routes, tt.cases) })
	}
}

func TestHeaderTenantRouting(t *testing.T) {
	tenantA := Route{Paths: []string{"/api"}, Headers: []Header{{"X-Tenant-Id", []string{"tenant-1", "tenant-2"}}}}
	tenantB := Route{Paths: []string{"/api"}, Headers: []Header{{"X-Tenant-Id", []string{"tenant-3"}}}}
	fallback := Route{Paths: []string{"/api"}}

	t.Run("with fallback", func(t *testing.T) {
		runCases(t, []Route{fallback, tenantA, tenantB}, []routeCase{
			{name: "tenant-1", req: req("GET", "h", "/api/x", "X-Tenant-Id", "tenant-1"), want: 1},
			{name: "tenant-2 any case", req: req("GET", "h", "/api/x", "x-tenant-id", "TENANT-2"), want: 1},
			{name: "tenant-3", req: req("GET", "h", "/api", "X-Tenant-Id", "tenant-3"), want: 2},
			{name: "unknown tenant", req: req("GET", "h", "/api", "X-Tenant-Id", "tenant-9"), want: 0},
			{name: "no header", req: req("GET", "h", "/api"), want: 0},
			{name: "any of several values", req: req("GET", "h", "/api", "X-Tenant-Id", "nope", "X-Tenant-Id", "tenant-3"), want: 2},
			{name: "comma list is one value", req: req("GET", "h", "/api", "X-Tenant-Id", "tenant-1, tenant-3"), want: 0},
		})
	})
	t.Run("without fallback", func(t *testing.T) {
		runCases(t, []Route{tenantA, tenantB}, []routeCase{
			{name: "tenant-2", req: req("GET", "h", "/api", "X-Tenant-Id", "tenant-2"), want: 0},
			{name: "no header", req: req("GET", "h", "/api"), want: -1},
			{name: "other path", req: req("GET", "h", "/web", "X-Tenant-Id", "tenant-2"), want: -1},
		})
	})
}

func TestHeaderRegex(t *testing.T) {
	routes := []Route{
		{Headers: []Header{{"X-Version", []string{`~*^v\d+$`}}}},
		{Headers: []Header{{"User-Agent", []string{`~*curl`}}}},
	}
	runCases(t, routes, []routeCase{
		{name: "anchored regex", req: req("GET", "h", "/", "X-Version", "V12"), want: 0},
		{name: "anchored regex rejects", req: req("GET", "h", "/", "X-Version", "v12-beta"), want: -1},
		{name: "unanchored search", req: req("GET", "h", "/", "User-Agent", "my CURL/8.0"), want: 1},
	})
}

func TestPathVersioning(t *testing.T) {
	routes := []Route{
		{Paths: []string{"/v1"}},
		{Paths: []string{"/v2"}},
	}
	runCases(t, routes, []routeCase{
		{name: "v1", req: req("GET", "h", "/v1/users"), want: 0, wantPath: "/v1"},
		{name: "v2", req: req("GET", "h", "/v2/users"), want: 1, wantPath: "/v2"},
		{name: "v1 exact", req: req("GET", "h", "/v1"), want: 0},
		{name: "v10 matches v1 as Kong does", req: req("GET", "h", "/v10/users"), want: 0},
		{name: "v3", req: req("GET", "h", "/v3/users"), want: -1},
		{name: "root", req: req("GET", "h", "/"), want: -1},
	})
}

func TestHosts(t *testing.T) {
	routes := []Route{
		{Hosts: []string{"*.example.com"}},      // 0
		{Hosts: []string{"example.*"}},          // 1
		{Hosts: []string{"Exact.Example.COM"}},  // 2
		{Hosts: []string{"port.test:8080"}},     // 3
		{Hosts: []string{"port.test"}},          // 4
		{Hosts: []string{"[::1]"}},              // 5
		{Hosts: []string{"[2001:db8::1]:8443"}}, // 6
		{Hosts: []string{"*.wild.test:9000"}},   // 7
		{Hosts: []string{"a.multi", "b.multi"}}, // 8
		{Hosts: []string{"zero.test:08000"}},    // 9
		{Hosts: []string{"[::2]:0443"}},         // 10
	}
	runCases(t, routes, []routeCase{
		{name: "leftmost wildcard", req: req("GET", "api.example.com", "/"), want: 0},
		{name: "leftmost wildcard, several labels", req: req("GET", "a.b.example.com", "/"), want: 0},
		{name: "leftmost wildcard, with port", req: req("GET", "API.example.com:8000", "/"), want: 0},
		{name: "leftmost wildcard excludes apex", req: req("GET", "example.com", "/"), want: 1},
		{name: "rightmost wildcard", req: req("GET", "example.org", "/"), want: 1},
		{name: "rightmost wildcard, several labels", req: req("GET", "example.co.uk:80", "/"), want: 1},
		{name: "rightmost wildcard needs the dot", req: req("GET", "examples.org", "/"), want: -1},
		{name: "exact, case-insensitive", req: req("GET", "exact.example.com", "/"), want: 2},
		{name: "exact beats wildcard", req: req("GET", "EXACT.EXAMPLE.COM:443", "/"), want: 2},
		{name: "trailing dot", req: req("GET", "exact.example.com.", "/"), want: 2},
		{name: "host with port, same port", req: req("GET", "port.test:8080", "/"), want: 3},
		{name: "host with port, other port", req: req("GET", "port.test:9090", "/"), want: 4},
		{name: "host without port", req: req("GET", "port.test", "/"), want: 4},
		{name: "ipv6", req: req("GET", "[::1]:8000", "/"), want: 5},
		{name: "ipv6 without port", req: req("GET", "[::1]", "/"), want: 5},
		{name: "ipv6 with configured port", req: req("GET", "[2001:DB8::1]:8443", "/"), want: 6},
		{name: "ipv6 with wrong port", req: req("GET", "[2001:db8::1]:8444", "/"), want: -1},
		{name: "wildcard with port", req: req("GET", "x.wild.test:9000", "/"), want: 7},
		{name: "wildcard with wrong port", req: req("GET", "x.wild.test:9001", "/"), want: -1},
		{name: "any of several hosts", req: req("GET", "b.multi", "/"), want: 8},
		{name: "no host", req: req("GET", "", "/"), want: -1},
		{name: "configured port with a leading zero", req: req("GET", "zero.test:8000", "/"), want: 9},
		{name: "configured ipv6 port with a leading zero", req: req("GET", "[::2]:443", "/"), want: 10},
	})
}

func TestMethodsAndSNIs(t *testing.T) {
	routes := []Route{
		{Methods: []string{"get", "HEAD"}, Paths: []string{"/m"}},
		{SNIs: []string{"secure.example.com"}, Paths: []string{"/m"}},
		{Paths: []string{"/m"}},
	}
	runCases(t, routes, []routeCase{
		{name: "method configured lower-case", req: req("GET", "h", "/m"), want: 0},
		{name: "second method", req: req("HEAD", "h", "/m"), want: 0},
		{name: "other method", req: req("POST", "h", "/m"), want: 2},
		{name: "request method is case-sensitive", req: req("get", "h", "/m"), want: 2},
		{name: "sni", req: &Request{Method: "POST", Host: "h", Path: "/m", SNI: "secure.example.com"}, want: 1},
		{name: "sni trailing dot", req: &Request{Method: "POST", Host: "h", Path: "/m", SNI: "Secure.Example.com."}, want: 1},
		{name: "other sni", req: &Request{Method: "POST", Host: "h", Path: "/m", SNI: "other.example.com"}, want: 2},
		{name: "plain http has no sni", req: &Request{Method: "POST", Host: "secure.example.com", Path: "/m"}, want: 2},
	})
}

func TestRegexCaptures(t *testing.T) {
	routes := []Route{
		{Paths: []string{`~/users/(?<id>\d+)/posts/(?P<post>[a-z]+)(/(\d+))?`}},
		{Paths: []string{`~/files/(.*)`}},
		{Paths: []string{"/plain"}},
		{Paths: []string{`~/a|/b`}},
	}
	r := mustNew(t, routes)
	tests := []struct {
		name string
		path string
		want Match
	}{
		{
			name: "named and positional",
			path: "/users/42/posts/abc/7/rest",
			want: Match{Route: 0, MatchedPath: "/users/42/posts/abc/7",
				Captures:     []string{"/users/42/posts/abc/7", "42", "abc", "/7", "7"},
				CaptureNames: []string{"", "id", "post", "", ""}},
		},
		{
			name: "optional group not taken",
			path: "/users/1/posts/x",
			want: Match{Route: 0, MatchedPath: "/users/1/posts/x",
				Captures:     []string{"/users/1/posts/x", "1", "x", "", ""},
				CaptureNames: []string{"", "id", "post", "", ""},
				Unmatched:    []bool{false, false, false, true, true}},
		},
		{
			name: "greedy capture",
			path: "/files/a/b.txt",
			want: Match{Route: 1, MatchedPath: "/files/a/b.txt",
				Captures: []string{"/files/a/b.txt", "a/b.txt"}, CaptureNames: []string{"", ""}},
		},
		{
			name: "prefix has no captures",
			path: "/plain/x",
			want: Match{Route: 2, MatchedPath: "/plain"},
		},
		{
			name: "every alternative is anchored",
			path: "/b/x",
			want: Match{Route: 3, MatchedPath: "/b", Captures: []string{"/b"}, CaptureNames: []string{""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Match
			if !r.Match(req("GET", "h", tt.path), &m) {
				t.Fatal("no match")
			}
			if diff := cmp.Diff(tt.want, m); diff != "" {
				t.Errorf("Match (-want +got):\n%s", diff)
			}
		})
	}
	var m Match
	if r.Match(req("GET", "h", "/x/b"), &m) {
		t.Errorf("/x/b matched route %d; alternatives must be anchored", m.Route)
	}
}

func TestNoCriteriaNeverMatches(t *testing.T) {
	r := mustNew(t, []Route{{}, {RegexPriority: 3}})
	var m Match
	if r.Match(req("GET", "h", "/"), &m) {
		t.Errorf("matched route %d", m.Route)
	}
	if got := r.MatchAll(req("GET", "h", "/")); got != nil {
		t.Errorf("MatchAll = %v", got)
	}
}

func TestMatchAll(t *testing.T) {
	routes := []Route{
		{Paths: []string{"/", "/api/v1"}},
		{Paths: []string{`~/api/(v\d)`}, RegexPriority: 2},
		{Paths: []string{"/api"}, Methods: []string{"GET"}},
		{Paths: []string{"/other"}},
	}
	r := mustNew(t, routes)
	got := r.MatchAll(req("GET", "h", "/api/v1/x"))
	// Kong's regex bit (51) outranks the criteria count (bits 29-31).
	want := []Candidate{
		{Match: Match{Route: 1, PathIndex: 0, MatchedPath: "/api/v1", Captures: []string{"/api/v1", "v1"}, CaptureNames: []string{"", ""}},
			Priority: Priority{Weight: 1, Regex: true, RegexPriority: 2}},
		{Match: Match{Route: 2, PathIndex: 0, MatchedPath: "/api"}, Priority: Priority{Weight: 2, PathLength: 4}},
		{Match: Match{Route: 0, PathIndex: 1, MatchedPath: "/api/v1"}, Priority: Priority{Weight: 1, PathLength: 7}},
		{Match: Match{Route: 0, PathIndex: 0, MatchedPath: "/"}, Priority: Priority{Weight: 1, PathLength: 1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MatchAll (-want +got):\n%s", diff)
	}
	reasons := []string{}
	for i := 1; i < len(got); i++ {
		reasons = append(reasons, got[i-1].Priority.Reason(got[i].Priority))
	}
	if diff := cmp.Diff([]string{"regex", "more criteria", "longer prefix"}, reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
}

func TestPriorityCompare(t *testing.T) {
	base := Priority{Weight: 2, HeaderCount: 1, PathLength: 4}
	tests := []struct {
		name   string
		higher Priority
		lower  Priority
		reason string
	}{
		{name: "weight", higher: Priority{Weight: 3}, lower: Priority{Weight: 2, HeaderCount: 9}, reason: "more criteria"},
		{name: "plain host over weight", higher: Priority{Weight: 1, PlainHostOnly: true}, lower: Priority{Weight: 3, HeaderCount: 9}, reason: "plain host"},
		{name: "four criteria over plain host", higher: Priority{Weight: 4}, lower: Priority{Weight: 3, PlainHostOnly: true}, reason: "more criteria"},
		{name: "header count", higher: Priority{Weight: 2, HeaderCount: 2}, lower: base, reason: "header count"},
		{name: "regex", higher: Priority{Weight: 1, Regex: true}, lower: Priority{Weight: 3, HeaderCount: 1}, reason: "regex"},
		{name: "regex_priority", higher: Priority{Weight: 1, Regex: true, RegexPriority: 2}, lower: Priority{Weight: 1, Regex: true, RegexPriority: 1}, reason: "regex_priority"},
		{name: "negative regex_priority", higher: Priority{Weight: 1, Regex: true, RegexPriority: -1}, lower: Priority{Weight: 1, Regex: true, RegexPriority: 1}, reason: "regex_priority"},
		{name: "longer prefix", higher: Priority{Weight: 2, HeaderCount: 1, PathLength: 5}, lower: base, reason: "longer prefix"},
		{name: "tie", higher: base, lower: base, reason: "route id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tie := tt.reason == "route id"
			if c := tt.higher.Compare(tt.lower); (c > 0) == tie || (c == 0) != tie {
				t.Errorf("Compare = %d", c)
			}
			if c := tt.lower.Compare(tt.higher); (c < 0) == tie {
				t.Errorf("reverse Compare = %d", c)
			}
			if tt.higher.Less(tt.lower) {
				t.Error("higher.Less(lower) = true")
			}
			if got := tt.higher.Reason(tt.lower); got != tt.reason {
				t.Errorf("Reason = %q, want %q", got, tt.reason)
			}
		})
	}
}

// TestTiesByID: among entries of equal priority the higher id wins,
// wherever the route is in the file (Kong/atc-router keeps its matchers
// ordered by priority, then id, and tries them from the top); a route whose
// paths fall into groups of different priority competes with the id Kong
// gives each group (kong/router/transform.lua); routes without an id keep
// their order.
func TestTiesByID(t *testing.T) {
	const (
		low    = "0fffffff-ffff-4fff-bfff-ffffffffffff"
		high   = "e8fb37f1-102d-461e-9c51-6608a6bb8101"
		higher = "E8FB37F1-102D-461E-9C51-6608A6BB8102" // case does not matter
	)
	tests := []struct {
		name   string
		routes []Route
		req    *Request
		want   int
		group  int
	}{
		{name: "higher id listed last", req: req("GET", "h", "/x"), want: 1,
			routes: []Route{{ID: low, Paths: []string{"/x"}}, {ID: high, Paths: []string{"/x"}}}},
		{name: "higher id listed first", req: req("GET", "h", "/x"), want: 0,
			routes: []Route{{ID: higher, Paths: []string{"/x"}}, {ID: high, Paths: []string{"/x"}}}},
		{name: "no paths", req: req("GET", "h.com", "/"), want: 1,
			routes: []Route{{ID: high, Methods: []string{"GET"}}, {ID: higher, Hosts: []string{"h.*"}}}},
		{name: "without ids, configuration order", req: req("GET", "h", "/x"), want: 0,
			routes: []Route{{Paths: []string{"/x"}}, {Paths: []string{"/x"}}}},
		// high's /foo is its group 1 of 2, whose id 086b6591-... is below low.
		{name: "split route competes with its group's id", req: req("GET", "h", "/foo"), want: 1,
			routes: []Route{{ID: high, Paths: []string{"/foo", "/foobar"}}, {ID: low, Paths: []string{"/foo"}}}},
		{name: "the split route's other group", req: req("GET", "h", "/foobar"), want: 0, group: 2,
			routes: []Route{{ID: high, Paths: []string{"/foo", "/foobar"}}, {ID: low, Paths: []string{"/foo"}}}},
		{name: "same length: one group, the route id", req: req("GET", "h", "/foo"), want: 0,
			routes: []Route{{ID: high, Paths: []string{"/foo", "/bar"}}, {ID: low, Paths: []string{"/foo"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, tt.routes)
			var m Match
			if !r.Match(tt.req, &m) || m.Route != tt.want {
				t.Fatalf("matched route %d, want %d", m.Route, tt.want)
			}
			all := r.MatchAll(tt.req)
			if all[0].Route != tt.want || all[0].Group != tt.group {
				t.Errorf("MatchAll first %+v, want route %d group %d", all[0], tt.want, tt.group)
			}
		})
	}
	r := mustNew(t, []Route{{ID: high, Paths: []string{"/foo", "/foobar"}}})
	if got := r.MatchAll(req("GET", "h", "/foo"))[0].ID.String(); got != "086b6591-cafa-58be-b2dd-7640f294421f" {
		t.Errorf("group 1 id %s, want Kong's v5 of %q", got, high+"#1")
	}
}

func TestPriorityComponents(t *testing.T) {
	routes := []Route{{
		Paths:         []string{"/abc", `~/r`},
		Hosts:         []string{"a.com", "b.com:81"},
		Methods:       []string{"GET"},
		Headers:       []Header{{"X-A", []string{"1"}}, {"x-a", []string{"2"}}, {"X-B", []string{"~*z"}}},
		SNIs:          []string{"a.com"},
		RegexPriority: 7,
	}}
	r := mustNew(t, routes)
	var got []Priority
	for _, e := range r.entries {
		got = append(got, e.prio)
	}
	want := []Priority{
		{Weight: 5, PlainHostOnly: true, HeaderCount: 2, Regex: true, RegexPriority: 7},
		{Weight: 5, PlainHostOnly: true, HeaderCount: 2, PathLength: 4},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("priorities (-want +got):\n%s", diff)
	}
}

func TestHeaderCountCapped(t *testing.T) {
	var hs []Header
	for i := 0; i < 300; i++ {
		hs = append(hs, Header{Name: "X-H" + strings.Repeat("a", i), Values: []string{"v"}})
	}
	r := mustNew(t, []Route{{Headers: hs}})
	if got := r.entries[0].prio.HeaderCount; got != 255 {
		t.Errorf("HeaderCount = %d, want 255", got)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		route Route
		field string
		index int
		msg   string
	}{
		{name: "bad regex", route: Route{Paths: []string{"/ok", "~/a(b"}}, field: "paths", index: 1, msg: "invalid regex"},
		{name: "relative path", route: Route{Paths: []string{"api"}}, field: "paths", index: 0, msg: "must start with"},
		{name: "two wildcards", route: Route{Hosts: []string{"x", "*.a.*"}}, field: "hosts", index: 1, msg: "only one"},
		{name: "middle wildcard", route: Route{Hosts: []string{"a.*.com"}}, field: "hosts", index: 0, msg: "leftmost or rightmost"},
		{name: "bad port", route: Route{Hosts: []string{"a.com:http"}}, field: "hosts", index: 0, msg: "invalid port"},
		{name: "bare ipv6", route: Route{Hosts: []string{"::1"}}, field: "hosts", index: 0, msg: "brackets"},
		{name: "empty host", route: Route{Hosts: []string{""}}, field: "hosts", index: 0, msg: "empty host"},
		{name: "host header", route: Route{Headers: []Header{{"X", []string{"1"}}, {"Host", []string{"a"}}}}, field: "headers", index: 1, msg: "'host' header"},
		{name: "bad header regex", route: Route{Headers: []Header{{"X", []string{"~*("}}}}, field: "headers", index: 0, msg: "invalid regex"},
		{name: "no header values", route: Route{Headers: []Header{{"X", nil}}}, field: "headers", index: 0, msg: "no values"},
		{name: "empty method", route: Route{Methods: []string{"GET", ""}}, field: "methods", index: 1, msg: "empty method"},
		{name: "empty sni", route: Route{SNIs: []string{""}}, field: "snis", index: 0, msg: "empty SNI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New([]Route{{Paths: []string{"/fine"}}, tt.route})
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *CompileError", err)
			}
			if ce.Route != 1 || ce.Field != tt.field || ce.Index != tt.index || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %+v, want route 1 %s[%d] containing %q", ce, tt.field, tt.index, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "route 1: "+tt.field) {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
	_, err := New([]Route{{Paths: []string{"~/a("}}})
	var se *syntax.Error
	if !errors.As(err, &se) {
		t.Errorf("regex error should wrap the *syntax.Error, got %v", err)
	}
}

func TestLiteralPrefix(t *testing.T) {
	tests := []struct {
		name, expr, want string
	}{
		{name: "plain", expr: "/users", want: "/users"},
		{name: "class stops", expr: `/users/\d+`, want: "/users/"},
		{name: "capture of literal continues", expr: `/(api)/v\d`, want: "/api/v"},
		{name: "case fold stops", expr: `(?i)/api`, want: ""},
		{name: "quantifier stops", expr: `/ab*`, want: "/a"},
		{name: "alternation keeps common prefix", expr: `/foo|/bar`, want: "/"},
		{name: "leading anchor", expr: `^/x`, want: "/x"},
		{name: "dot", expr: `/a.b`, want: "/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := literalPrefix(tt.expr); got != tt.want {
				t.Errorf("literalPrefix(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

// TestIndexAgreesWithScan checks the indexed Match against a plain scan of
// the ranked entries over a mixed configuration.
func TestIndexAgreesWithScan(t *testing.T) {
	var routes []Route
	hosts := []string{"a.com", "b.com:8080", "*.c.com", "d.*", "A.com", "*.c.com:8080", "d.*:81", "[::1]", "*.y.c.com"}
	paths := []string{"/", "/a", "/ab", "/abc", "/a/b", `~/a/\d+`, `~/(x|y)`, `~/`, "/x/y/z"}
	for i := 0; i < 200; i++ {
		rt := Route{RegexPriority: i % 3}
		if i%2 == 0 {
			rt.Paths = []string{paths[i%len(paths)], paths[(i/3)%len(paths)]}
		}
		if i%3 != 0 {
			rt.Hosts = []string{hosts[i%len(hosts)]}
			if i%7 == 0 {
				rt.Hosts = append(rt.Hosts, hosts[(i+1)%len(hosts)])
			}
		}
		if i%5 == 0 {
			rt.Methods = []string{"GET"}
		}
		if i%11 == 0 {
			rt.Headers = []Header{{"X-K", []string{"v"}}}
		}
		routes = append(routes, rt)
	}
	r := mustNew(t, routes)
	reqHosts := []string{"a.com", "A.COM:1", "b.com:8080", "b.com", "x.c.com", "d.org", "zzz", "[::1]:80",
		"x.c.com:8080", "D.org:81", "x.Y.c.com", "c.com", "d.", ""}
	reqPaths := []string{"/", "/a", "/ab", "/abc/d", "/a/1", "/a/b", "/x", "/y/z", "/x/y/z/w", "/q"}
	for _, h := range reqHosts {
		for _, p := range reqPaths {
			for _, method := range []string{"GET", "POST"} {
				q := req(method, h, p, "X-K", "V")
				var m Match
				ok := r.Match(q, &m)
				all := r.MatchAll(q)
				if ok != (len(all) > 0) || ok && (all[0].Route != m.Route || all[0].PathIndex != m.PathIndex) {
					t.Fatalf("%s %s %s: Match=%v %+v, scan=%v", method, h, p, ok, m, all)
				}
			}
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	r := mustNew(t, []Route{
		{Paths: []string{"/a/b"}, Hosts: []string{"Example.com"}, Headers: []Header{{"X-T", []string{"1", "~*^x"}}}},
		{Paths: []string{"/a"}, Methods: []string{"GET"}, Hosts: []string{"*.example.com"}},
		{Paths: []string{"/a"}, Hosts: []string{"example.com:8080"}},
		{Paths: []string{`~/never/\d+`}},
	})
	reqs := []*Request{
		req("GET", "EXAMPLE.com:8080", "/a/b/c", "X-T", "xyz"),
		req("GET", "www.example.com", "/a/x"),
		req("GET", "nope", "/a/x"),
	}
	for _, q := range reqs {
		var m Match
		if n := testing.AllocsPerRun(100, func() { r.Match(q, &m) }); n != 0 {
			t.Errorf("Match(%s %s) allocates %v times", q.Host, q.Path, n)
		}
	}
}
