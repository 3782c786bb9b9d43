package explain

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/router"
)

// agreeRoutes are routes from the router's test tables, in one service.
const agreeRoutes = `
_format_version: "3.0"
services:
- name: s
  url: http://s.internal:8080
  enabled: true
  routes:
  - {name: host, hosts: [example.com]}
  - {name: host-post, hosts: [example.com], methods: [POST]}
  - {name: long-prefix, paths: [/a/very/long/prefix]}
  - {name: root-x, paths: [/], hosts: [x.com]}
  - {name: wildcard, hosts: ["*.example.com"], paths: [/long/path]}
  - {name: plain, hosts: [api.example.com], paths: [/]}
  - {name: suffix-wildcard, hosts: ["example.*:8080"], paths: [/p]}
  - {name: tenant, paths: [/t], headers: {x-tenant: [acme, ~*^beta-]}}
  - {name: tenant-version, paths: [/t], headers: {x-tenant: [acme], x-version: ["~*^v[12]$"]}}
  - {name: users, paths: ["~/users/(?<id>\\d+)$", /users/me]}
  - {name: sni, protocols: [https], snis: [api.example.org], paths: [/s]}
  - {name: methods, methods: [GET, PUT], paths: [/m]}
  - {name: port, hosts: ["example.com:08080"]}
`

// TestExplainAgreesWithRouter checks that explain's verdict on every route
// is what the router's Match makes of it, also for the routes of a
// disabled service, which the router leaves out and explain judges on its
// own.
func TestExplainAgreesWithRouter(t *testing.T) {
	snap := compile(t, agreeRoutes)
	off := compile(t, strings.Replace(agreeRoutes, "enabled: true", "enabled: false", 1))
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	reqs := []Request{
		{Method: "POST", URL: "http://example.com/"},
		{Method: "GET", URL: "http://EXAMPLE.com:8080/x"},
		{URL: "http://x.com/a/very/long/prefix/z"},
		{URL: "http://y.com/a/very/long/prefix/z"},
		{URL: "http://api.example.com/long/path"},
		{URL: "http://web.example.com/long/path"},
		{URL: "http://example.org:8080/p"},
		{URL: "http://example.org:8081/p"},
		{URL: "http://h/t", Header: h("X-Tenant", "ACME", "X-Version", "V1")},
		{URL: "http://h/t", Header: h("X-Tenant", "Beta-1")},
		{URL: "http://h/t", Header: h("X-Tenant", "gamma", "X-Version", "v3")},
		{URL: "http://h/users/42"},
		{URL: "http://h/users/me/x"},
		{URL: "http://h/users/abc"},
		{URL: "https://api.example.org/s"},
		{URL: "https://other.example.org/s"},
		{URL: "http://h/s", SNI: "API.example.org."},
		{Method: "PUT", URL: "http://h/m"},
		{Method: "put", URL: "http://h/m"},
		{URL: "http://h/nothing"},
	}
	for _, req := range reqs {
		rep, err := Explain(snap, req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
		q := &router.Request{Method: rep.Request.Method, Host: rep.Request.Host, Path: rep.Request.Path,
			SNI: rep.Request.SNI, Header: rep.Request.Header}
		all := snap.Router.MatchAll(q)
		var m router.Match
		if ok := snap.Router.Match(q, &m); ok != (rep.Matched != nil) || ok && rep.Matched.Route.Name != snap.Routes[m.Route].Info.Name {
			t.Errorf("%s %s: Match = %v route %d, explain matched %+v", q.Method, req.URL, ok, m.Route, rep.Matched)
		}
		on, disabled := &explainer{snap: snap}, &explainer{snap: off}
		for i, re := range snap.Model.Routes {
			want := slices.ContainsFunc(all, func(c router.Candidate) bool { return c.Route == i })
			c := on.check(i, re, q)
			miss, pathOK := nearMiss(re.Route, c, q)
			if got := pathOK && len(miss.Failed) == 0; got != want {
				t.Errorf("%s %s, route %s: explain says match=%v (%+v), Match says %v", q.Method, req.URL, re.Route.Name, got, miss, want)
			}
			if rep.NoMatch != nil && want {
				t.Errorf("%s %s: 404 report although route %s matches", q.Method, req.URL, re.Route.Name)
			}
			if dc := disabled.check(i, off.Model.Routes[i], q); !reflect.DeepEqual(dc, c) {
				t.Errorf("%s %s, route %s: disabled service's check %+v, enabled %+v", q.Method, req.URL, re.Route.Name, dc, c)
			}
		}
	}
}
