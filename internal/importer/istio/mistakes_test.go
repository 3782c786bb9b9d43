package istio

import (
	"strings"
	"testing"
)

// TestInputMistakes: mistakes in the input that the gateway would refuse
// in the output (it would fail validation as a whole) are warned at import,
// naming the field, and only what holds them is left out.
func TestInputMistakes(t *testing.T) {
	for _, tc := range []struct{ name, http, warning string }{
		{"host header match", "  - match: [{headers: {Host: {exact: a.example.com}}}]\n    route: [{destination: {host: app}}]\n",
			"spec.http[0].match[0].headers.Host: match the host with authority (Kong routes match it by hosts): this match is not imported"},
		{"header name with a space", "  - match: [{headers: {\"x bad\": {exact: v}}}]\n    route: [{destination: {host: app}}]\n",
			"spec.http[0].match[0].headers.x bad: not a header name: this match is not imported"},
		{"bad method", "  - match: [{method: {exact: \"GET /\"}}]\n    route: [{destination: {host: app}}]\n",
			"spec.http[0].match[0].method: \"GET /\" is not a method: this match is not imported"},
		{"bad header regex", "  - match: [{headers: {x-a: {regex: \"(\"}}}]\n    route: [{destination: {host: app}}]\n",
			"spec.http[0].match[0].headers.x-a: no Kong route equivalent: this match is not imported"},
		{"set header with a space", "  - headers: {request: {set: {\"x bad\": v, x-good: w}}}\n    route: [{destination: {host: app}}]\n",
			"spec.http[0].headers.request.set.x bad: not a header name: not imported"},
		{"remove header with a space", "  - headers: {response: {remove: [\"x bad\"]}}\n    route: [{destination: {host: app}}]\n",
			"spec.http[0].headers.response.remove[0]: not a header name: not imported"},
		{"CORS origin regex", "  - corsPolicy: {allowOrigins: [{regex: \"(\"}, {exact: https://a.example.com}]}\n    route: [{destination: {host: app}}]\n",
			"spec.http[0].corsPolicy.allowOrigins[0].regex: not a regular expression the gateway takes"},
		{"timeout past Kong's", "  - timeout: 1000h\n    route: [{destination: {host: app}}]\n",
			`spec.http[0].timeout: "1000h" is longer than Kong's longest timeout: 2147483646 ms`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, warnings := run(t, vsHead+tc.http)
			if !strings.Contains(warnings, tc.warning) {
				t.Errorf("warnings:\n%s\nwant %s", warnings, tc.warning)
			}
		})
	}
}

// TestNotPEM: a credential Secret whose tls.crt is not PEM (or whose key
// is not the certificate's) is warned; no certificate is written.
func TestNotPEM(t *testing.T) {
	in := "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: ns}\nspec:\n  servers:\n" +
		"  - port: {number: 443, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: {mode: SIMPLE, credentialName: creds}\n---\n" +
		"apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: ns}\nstringData: {tls.crt: not a certificate, tls.key: nor a key}\n"
	out, warnings := run(t, in)
	if strings.Contains(out, "certificates:") {
		t.Errorf("a certificate was written:\n%s", out)
	}
	if !strings.Contains(warnings, "Secret ns/creds: data: tls.crt and tls.key: tls: failed to find any PEM data in certificate input: no certificate imported") {
		t.Errorf("warnings:\n%s", warnings)
	}
}

// TestShadowed: Istio takes the first http route that matches, Kong the
// longest prefix; a later match an earlier one takes whole is warned and
// left out (in Kong it would take the earlier one's requests), one with
// a condition the earlier lacks, another host, or a match of the same
// http route is kept.
func TestShadowed(t *testing.T) {
	in := vsHead + `  - match: [{uri: {prefix: /api}, headers: {x-v: {exact: "2"}}}]
    route: [{destination: {host: v2, port: {number: 80}}}]
  - match: [{uri: {prefix: /}}, {uri: {prefix: /static}}]
    route: [{destination: {host: web, port: {number: 80}}}]
  - match: [{uri: {prefix: /api/v1}}]
    route: [{destination: {host: api, port: {number: 80}}}]
  - match: [{uri: {prefix: /api}, headers: {x-v: {exact: "2"}}, method: {exact: GET}}, {uri: {prefix: /api}, method: {exact: GET}}]
    route: [{destination: {host: get, port: {number: 80}}}]
`
	out, warnings := run(t, in)
	want := "VirtualService ns/v: spec.http[2].match[0]: spec.http[1].match[0] (prefix /) takes every request of this match (prefix /api/v1) first in Istio, where it gets none: not imported (Kong would route them here, by the longest prefix)\n" +
		"VirtualService ns/v: spec.http[3].match[0]: spec.http[0].match[0] (prefix /api) takes every request of this match (prefix /api) first in Istio, where it gets none: not imported (Kong would route them here, by the longest prefix)\n" +
		"VirtualService ns/v: spec.http[3].match[1]: spec.http[1].match[0] (prefix /) takes every request of this match (prefix /api) first in Istio, where it gets none: not imported (Kong would route them here, by the longest prefix)\n"
	if warnings != want {
		t.Errorf("warnings:\n%s\nwant\n%s", warnings, want)
	}
	for _, s := range []string{"/api/v1", "host: api.", "host: get.", "v.ns.3"} {
		if strings.Contains(out, s) {
			t.Errorf("%q of a shadowed match is imported:\n%s", s, out)
		}
	}
	for _, s := range []string{"- /static", "host: v2.", "host: web."} {
		if !strings.Contains(out, s) {
			t.Errorf("no %q:\n%s", s, out)
		}
	}
}

// TestShadowedAbort: a later route under an earlier fault abort is not
// imported, so the abort answers its requests as in Istio.
func TestShadowedAbort(t *testing.T) {
	out, _ := run(t, vsHead+`  - match: [{uri: {prefix: /}}]
    fault: {abort: {httpStatus: 403, percentage: {value: 100}}}
  - match: [{uri: {prefix: /admin}}]
    route: [{destination: {host: admin, port: {number: 80}}}]
`)
	if strings.Contains(out, "/admin") || strings.Contains(out, "host: admin.") || !strings.Contains(out, "status_code: 403") {
		t.Errorf("/admin is routed past the abort:\n%s", out)
	}
}

// TestHugeWeights: weights past Kong's 65535 are bounded before they are
// added (the same target twice), so no sum wraps around negative.
func TestHugeWeights(t *testing.T) {
	out, _ := run(t, vsHead+`  - route:
    - {destination: {host: a, port: {number: 80}}, weight: 9223372036854775807}
    - {destination: {host: a, port: {number: 80}}, weight: 9223372036854775807}
    - {destination: {host: b, port: {number: 80}}, weight: 1}
`)
	if !strings.Contains(out, "weight: 65535\n") {
		t.Errorf("want a's weight bounded to 65535:\n%s", out)
	}
}
