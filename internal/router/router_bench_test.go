package router

import (
	"fmt"
	"testing"
)

func prefixRoutes(n int) []Route {
	routes := make([]Route, n)
	for i := range routes {
		routes[i] = Route{Paths: []string{fmt.Sprintf("/service-%d/api", i), fmt.Sprintf("/svc%d", i)}}
	}
	return routes
}

func benchMatch(b *testing.B, routes []Route, q *Request, wantRoute int) {
	r := mustNew(b, routes)
	var m Match
	ok := r.Match(q, &m)
	if ok != (wantRoute >= 0) || ok && m.Route != wantRoute {
		b.Fatalf("Match = %v route %d, want %d", ok, m.Route, wantRoute)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.Match(q, &m)
	}
}

func BenchmarkMatchPrefix1000Hit(b *testing.B) {
	benchMatch(b, prefixRoutes(1000), req("GET", "api.example.com", "/service-987/api/v1/orders/42"), 987)
}

func BenchmarkMatchPrefix1000Miss(b *testing.B) {
	benchMatch(b, prefixRoutes(1000), req("GET", "api.example.com", "/service-987/other/v1/orders/42"), -1)
}

// BenchmarkMatchHostsAndPrefixes1000 mixes routes bound to exact hosts,
// wildcard hosts and no host, all on overlapping paths.
func BenchmarkMatchHostsAndPrefixes1000(b *testing.B) {
	routes := make([]Route, 1000)
	for i := range routes {
		switch i % 4 {
		case 0:
			routes[i] = Route{Hosts: []string{fmt.Sprintf("h%d.example.com", i)}, Paths: []string{"/", "/api"}}
		case 1:
			routes[i] = Route{Hosts: []string{fmt.Sprintf("h%d.example.com", i)}, Paths: []string{fmt.Sprintf("/api/v%d", i)}, Methods: []string{"GET", "POST"}}
		case 2:
			routes[i] = Route{Hosts: []string{fmt.Sprintf("*.t%d.example.org", i)}, Paths: []string{"/api"}}
		default:
			routes[i] = Route{Paths: []string{fmt.Sprintf("/api/v%d", i)}}
		}
	}
	b.Run("exact-host", func(b *testing.B) {
		benchMatch(b, routes, req("GET", "H901.example.com:8000", "/api/v901/items"), 901)
	})
	b.Run("wildcard-host", func(b *testing.B) {
		benchMatch(b, routes, req("GET", "x.t902.example.org", "/api/v902/items"), 902)
	})
	b.Run("no-host", func(b *testing.B) {
		benchMatch(b, routes, req("GET", "unknown.example.net", "/api/v903/items"), 903)
	})
}

func BenchmarkMatchRegex100(b *testing.B) {
	routes := make([]Route, 100)
	for i := range routes {
		routes[i] = Route{Paths: []string{fmt.Sprintf(`~/r%d/users/(?<id>\d+)/orders/(\d+)$`, i)}}
	}
	b.Run("hit", func(b *testing.B) {
		benchMatch(b, routes, req("GET", "h", "/r77/users/123/orders/456"), 77)
	})
	b.Run("miss", func(b *testing.B) {
		benchMatch(b, routes, req("GET", "h", "/r77/users/abc/orders/456"), -1)
	})
	unprefixed := make([]Route, 100)
	for i := range unprefixed {
		unprefixed[i] = Route{Paths: []string{fmt.Sprintf(`~/(a|b)%d/users/(\d+)$`, i)}}
	}
	b.Run("no-literal-prefix-miss", func(b *testing.B) {
		benchMatch(b, unprefixed, req("GET", "h", "/a77/users/x"), -1)
	})
}

func BenchmarkNormalizePath(b *testing.B) {
	for _, bc := range []struct{ name, path string }{
		{"normal", "/api/v1/users/42/orders"},
		{"needs-work", "/api//v1/./users/%7ejohn/../%2e%2E/orders%2fx"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				NormalizePath(bc.path)
			}
		})
	}
}
