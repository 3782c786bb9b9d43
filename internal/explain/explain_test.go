package explain

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// cand is a candidate as the tests spell it: route name and reason.
type cand struct{ route, reason string }

func TestExplain(t *testing.T) {
	snap := compile(t, testConfig(t))
	tests := []struct {
		name     string
		req      Request
		route    string // "" for no match
		matched  string // Matched.MatchedPath
		captures map[string]string
		cands    []cand
		upstream string // Upstream.URL, "" when not proxied
		upHost   string
		status   int
		notes    []string // substrings of some note
	}{
		{
			name: "prefix strips into a service path", req: Request{Method: "GET", URL: "http://api.example.com/v1/users?page=2"},
			route: "v1-users", matched: "/v1/users",
			cands:    []cand{{"v1-catch-all", "longer prefix"}},
			upstream: "http://v1-users.internal:8080/api?page=2",
		},
		{
			name: "prefix strips, rest joined", req: Request{URL: "http://api.example.com/v1/things/x"},
			route: "v1-catch-all", matched: "/v1",
			upstream: "http://v1-catch-all.internal:8080/things/x",
		},
		{
			name: "regex_priority beats the other regex, regex beats prefixes", req: Request{Method: "GET", URL: "http://api.example.com/v1/users/7"},
			route: "user-by-id", matched: "/v1/users/7", captures: map[string]string{"id": "7"},
			cands: []cand{{"user-any", "regex_priority"}, {"v1-users", "regex"}, {"v1-catch-all", "regex"}},
			// strip_path false: the whole path is appended to the service path.
			upstream: "http://user-by-id.internal:8080/svc/v1/users/7",
		},
		{
			name: "regex strip leaves nothing: service path with trailing slash", req: Request{URL: "http://api.example.com/v1/users/bob"},
			route: "user-any", matched: "/v1/users/bob",
			cands:    []cand{{"v1-users", "regex"}, {"v1-catch-all", "regex"}},
			upstream: "http://user-any.internal:8080/people",
		},
		{
			name: "path normalised as the proxy does", req: Request{URL: "http://api.example.com/v1//users/./%37"},
			route: "user-by-id", matched: "/v1/users/7",
			upstream: "http://user-by-id.internal:8080/svc/v1/users/7",
			cands:    []cand{{"user-any", "regex_priority"}, {"v1-users", "regex"}, {"v1-catch-all", "regex"}},
		},
		{
			name: "plain host beats wildcard", req: Request{URL: "http://api.example.com/shop/cart"},
			route: "shop-plain", matched: "/shop",
			cands:    []cand{{"shop-wild", "plain host"}},
			upstream: "http://shop-plain.internal:8080/store/cart",
		},
		{
			name: "wildcard host with preserve_host", req: Request{URL: "http://www.example.com:8000/shop/cart"},
			route: "shop-wild", matched: "/shop",
			upstream: "http://www.example.com:8000/shop/cart", upHost: "www.example.com:8000",
		},
		{
			name: "Host header replaces the URL host", req: Request{URL: "http://127.0.0.1:8000/shop/cart", Header: http.Header{"host": {"API.example.com"}}},
			route: "shop-plain", cands: []cand{{"shop-wild", "plain host"}},
			upstream: "http://shop-plain.internal:8080/store/cart",
		},
		{
			name: "header route beats the prefix by criteria; balanced", req: Request{URL: "/v1/orders/1", Header: http.Header{"X-Tenant-Id": {"T1"}, "Host": {"api.example.com"}}},
			route: "tenant", matched: "/v1/orders",
			cands:    []cand{{"v1-catch-all", "more criteria"}},
			upstream: "http://orders-up/v1/orders/1", upHost: "orders-up",
		},
		{
			name: "more headers rank higher", req: Request{URL: "http://api.example.com/v1/orders/1", Header: http.Header{"x-tenant-id": {"t1"}, "x-beta": {"YES"}}},
			route:    "tenant-beta",
			cands:    []cand{{"tenant", "header count"}, {"v1-catch-all", "more criteria"}},
			upstream: "http://tenant-beta.internal:8080/v1/orders/1",
		},
		{
			name: "https-only over http answers 426", req: Request{URL: "http://api.example.com/secure"},
			route: "secure", status: 426, notes: []string{"https-only route over http: the proxy answers 426", "over https the request would be sent to http://secure.internal:8080/"},
		},
		{
			name: "https-only with a redirect code", req: Request{URL: "http://api.example.com/login?next=%2F", Header: http.Header{"X-Forwarded-Proto": {"https"}}},
			route: "login", status: 308, notes: []string{"redirects with 308 to https://api.example.com/login?next=%2F", "--trusted-ips"},
		},
		{
			name: "https-only over https is proxied", req: Request{URL: "https://api.example.com/secure/x"},
			route: "secure", upstream: "http://secure.internal:8080/x",
		},
		{
			name: "sni route over https with the right name", req: Request{URL: "https://secure.example.com/sni"},
			route: "sni-only", upstream: "http://secure.internal:8080/",
		},
		{
			name: "no match: method", req: Request{Method: "GET", URL: "http://api.example.com/admin"}, status: 404,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Explain(snap, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status {
				t.Errorf("status %d, want %d", r.Status, tt.status)
			}
			if tt.route == "" {
				if r.Matched != nil || r.NoMatch == nil {
					t.Fatalf("want no match, got %+v", r.Matched)
				}
				return
			}
			if r.Matched == nil {
				t.Fatalf("no match:\n%s", r.Text())
			}
			if r.Matched.Route.Name != tt.route {
				t.Errorf("matched %s, want %s\n%s", r.Matched.Route.Name, tt.route, r.Text())
			}
			if tt.matched != "" && r.Matched.MatchedPath != tt.matched {
				t.Errorf("matched path %q, want %q", r.Matched.MatchedPath, tt.matched)
			}
			if tt.captures != nil && !reflect.DeepEqual(r.Matched.NamedCaptures, tt.captures) {
				t.Errorf("captures %v, want %v", r.Matched.NamedCaptures, tt.captures)
			}
			var got []cand
			for _, c := range r.Candidates {
				got = append(got, cand{c.Route.Name, c.Reason})
				if want := "ranked below " + tt.route + " because: " + c.Reason; !strings.HasPrefix(c.Explanation, want) {
					t.Errorf("explanation %q, want prefix %q", c.Explanation, want)
				}
			}
			if !reflect.DeepEqual(got, tt.cands) {
				t.Errorf("candidates %v, want %v\n%s", got, tt.cands, r.Text())
			}
			switch {
			case tt.upstream == "" && r.Upstream != nil:
				t.Errorf("upstream %s, want none", r.Upstream.URL)
			case tt.upstream != "" && r.Upstream == nil:
				t.Errorf("no upstream, want %s\n%s", tt.upstream, r.Text())
			case tt.upstream != "" && r.Upstream.URL != tt.upstream:
				t.Errorf("upstream %s, want %s", r.Upstream.URL, tt.upstream)
			}
			if tt.upHost != "" && r.Upstream != nil && r.Upstream.Host != tt.upHost {
				t.Errorf("upstream host %s, want %s", r.Upstream.Host, tt.upHost)
			}
			all := strings.Join(r.Notes, "\n")
			for _, n := range tt.notes {
				if !strings.Contains(all, n) {
					t.Errorf("notes lack %q:\n%s", n, all)
				}
			}
		})
	}
}

func TestReasonDetails(t *testing.T) {
	snap := compile(t, testConfig(t))
	tests := []struct {
		name   string
		req    Request
		detail []string
	}{
		{"longer prefix", Request{URL: "http://a/v1/users"}, []string{"/v1/users is 9 chars, /v1 is 3"}},
		{"regex_priority", Request{URL: "http://a/v1/users/7"}, []string{"regex_priority 10 vs 0",
			`user-by-id's path ~/v1/users/(?<id>\d+)$ is a regex, v1-users has the prefix /v1/users`,
			`user-by-id's path ~/v1/users/(?<id>\d+)$ is a regex, v1-catch-all has the prefix /v1`}},
		{"plain host", Request{URL: "http://api.example.com/shop"}, []string{"shop-plain has only plain hosts (api.example.com), shop-wild has a wildcard host (*.example.com)"}},
		{"header count and criteria", Request{URL: "http://a/v1/orders", Header: http.Header{"X-Tenant-Id": {"t1"}, "X-Beta": {"true"}}},
			[]string{"tenant-beta checks 2 header names, tenant 1", "tenant-beta has 2 (headers, paths), v1-catch-all has 1 (paths)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Explain(snap, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range r.Candidates {
				got = append(got, c.ReasonDetail)
			}
			if !reflect.DeepEqual(got, tt.detail) {
				t.Errorf("details\n got %q\nwant %q", got, tt.detail)
			}
		})
	}
}

func TestSameRouteAndRouteID(t *testing.T) {
	snap := compile(t, `
_format_version: "3.0"
services:
- name: s
  url: http://s.internal
  routes:
  - name: multi
    paths: [/a, /a/b]
  - name: first
    paths: [/x]
  - name: second
    paths: [/x]
`)
	r, err := Explain(snap, Request{URL: "http://h/a/b/c"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Matched.Route.Name != "multi" || r.Matched.PathIndex != 1 || len(r.Candidates) != 1 {
		t.Fatalf("%s", r.Text())
	}
	c := r.Candidates[0]
	if !c.SameRoute || c.PathIndex != 0 || c.Reason != "longer prefix" ||
		c.Explanation != "ranked below its own path paths[1] /a/b because: longer prefix (/a/b is 4 chars, /a is 2)" {
		t.Errorf("candidate %+v", c)
	}
	r, err = Explain(snap, Request{URL: "http://h/x"})
	if err != nil {
		t.Fatal(err)
	}
	// Kong's ids from the names, computed by hand.
	if r.Matched.Route.Name != "second" || len(r.Candidates) != 1 || r.Candidates[0].Reason != "route id" ||
		r.Candidates[0].ReasonDetail != "equal priority; the higher id wins, as in Kong: second has id "+
			"8b279206-a0df-5670-a6de-b15957b6ee0b, first has id 2ccad8ae-af6b-53ef-97f7-ac8a362acfe1" {
		t.Errorf("%s", r.Text())
	}
}

func TestPlugins(t *testing.T) {
	snap := compile(t, testConfig(t))
	type pl struct{ name, scope, path, consumer string }
	tests := []struct {
		name      string
		req       Request
		want      []pl
		overrides map[string][]ConsumerOverride
		only      string // plugin that runs only for consumers
		note      string
	}{
		{
			name: "global then route+service", req: Request{URL: "http://a/v1/users"},
			want: []pl{{"cors", "global", "plugins[0]", ""}, {"request-transformer", "route+service", "plugins[1]", ""}},
		},
		{
			name: "route+service is more specific than the consumer's", req: Request{URL: "http://a/v1/users", Consumer: "alice"},
			want: []pl{{"cors", "global", "plugins[0]", ""}, {"request-transformer", "route+service", "plugins[1]", ""}},
		},
		{
			name: "service scope, consumer override listed", req: Request{URL: "http://a/v1/users/7"},
			want:      []pl{{"cors", "global", "plugins[0]", ""}, {"request-transformer", "service", "services[3].plugins[0]", ""}},
			overrides: map[string][]ConsumerOverride{"request-transformer": {{Consumer: "alice", Scope: "consumer", ConfigPath: "consumers[0].plugins[0]"}}},
		},
		{
			name: "consumer override applied", req: Request{URL: "http://a/v1/users/7", Consumer: "alice"},
			want: []pl{{"cors", "global", "plugins[0]", ""}, {"request-transformer", "consumer", "consumers[0].plugins[0]", "alice"}},
		},
		{
			name: "consumer-only plugin", req: Request{URL: "http://a/v1/users/bob"},
			want:      []pl{{"cors", "global", "plugins[0]", ""}, {"request-transformer", "", "", ""}},
			only:      "request-transformer",
			overrides: map[string][]ConsumerOverride{"request-transformer": {{Consumer: "alice", Scope: "consumer", ConfigPath: "consumers[0].plugins[0]"}}},
		},
		{
			name: "unknown consumer", req: Request{URL: "http://a/v1/users/bob", Consumer: "mallory"},
			want: []pl{{"cors", "global", "plugins[0]", ""}, {"request-transformer", "", "", ""}},
			only: "request-transformer", note: `consumer "mallory" is not in the config`,
			overrides: map[string][]ConsumerOverride{"request-transformer": {{Consumer: "alice", Scope: "consumer", ConfigPath: "consumers[0].plugins[0]"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Explain(snap, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []pl
			for _, p := range r.Plugins {
				got = append(got, pl{p.Name, p.Scope, p.ConfigPath, p.Consumer})
				if p.OnlyForConsumers != (p.Name == tt.only) {
					t.Errorf("%s: only_for_consumers %v", p.Name, p.OnlyForConsumers)
				}
				if want := tt.overrides[p.Name]; !reflect.DeepEqual(p.ConsumerOverrides, want) {
					t.Errorf("%s: overrides %+v, want %+v", p.Name, p.ConsumerOverrides, want)
				}
				wantPhases := []string{"access"}
				if p.Name == "cors" {
					wantPhases = []string{"access", "header_filter"}
				}
				if !reflect.DeepEqual(p.Phases, wantPhases) {
					t.Errorf("%s: phases %v", p.Name, p.Phases)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plugins\n got %v\nwant %v", got, tt.want)
			}
			if tt.note != "" && !strings.Contains(strings.Join(r.Notes, "\n"), tt.note) {
				t.Errorf("notes %q lack %q", r.Notes, tt.note)
			}
		})
	}
}

func TestNoMatch(t *testing.T) {
	snap := compile(t, testConfig(t))
	type miss struct {
		route  string
		failed []string
	}
	tests := []struct {
		name    string
		req     Request
		closest []miss
		detail  string
	}{
		{"method", Request{Method: "GET", URL: "http://a/admin/x"}, []miss{{"admin", []string{"methods"}}}, "method GET is not one of POST"},
		{"host", Request{URL: "http://other.org/shop"}, []miss{{"shop-plain", []string{"hosts"}}, {"shop-wild", []string{"hosts"}}},
			"host other.org matches none of api.example.com"},
		{"sni", Request{URL: "https://api.example.com/sni"}, []miss{{"sni-only", []string{"snis"}}}, "SNI api.example.com is not one of secure.example.com"},
		{"sni given", Request{URL: "https://127.0.0.1/sni", SNI: "other.example.com"}, []miss{{"sni-only", []string{"snis"}}}, "SNI other.example.com"},
		{"no sni over http", Request{URL: "http://secure.example.com/sni"}, []miss{{"sni-only", []string{"snis"}}}, "no SNI"},
		{"no path matches", Request{Method: "PUT", URL: "http://a/nothing"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Explain(snap, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if r.Matched != nil || r.NoMatch == nil || r.Status != 404 || r.NoMatch.Message != "no Route matched with those values" {
				t.Fatalf("want a 404:\n%s", r.Text())
			}
			var got []miss
			var details []string
			for _, c := range r.NoMatch.Closest {
				got = append(got, miss{c.Route.Name, c.Failed})
				details = append(details, c.Details...)
			}
			if !reflect.DeepEqual(got, tt.closest) {
				t.Errorf("closest %v, want %v", got, tt.closest)
			}
			if tt.detail != "" && !strings.Contains(strings.Join(details, "\n"), tt.detail) {
				t.Errorf("details %q lack %q", details, tt.detail)
			}
		})
	}
}

func TestNoMatchHeaders(t *testing.T) {
	snap := compile(t, `
_format_version: "3.0"
services:
- name: s
  url: http://s.internal
  routes:
  - name: tenant
    methods: [GET]
    headers:
      X-Tenant-Id: [t1, t2]
    paths: [/orders]
  - name: tenant-post
    methods: [POST]
    headers:
      X-Tenant-Id: [t1]
    paths: [/orders]
`)
	r, err := Explain(snap, Request{URL: "http://a/orders", Header: http.Header{"X-Tenant-Id": {"t3"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := r.NoMatch.Closest
	if len(c) != 2 || c[0].Route.Name != "tenant" || c[1].Route.Name != "tenant-post" ||
		!reflect.DeepEqual(c[1].Failed, []string{"methods", "headers"}) ||
		c[0].Details[0] != `header X-Tenant-Id is "t3" (want t1 or t2)` {
		t.Errorf("closest %+v", c)
	}
	r, _ = Explain(snap, Request{URL: "http://a/orders"})
	if d := r.NoMatch.Closest[0].Details[0]; d != "header X-Tenant-Id is missing (want t1 or t2)" {
		t.Errorf("detail %q", d)
	}
}

func TestRequestErrors(t *testing.T) {
	snap := compile(t, testConfig(t))
	tests := []struct {
		name, url, want string
		header          http.Header
	}{
		{name: "bad escape", url: "http://a/v1/%zz", want: "400 Bad request"},
		{name: "truncated escape", url: "http://a/v1/%4", want: "400 Bad request"},
		{name: "no scheme", url: "api.example.com/v1", want: "invalid URL"},
		{name: "bad scheme", url: "ftp://a/v1", want: "scheme must be http or https"},
		{name: "path without host", url: "/v1", want: "no host"},
		{name: "host with two ports", url: "/v1", header: http.Header{"Host": {"api.example.com:80:80"}}, want: "400 Bad request: the proxy rejects the Host"},
		{name: "empty", url: "", want: "URL is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Explain(snap, Request{URL: tt.url, Header: tt.header})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Explain(nil, Request{URL: "http://a/"}); err != ErrNoConfig {
		t.Errorf("nil snapshot: %v", err)
	}
}

func TestTextAndJSON(t *testing.T) {
	snap := compile(t, testConfig(t))
	r, err := Explain(snap, Request{Method: "GET", URL: "http://api.example.com/v1/users/7", Consumer: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	text := r.Text()
	for _, want := range []string{
		"GET http://api.example.com/v1/users/7\n",
		"matched  route user-by-id (paths[0] ~/v1/users/(?<id>\\d+)$, regex, matched /v1/users/7)  → service user-by-id\n",
		"captures id=7\n",
		"upstream GET http://user-by-id.internal:8080/svc/v1/users/7\n",
		"also matched, ranked below:\n  1. route user-any (~/v1/users/[^/]+$): regex_priority (regex_priority 10 vs 0)\n",
		"plugins, in order:\n  cors ",
		"[for consumer alice, replaces service services[3].plugins[0]]",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"request", "matched", "service", "upstream", "candidates", "plugins"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, raw)
		}
	}

	r, _ = Explain(snap, Request{URL: "http://a/admin"})
	if text := r.Text(); !strings.Contains(text, "no match: the proxy answers 404 \"no Route matched with those values\"") ||
		!strings.Contains(text, "route admin (/admin):\n      method GET is not one of POST") {
		t.Errorf("no-match text:\n%s", text)
	}
}
