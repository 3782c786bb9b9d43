package istio

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v4"

	"github.com/turnpikegw/turnpike/internal/importer/importertest"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestMutualGateway checks a MUTUAL server's CA (from the credential
// Secret's ca.crt, or from NAME-cacert as Istio reads it) becomes a
// ca_certificate and an mtls-auth plugin on the routes of the hosts the
// server takes, and only those; what Istio would refuse (no CA, a leaf as
// the CA) is warned and requires nothing.
func TestMutualGateway(t *testing.T) {
	year := time.Now().Add(365 * 24 * time.Hour)
	ca := importertest.NewCert(t, "client-ca", true, year, nil)
	srv := importertest.NewCert(t, "a.example.com", false, year, ca)
	gw := func(cred string) string {
		return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns}
spec:
  servers:
  - port: {number: 443, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: MUTUAL, credentialName: %s}
  - port: {number: 80, protocol: HTTP}
    hosts: [b.example.com]
---
`, cred)
	}
	vs := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %s, namespace: ns}
spec:
  hosts: [%s]
  gateways: [gw]
  http:
  - route: [{destination: {host: app, port: {number: 80}}}]
---
`
	vss := fmt.Sprintf(vs, "a", "a.example.com") + fmt.Sprintf(vs, "b", "b.example.com")
	secret := func(name string, data map[string]string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: ns}\ndata:\n", name)
		for k, v := range data {
			fmt.Fprintf(&b, "  %s: %s\n", k, b64(v))
		}
		return b.String() + "---\n"
	}
	for _, tc := range []struct {
		name, in, warning string
		mtls, deny        bool
	}{
		{"ca.crt in the credential", gw("creds") + vss + secret("creds", map[string]string{"tls.crt": srv.Cert, "tls.key": srv.Key, "ca.crt": ca.Cert}), "", true, false},
		{"a -cacert Secret", gw("creds") + vss + secret("creds", map[string]string{"tls.crt": srv.Cert, "tls.key": srv.Key}) +
			secret("creds-cacert", map[string]string{"cacert": ca.Cert}), "", true, false},
		{"no CA", gw("creds") + vss + secret("creds", map[string]string{"tls.crt": srv.Cert, "tls.key": srv.Key}),
			"Gateway ns/gw: spec.servers[0].tls.credentialName: MUTUAL: no ca.crt in Secret ns/creds nor in Secret ns/creds-cacert of the input: the routes of its hosts answer 503, as Istio does not serve it", false, true},
		{"a leaf as the CA", gw("creds") + vss + secret("creds", map[string]string{"tls.crt": srv.Cert, "tls.key": srv.Key, "ca.crt": srv.Cert}),
			"Gateway ns/gw: spec.servers[0].tls.credentialName: MUTUAL: Secret ns/creds ca.crt: certificate 1 (CN=a.example.com) is not a CA (no CA basic constraint): the routes of its hosts answer 503", false, true},
		{"no credentialName", gw(`""`) + vss,
			"Gateway ns/gw: spec.servers[0].tls.mode: MUTUAL without a credentialName (file-mounted CAs are not in the input): the routes of its hosts answer 503", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, warnings := run(t, tc.in)
			if tc.warning != "" && !strings.Contains(warnings, tc.warning) {
				t.Errorf("warnings:\n%s\nwant %s", warnings, tc.warning)
			}
			if tc.warning == "" && strings.Contains(warnings, "MUTUAL") {
				t.Errorf("unexpected warnings:\n%s", warnings)
			}
			if got := strings.Count(out, "name: mtls-auth"); got != map[bool]int{true: 1, false: 0}[tc.mtls] {
				t.Fatalf("%d mtls-auth plugins, want one on a.example.com's route when the CA is known:\n%s", got, out)
			}
			a, b := entityOf(out, "a.ns.0"), entityOf(out, "b.ns.0")
			if got := strings.Contains(a, "name: request-termination") && strings.Contains(a, "status_code: 503"); got != tc.deny {
				t.Errorf("a.example.com's route denied: %v, want %v:\n%s", got, tc.deny, out)
			}
			if strings.Contains(b, "request-termination") || strings.Contains(b, "mtls-auth") {
				t.Errorf("b.example.com's route (another server's) is not open:\n%s", out)
			}
			if !tc.mtls {
				return
			}
			if !strings.Contains(a, "name: mtls-auth") {
				t.Errorf("mtls-auth is not on a.example.com's route:\n%s", out)
			}
			if !strings.Contains(out, "ca_certificates:\n  - id: ") || !strings.Contains(out, "skip_consumer_lookup: true") {
				t.Errorf("no ca_certificates entity or skip_consumer_lookup:\n%s", out)
			}
		})
	}
}

// entityOf is the YAML of the first entity named name: a service with
// its routes, or a route without a service.
func entityOf(out, name string) string {
	i := strings.Index(out, "name: "+name+"\n")
	if i < 0 {
		return ""
	}
	rest := out[i+1:]
	if j := strings.Index(rest, "\n  - name: "); j >= 0 {
		rest = rest[:j]
	}
	if j := strings.Index(rest, "\n- name: "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// TestUpstreamTLS checks a DestinationRule's SIMPLE and MUTUAL TLS: https
// verified against the credential's ca.crt, the credential's pair sent as
// the client certificate for MUTUAL, insecureSkipVerify turning
// verification off, and the files on the proxy's disk warned.
func TestUpstreamTLS(t *testing.T) {
	year := time.Now().Add(365 * 24 * time.Hour)
	ca := importertest.NewCert(t, "upstream-ca", true, year, nil)
	client := importertest.NewCert(t, "gateway", false, year, ca)
	head := vsHead + "  - route: [{destination: {host: app, port: {number: 443}}}]\n---\n"
	dr := func(tls string) string {
		return "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: app, namespace: ns}\nspec:\n  host: app\n  trafficPolicy:\n    tls: " + tls + "\n---\n"
	}
	sec := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: up, namespace: ns}\ndata:\n  tls.crt: %s\n  tls.key: %s\n  ca.crt: %s\n",
		b64(client.Cert), b64(client.Key), b64(ca.Cert))
	for _, tc := range []struct {
		name, tls string
		want      []string
		warning   string
	}{
		{"SIMPLE with a CA", "{mode: SIMPLE, credentialName: up}", []string{"protocol: https", "tls_verify: true", "ca_certificates:\n      - "}, ""},
		{"MUTUAL", "{mode: MUTUAL, credentialName: up}", []string{"protocol: https", "tls_verify: true", "client_certificate:\n      id: "}, ""},
		{"insecureSkipVerify", "{mode: SIMPLE, credentialName: up, insecureSkipVerify: true}", []string{"protocol: https", "tls_verify: false"}, ""},
		{"files", "{mode: MUTUAL, clientCertificate: /etc/c.pem, privateKey: /etc/k.pem}", []string{"protocol: https"},
			"DestinationRule ns/app: spec.trafficPolicy.tls.clientCertificate: a file on the proxy: not imported (use credentialName)\n" +
				"DestinationRule ns/app: spec.trafficPolicy.tls.privateKey: a file on the proxy: not imported (use credentialName)"},
		{"subjectAltNames and caCrl", "{mode: SIMPLE, subjectAltNames: [a], caCrl: /etc/crl.pem}", []string{"protocol: https"},
			"DestinationRule ns/app: spec.trafficPolicy.tls.subjectAltNames: not imported: the certificate is checked against the host name\n" +
				"DestinationRule ns/app: spec.trafficPolicy.tls.caCrl: not imported: the certificate is not checked for revocation"},
		{"missing Secret", "{mode: SIMPLE, credentialName: nope}", []string{"protocol: https"},
			"DestinationRule ns/app: spec.trafficPolicy.tls.credentialName: Secret ns/nope is not in the input: not imported"},
		{"ISTIO_MUTUAL", "{mode: ISTIO_MUTUAL}", []string{"protocol: http\n"},
			"DestinationRule ns/app: spec.trafficPolicy.tls.mode: ISTIO_MUTUAL: the mesh's own certificates are not imported, plain HTTP is used"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, warnings := run(t, head+dr(tc.tls)+sec)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in\n%s", w, out)
				}
			}
			if tc.warning != "" && !strings.Contains(warnings, tc.warning) {
				t.Errorf("warnings:\n%s\nwant %s", warnings, tc.warning)
			}
		})
	}
}

// TestDuplicateKeepsFirst: a Secret, Gateway or VirtualService given
// twice is warned and the first copy kept (a second VirtualService's
// routes beside the first's would route what the first does not).
func TestDuplicateKeepsFirst(t *testing.T) {
	year := time.Now().Add(365 * 24 * time.Hour)
	first := importertest.NewCert(t, "a.example.com", false, year, nil)
	second := importertest.NewCert(t, "a.example.com", false, year, nil)
	sec := func(c *importertest.Cert) string {
		return fmt.Sprintf("---\napiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: ns}\ndata: {tls.crt: %s, tls.key: %s}\n", b64(c.Cert), b64(c.Key))
	}
	gw := "---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: ns}\nspec:\n  servers:\n  - port: {number: 443, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: {mode: SIMPLE, credentialName: creds}\n"
	vs := "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v, namespace: ns}\nspec:\n  hosts: [a.example.com]\n  gateways: [gw]\n  http:\n  - match: [{uri: {prefix: %s}}]\n    route: [{destination: {host: app, port: {number: 80}}}]\n"
	out, warnings := run(t, gw+gw+sec(first)+sec(second)+fmt.Sprintf(vs, "/first")+fmt.Sprintf(vs, "/second"))
	if !strings.Contains(out, "- /first") || strings.Contains(out, "/second") {
		t.Errorf("not the first VirtualService's routes only:\n%s", out)
	}
	if !strings.Contains(out, strings.ReplaceAll(first.Cert[30:90], "\n", `\n`)) || strings.Contains(out, strings.ReplaceAll(second.Cert[30:90], "\n", `\n`)) {
		t.Errorf("not the first Secret's certificate:\n%s", out)
	}
	for _, w := range []string{"Secret ns/creds: metadata.name: the input already has this object: this copy is ignored",
		"Gateway ns/gw: metadata.name: the input already has this object: this copy is ignored",
		"VirtualService ns/v: metadata.name: the input already has this object: this copy is ignored"} {
		if !strings.Contains(warnings, w) {
			t.Errorf("no %q in\n%s", w, warnings)
		}
	}
}

// TestMutualCAsPerHost: two MUTUAL servers verifying with different CAs
// keep them apart. A VirtualService taking both hosts gets a route per
// host, each with its own server's CA only; a wildcard host both servers
// take cannot tell them apart and is denied (503), warned.
func TestMutualCAsPerHost(t *testing.T) {
	year := time.Now().Add(365 * 24 * time.Hour)
	caA := importertest.NewCert(t, "ca-a", true, year, nil)
	caB := importertest.NewCert(t, "ca-b", true, year, nil)
	srv := importertest.NewCert(t, "a.example.com", false, year, caA)
	in := `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns}
spec:
  servers:
  - port: {number: 443, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: MUTUAL, credentialName: a}
  - port: {number: 443, protocol: HTTPS}
    hosts: [b.example.com]
    tls: {mode: MUTUAL, credentialName: b}
---
`
	for name, ca := range map[string]*importertest.Cert{"a": caA, "b": caB} {
		in += fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: ns}\ndata: {tls.crt: %s, tls.key: %s, ca.crt: %s}\n---\n",
			name, b64(srv.Cert), b64(srv.Key), b64(ca.Cert))
	}
	vs := "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v, namespace: ns}\nspec:\n  hosts: [%s]\n  gateways: [gw]\n  http:\n  - route: [{destination: {host: app, port: {number: 80}}}]\n"

	out, warnings := run(t, in+fmt.Sprintf(vs, "a.example.com, b.example.com"))
	var cfg struct {
		CACertificates []struct{ ID, Cert string } `yaml:"ca_certificates"`
		Services       []struct {
			Routes []struct {
				Hosts   []string
				Plugins []struct {
					Name   string
					Config map[string]any
				}
			}
		}
	}
	if err := yaml.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatal(err)
	}
	caOf := map[string]string{}
	for _, c := range cfg.CACertificates {
		caOf[c.ID] = c.Cert
	}
	got := map[string][]string{} // host -> the CAs its route accepts
	for _, s := range cfg.Services {
		for _, r := range s.Routes {
			for _, p := range r.Plugins {
				if p.Name != "mtls-auth" {
					continue
				}
				for _, h := range r.Hosts {
					for _, id := range p.Config["ca_certificates"].([]any) {
						got[h] = append(got[h], caOf[id.(string)])
					}
				}
			}
		}
	}
	want := map[string][]string{"a.example.com": {caA.Cert}, "b.example.com": {caB.Cert}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the CAs each host's route accepts:\n%v\nwant\n%v\n%s\n%s", got, want, out, warnings)
	}

	out, warnings = run(t, in+fmt.Sprintf(vs, `"*.example.com"`))
	if strings.Contains(out, "mtls-auth") || !strings.Contains(out, "status_code: 503") {
		t.Errorf("the wildcard host is not denied:\n%s", out)
	}
	const w = "VirtualService ns/v: spec.hosts: *.example.com: Gateway ns/gw spec.servers[0] and Gateway ns/gw spec.servers[1] verify its client certificates with different CAs, which one route cannot tell apart: its routes answer 503"
	if !strings.Contains(warnings, w) {
		t.Errorf("warnings:\n%s\nwant %s", warnings, w)
	}
}
