package istio

import (
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/importer/importertest"
)

// run imports a YAML stream and returns the config (checked as turnpike
// validate does) and the warnings, one a line.
func run(t *testing.T, stream string) (string, string) {
	t.Helper()
	var (
		cfg importer.Config
		ws  importer.Warnings
	)
	if err := Import(importer.Split([]byte(stream)), Options{}, &cfg, &ws); err != nil {
		t.Fatal(err)
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	importertest.Validate(t, out)
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.String() + "\n")
	}
	return string(out), b.String()
}

const vsHead = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns}
spec:
  servers:
  - port: {number: 80, protocol: HTTP}
    hosts: [a.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: ns}
spec:
  hosts: [a.example.com]
  gateways: [gw]
  http:
`

func TestRefused(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "no Istio object in the input"},
		{"not yaml", "a: [", "not YAML or JSON"},
		{"empty list", "apiVersion: v1\nkind: List\nitems: []\n", "no Istio object in the input"},
		{"bad type", vsHead + "  - route: 3\n", "VirtualService ns/v"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				cfg importer.Config
				ws  importer.Warnings
			)
			err := Import(importer.Split([]byte(tc.in)), Options{}, &cfg, &ws)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestUnknownFields: every field the importer has no place for is warned
// by its path; kubectl's metadata and status are not.
func TestUnknownFields(t *testing.T) {
	_, ws := run(t, `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: v, uid: x, resourceVersion: "1", managedFields: [{}]}
status: {observedGeneration: 1}
spec:
  hosts: [a.example.com]
  gateways: [gw]
  colour: blue
  http:
  - route:
    - destination: {host: svc, port: {number: 80}, zone: 1}
---
apiVersion: networking.istio.io/v1alpha2
kind: VirtualService
metadata: {name: old}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: s}
`)
	for _, want := range []string{
		"VirtualService default/v: spec.colour: unknown field, not imported\n",
		"VirtualService default/v: spec.http[0].route[0].destination.zone: unknown field, not imported\n",
		"VirtualService default/old: apiVersion: networking.istio.io/v1alpha2 is not v1, v1beta1 or v1alpha3: not imported\n",
		"Deployment default/d: not an Istio networking object (apps/v1): not imported\n",
		"Sidecar default/s: kind: not imported",
	} {
		if !strings.Contains(ws, want) {
			t.Errorf("missing warning %q in:\n%s", want, ws)
		}
	}
	if strings.Contains(ws, "metadata") || strings.Contains(ws, "status") {
		t.Errorf("kubectl's fields warned:\n%s", ws)
	}
}

// TestList: kubectl's `kind: List` is read as its items.
func TestList(t *testing.T) {
	out, ws := run(t, "apiVersion: v1\nkind: List\nitems:\n- "+strings.ReplaceAll(strings.TrimSpace(strings.Split(vsHead, "---\n")[1]), "\n", "\n  ")+
		"\n    - route:\n      - destination: {host: svc, port: {number: 80}}\n")
	if !strings.Contains(out, "name: v.ns.0") || !strings.Contains(ws, "Gateway ns/gw is not in the input") {
		t.Errorf("the List's VirtualService was not imported:\n%s\n%s", out, ws)
	}
}

// TestMatches: each HTTPMatchRequest becomes one Kong route with the
// same conditions, or is left out when Kong's router cannot express one.
func TestMatches(t *testing.T) {
	cases := []struct {
		name, match, want, warn string
	}{
		{"prefix", "uri: {prefix: /api}", "      - /api\n", ""},
		{"exact", "uri: {exact: /a.b}", `      - "~/a\\.b$"` + "\n", ""},
		{"regex", "uri: {regex: '/u/[0-9]+'}", `      - "~/(?:u/[0-9]+)$"` + "\n", ""},
		{"ignore case", "{uri: {prefix: /Api}, ignoreUriCase: true}", `      - "~/(?i)Api"` + "\n", ""},
		{"regex alternation", "uri: {regex: '/a|b'}", "", "match[0].uri: no Kong route equivalent"},
		{"regex without slash", "uri: {regex: 'a.*'}", "", "match[0].uri: no Kong route equivalent"},
		{"regex factored", "uri: {regex: '/a|/b'}", `      - "~/(?:[ab])$"` + "\n", ""},
		{"header prefix", "headers: {x-v: {prefix: 'v1.'}}", `            - "~*^v1\\."` + "\n", ""},
		{"header exact", "headers: {x-v: {exact: beta}}", "x-v:\n            - beta\n", ""},
		{"method", "method: {exact: post}", "methods:\n          - POST\n", ""},
		{"method regex", "method: {regex: 'GET|POST'}", "", "match[0].method: no Kong route equivalent"},
		{"authority", "authority: {exact: a.example.com}", "hosts:\n          - a.example.com\n", ""},
		{"authority outside", "authority: {exact: b.example.com}", "", "match[0].authority: outside the VirtualService's hosts: this match is not imported"},
		{"query", "queryParams: {v: {exact: '1'}}", "", "match[0].queryParams: no Kong route equivalent"},
		{"without headers", "withoutHeaders: {x: {exact: '1'}}", "", "match[0].withoutHeaders"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, ws := run(t, vsHead+"  - match:\n    - "+tc.match+"\n    route:\n    - destination: {host: svc, port: {number: 80}}\n")
			if tc.want != "" && !strings.Contains(out, tc.want) {
				t.Errorf("no %q in:\n%s", tc.want, out)
			}
			if tc.warn == "" && ws != "" || tc.warn != "" && !strings.Contains(ws, tc.warn) {
				t.Errorf("warnings %q, want %q", ws, tc.warn)
			}
			if tc.warn != "" && strings.Contains(out, "routes:") {
				t.Errorf("a refused match was imported:\n%s", out)
			}
		})
	}
}

// TestBalancers: DestinationRule load balancer settings on the upstream.
func TestBalancers(t *testing.T) {
	cases := []struct{ lb, want, warn string }{
		{"simple: ROUND_ROBIN", "algorithm: round-robin\n", ""},
		{"simple: LEAST_REQUEST", "algorithm: least-connections\n", ""},
		{"simple: RANDOM", "algorithm: round-robin\n", "RANDOM: Kong has no random balancer"},
		{"simple: PASSTHROUGH", "targets:", "PASSTHROUGH: not imported"},
		{"consistentHash: {httpHeaderName: x-user}", "hash_on: header\n    hash_on_header: x-user\n", ""},
		{"consistentHash: {httpCookie: {name: sid, path: /, ttl: 1h}}", "hash_on: cookie\n    hash_on_cookie: sid\n    hash_on_cookie_path: /\n", "ttl: Kong's hash cookie is a session cookie"},
		{"consistentHash: {useSourceIp: true}", "algorithm: consistent-hashing\n    hash_on: ip\n", ""},
		{"consistentHash: {httpQueryParameterName: u}", "hash_on: query_arg\n    hash_on_query_arg: u\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.lb, func(t *testing.T) {
			out, ws := run(t, vsHead+"  - route:\n    - destination: {host: svc, port: {number: 80}}\n"+
				"---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d, namespace: ns}\nspec:\n  host: svc\n  trafficPolicy:\n    loadBalancer: {"+tc.lb+"}\n")
			if !strings.Contains(out, tc.want) || !strings.Contains(out, "target: svc.ns.svc.cluster.local:80") {
				t.Errorf("no %q in:\n%s", tc.want, out)
			}
			if tc.warn == "" && ws != "" || tc.warn != "" && !strings.Contains(ws, tc.warn) {
				t.Errorf("warnings %q, want %q", ws, tc.warn)
			}
		})
	}
}

// TestEdgeOnly: mesh-only VirtualServices are left out, routes of a
// Gateway redirecting to HTTPS are HTTPS-only, a DestinationRule no route
// uses is warned.
func TestEdgeOnly(t *testing.T) {
	out, ws := run(t, `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns}
spec:
  servers:
  - port: {number: 80, protocol: HTTP}
    hosts: ["*/a.example.com"]
    tls: {httpsRedirect: true}
---
`+vsHead[strings.Index(vsHead, "---\n")+4:]+`  - route:
    - destination: {host: svc.other, port: {number: 80}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mesh}
spec:
  hosts: [svc]
  gateways: [mesh]
  http:
  - route:
    - destination: {host: svc}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: unused}
spec: {host: nowhere}
`)
	for _, want := range []string{"host: svc.other\n", "https_redirect_status_code: 301\n", "protocols:\n          - https\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	for _, want := range []string{
		"VirtualService default/mesh: spec.gateways: bound to no Gateway (mesh only)",
		"DestinationRule default/unused: spec.host: no imported route sends traffic to nowhere.default.svc.cluster.local",
	} {
		if !strings.Contains(ws, want) {
			t.Errorf("missing warning %q in:\n%s", want, ws)
		}
	}
}

// TestServiceDomain: short hosts are completed with the namespace and
// the domain given, dotted hosts kept.
func TestServiceDomain(t *testing.T) {
	var (
		cfg importer.Config
		ws  importer.Warnings
	)
	in := vsHead + "  - route:\n    - destination: {host: svc, port: {number: 80}}\n      weight: 50\n    - destination: {host: b.other, port: {number: 81}}\n      weight: 50\n"
	if err := Import(importer.Split([]byte(in)), Options{ServiceDomain: "svc.corp"}, &cfg, &ws); err != nil {
		t.Fatal(err)
	}
	out, _ := cfg.YAML()
	for _, want := range []string{"target: svc.ns.svc.corp:80\n", "target: b.other:81\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// TestAbortPercentage: an abort of a sample is not imported (answering
// every request instead would take the route down).
func TestAbortPercentage(t *testing.T) {
	out, ws := run(t, vsHead+"  - route:\n    - destination: {host: svc, port: {number: 80}}\n    fault: {abort: {httpStatus: 503, percentage: {value: 10}}}\n")
	if strings.Contains(out, "request-termination") || !strings.Contains(out, "host: svc.ns.svc.cluster.local") {
		t.Errorf("a 10%% abort became:\n%s", out)
	}
	if !strings.Contains(ws, "fault.abort.percentage: request-termination answers every request, not 10%") {
		t.Errorf("warnings: %s", ws)
	}
}

// FuzzImport: no input panics the importer, and whatever it imports
// passes the checks of turnpike validate.
func FuzzImport(f *testing.F) {
	f.Add(vsHead + "  - match:\n    - uri: {regex: '/a'}\n    route:\n    - destination: {host: svc}\n    redirect: {uri: /x}\n")
	f.Add("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec: {host: svc, trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3}}}\n")
	f.Fuzz(func(t *testing.T, in string) {
		var (
			cfg importer.Config
			ws  importer.Warnings
		)
		if Import(importer.Split([]byte(in)), Options{}, &cfg, &ws) == nil {
			out, err := cfg.YAML()
			if err != nil {
				t.Fatal(err)
			}
			importertest.Validate(t, out)
		}
	})
}

// TestRedirectRefusals: a redirect code that is no redirect leaves the
// route out (it would fail validation), and an abort beside a redirect is
// warned, not dropped in silence.
func TestRedirectRefusals(t *testing.T) {
	out, ws := run(t, vsHead+"  - redirect: {uri: /x, redirectCode: 999}\n")
	if strings.Contains(out, "999") || !strings.Contains(ws, "redirect.redirectCode: 999 is not a redirect status") {
		t.Errorf("redirectCode 999:\n%s\nwarnings: %s", out, ws)
	}
	_, ws = run(t, vsHead+"  - redirect: {uri: /x}\n    fault: {abort: {httpStatus: 503}}\n")
	if !strings.Contains(ws, "fault.abort: the route already answers with its redirect") {
		t.Errorf("warnings: %s", ws)
	}
}
