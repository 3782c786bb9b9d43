package ingress

import (
	"fmt"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/importer/importertest"
)

// TestCanariesOnOneBackend: two hosts route to one backend Service, each
// with a weighted canary, and a third path of that backend has none. Each
// canary's route gets a service and upstream of its own with its weights
// (summing to 100); the third path keeps the plain service.
func TestCanariesOnOneBackend(t *testing.T) {
	ing := func(name, host, canary string) string {
		ann := ""
		backend := "web"
		if canary != "" {
			ann = `nginx.ingress.kubernetes.io/canary: "true", nginx.ingress.kubernetes.io/canary-weight: "` + canary + `"`
			backend = "web-" + canary
		}
		return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %s, annotations: {%s}}
spec:
  rules:
  - host: %s
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: %s, port: {number: 80}}}}
---
`, name, ann, host, backend)
	}
	in := ing("a", "a.example.com", "") + ing("a-canary", "a.example.com", "20") +
		ing("b", "b.example.com", "") + ing("b-canary", "b.example.com", "30") + ing("c", "c.example.com", "")
	var cfg importer.Config
	var ws importer.Warnings
	if err := Import(doc(in), Options{}, &cfg, &ws); err != nil {
		t.Fatal(err)
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	importertest.Validate(t, out)
	weights := map[string]string{}
	for _, u := range cfg.Upstreams {
		total := 0
		var parts []string
		for _, tg := range u.Targets {
			total += *tg.Weight
			parts = append(parts, fmt.Sprintf("%s=%d", strings.SplitN(tg.Target, ".", 2)[0], *tg.Weight))
		}
		if total != 100 {
			t.Errorf("upstream %s: weights add to %d", u.Name, total)
		}
		weights[u.Name] = strings.Join(parts, ",")
	}
	want := map[string]string{"default.a.0.upstream": "web-20=20,web=80", "default.b.0.upstream": "web-30=30,web=70"}
	if fmt.Sprint(weights) != fmt.Sprint(want) {
		t.Errorf("upstreams %v, want %v\n%s", weights, want, out)
	}
	hosts := map[string]string{}
	for _, s := range cfg.Services {
		for _, r := range s.Routes {
			hosts[r.Hosts[0]] = s.Host
		}
	}
	if hosts["c.example.com"] != "web.default.svc" || hosts["a.example.com"] != "default.a.0.upstream" || hosts["b.example.com"] != "default.b.0.upstream" {
		t.Errorf("the routes' services go to %v\n%s", hosts, out)
	}
}

// TestHeaderCanaryWins: the main Ingress matches X-Canary itself
// (konghq.com/headers); the canary's route must match the canary's value,
// not the main route's, and the overlap is warned.
func TestHeaderCanaryWins(t *testing.T) {
	in := `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: main, annotations: {konghq.com/headers.x-canary: "no", konghq.com/headers.x-tenant: "a"}}
spec:
  rules:
  - host: a.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: canary
  annotations: {nginx.ingress.kubernetes.io/canary: "true", nginx.ingress.kubernetes.io/canary-by-header: X-Canary}
spec:
  rules:
  - host: a.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web-next, port: {number: 80}}}}
`
	var cfg importer.Config
	var ws importer.Warnings
	if err := Import(doc(in), Options{}, &cfg, &ws); err != nil {
		t.Fatal(err)
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	importertest.Validate(t, out)
	var found bool
	for _, s := range cfg.Services {
		for _, r := range s.Routes {
			if strings.HasSuffix(r.Name, ".canary") {
				found = true
				if fmt.Sprint(r.Headers) != "map[X-Canary:[always] x-tenant:[a]]" || s.Host != "web-next.default.svc" {
					t.Errorf("canary route headers %v to %s, want X-Canary: always and x-tenant: a to web-next", r.Headers, s.Host)
				}
			}
		}
	}
	if !found {
		t.Fatalf("no canary route:\n%s", out)
	}
	if len(ws) != 1 || !strings.Contains(ws[0].String(), `the main route also matches x-canary (no): the canary route matches "always" only`) {
		t.Errorf("warnings %v", ws)
	}
}
