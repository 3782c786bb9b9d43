package ingress

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v4"

	"github.com/turnpikegw/turnpike/internal/importer/importertest"
)

// TestAuthTLS checks auth-tls-secret: the Secret's ca.crt becomes
// ca_certificates and an mtls-auth on the routes (verify-client on, its
// default); off asks nothing; a Secret missing or holding no CA denies
// the routes (503) as ingress-nginx does rather than leave them open; the
// other auth-tls annotations are warned.
func TestAuthTLS(t *testing.T) {
	year := time.Now().Add(365 * 24 * time.Hour)
	ca := importertest.NewCert(t, "client-ca", true, year, nil)
	leaf := importertest.NewCert(t, "leaf", false, year, ca)
	secret := func(pem string) string {
		return "---\napiVersion: v1\nkind: Secret\nmetadata: {name: ca, namespace: default}\ndata:\n  ca.crt: " +
			base64.StdEncoding.EncodeToString([]byte(pem)) + "\n"
	}
	const sec = `nginx.ingress.kubernetes.io/auth-tls-secret: default/ca`
	for _, tc := range []struct {
		name, annotations, secret string
		want                      []string // in the output
		not                       []string
		warning                   string
	}{
		{"on", sec, secret(ca.Cert), []string{"name: mtls-auth", "skip_consumer_lookup: true", "ca_certificates:\n  - id: "}, []string{"request-termination"}, ""},
		{"explicit on", sec + `, nginx.ingress.kubernetes.io/auth-tls-verify-client: "on"`, secret(ca.Cert), []string{"name: mtls-auth"}, nil, ""},
		{"off", sec + `, nginx.ingress.kubernetes.io/auth-tls-verify-client: "off"`, secret(ca.Cert), nil, []string{"mtls-auth", "ca_certificates"}, ""},
		{"optional", sec + `, nginx.ingress.kubernetes.io/auth-tls-verify-client: optional`, secret(ca.Cert), nil, []string{"mtls-auth"},
			`nginx.ingress.kubernetes.io/auth-tls-verify-client: "optional" is not imported (on and off are): client certificates are not asked for`},
		{"unknown verify-client", sec + `, nginx.ingress.kubernetes.io/auth-tls-verify-client: "ON"`, secret(ca.Cert), []string{"name: mtls-auth"}, nil,
			`nginx.ingress.kubernetes.io/auth-tls-verify-client: "ON" is not on, off, optional or optional_no_ca: on, as ingress-nginx takes it`},
		{"verify-client true", sec + `, nginx.ingress.kubernetes.io/auth-tls-verify-client: "true"`, secret(ca.Cert), []string{"name: mtls-auth"}, nil,
			`"true" is not on, off, optional or optional_no_ca: on`},
		{"no Secret", sec, "", []string{"name: request-termination", "status_code: 503"}, []string{"mtls-auth"},
			"nginx.ingress.kubernetes.io/auth-tls-secret: Secret default/ca is not in the input: the routes answer 503, as ingress-nginx denies the location"},
		{"a leaf as the CA", sec, secret(leaf.Cert), []string{"status_code: 503"}, []string{"mtls-auth", "ca_certificates"},
			"is not a CA (no CA basic constraint): the routes answer 503"},
		{"depth", sec + `, nginx.ingress.kubernetes.io/auth-tls-verify-depth: "2"`, secret(ca.Cert), []string{"name: mtls-auth"}, nil,
			"nginx.ingress.kubernetes.io/auth-tls-verify-depth: not imported"},
		{"pass-certificate", sec + `, nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream: "true"`, secret(ca.Cert), []string{"name: mtls-auth"}, nil,
			"nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream: not imported: the certificate is not sent in ssl-client-cert"},
		{"error-page", sec + `, nginx.ingress.kubernetes.io/auth-tls-error-page: "https://e.example.com/"`, secret(ca.Cert), []string{"name: mtls-auth"}, nil,
			"nginx.ingress.kubernetes.io/auth-tls-error-page: not imported: a refused certificate is answered by mtls-auth (401)"},
		{"match-cn", sec + `, nginx.ingress.kubernetes.io/auth-tls-match-cn: "CN=client1"`, secret(ca.Cert), []string{"name: request-termination", "status_code: 503"}, []string{"mtls-auth"},
			`nginx.ingress.kubernetes.io/auth-tls-match-cn: "CN=client1": the subject of a client certificate cannot be matched: the routes answer 503`},
		{"match-cn with verify off", sec + `, nginx.ingress.kubernetes.io/auth-tls-verify-client: "off", nginx.ingress.kubernetes.io/auth-tls-match-cn: "CN=client1"`,
			secret(ca.Cert), []string{"status_code: 503"}, []string{"mtls-auth"}, `"CN=client1": the subject of a client certificate cannot be matched`},
		{"match-cn without CN=", sec + `, nginx.ingress.kubernetes.io/auth-tls-match-cn: "client1"`, secret(ca.Cert), []string{"name: mtls-auth"}, []string{"request-termination"},
			`nginx.ingress.kubernetes.io/auth-tls-match-cn: "client1" has no CN=: ignored, as ingress-nginx does`},
		{"without the secret", `nginx.ingress.kubernetes.io/auth-tls-verify-client: "on"`, "", nil, []string{"mtls-auth"},
			"nginx.ingress.kubernetes.io/auth-tls-verify-client: without auth-tls-secret: ignored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, warns := importertest.Run(t, doc(ingressWith(tc.annotations, "Prefix", "/")+tc.secret), with(Options{}))
			importertest.Validate(t, out)
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("no %q in\n%s", w, out)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(string(out), w) {
					t.Errorf("%q in\n%s", w, out)
				}
			}
			if tc.warning != "" && !strings.Contains(warns, tc.warning) {
				t.Errorf("warnings:\n%s\nwant %s", warns, tc.warning)
			}
			if tc.warning == "" && strings.Contains(warns, "auth-tls") {
				t.Errorf("unexpected warnings:\n%s", warns)
			}
		})
	}
}

// TestAuthTLSStripsClientHeaders: with auth-tls-secret, ingress-nginx
// overwrites ssl-client-verify, -subject-dn, -issuer-dn (and
// ssl-client-cert) whatever verify-client says, so the routes remove
// the client's; a request-transformer of rewrite-target or a KongPlugin
// on the same routes keeps its own config beside the removal.
func TestAuthTLSStripsClientHeaders(t *testing.T) {
	year := time.Now().Add(365 * 24 * time.Hour)
	ca := importertest.NewCert(t, "client-ca", true, year, nil)
	secret := "---\napiVersion: v1\nkind: Secret\nmetadata: {name: ca, namespace: default}\ndata:\n  ca.crt: " +
		base64.StdEncoding.EncodeToString([]byte(ca.Cert)) + "\n"
	const (
		sec = `nginx.ingress.kubernetes.io/auth-tls-secret: default/ca`
		kp  = "---\napiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: rt, namespace: default}\nplugin: request-transformer\n" +
			"config: {remove: {headers: [x-internal]}, add: {headers: [\"x-b:1\"]}}\n"
	)
	strip := []string{"ssl-client-cert", "ssl-client-issuer-dn", "ssl-client-subject-dn", "ssl-client-verify"}
	for _, tc := range []struct {
		name, annotations, extra string
		keep                     []string // the transformer's other config
	}{
		{"on", sec, "", nil},
		{"off", sec + `, nginx.ingress.kubernetes.io/auth-tls-verify-client: "off"`, "", nil},
		{"optional", sec + `, nginx.ingress.kubernetes.io/auth-tls-verify-client: optional`, "", nil},
		{"rewrite-target", sec + `, nginx.ingress.kubernetes.io/rewrite-target: /x`, "", []string{"uri: /x"}},
		{"a KongPlugin", sec + `, konghq.com/plugins: rt`, kp, []string{"x-internal", "x-b:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := importertest.Run(t, doc(ingressWith(tc.annotations, "Prefix", "/")+secret+tc.extra), with(Options{}))
			importertest.Validate(t, out)
			var cfg struct {
				Services []struct {
					Routes []struct {
						Plugins []struct {
							Name   string
							Config map[string]any
						}
					}
				}
			}
			if err := yaml.Unmarshal(out, &cfg); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, s := range cfg.Services {
				for _, r := range s.Routes {
					for _, p := range r.Plugins {
						if p.Name != "request-transformer" {
							continue
						}
						n++
						rm, _ := p.Config["remove"].(map[string]any)
						hs := fmt.Sprint(rm["headers"])
						for _, h := range strip {
							if !strings.Contains(hs, h) {
								t.Errorf("%s is not removed: remove.headers %s", h, hs)
							}
						}
					}
				}
			}
			if n != 1 {
				t.Errorf("%d request-transformers on the route, want 1:\n%s", n, out)
			}
			for _, k := range tc.keep {
				if !strings.Contains(string(out), k) {
					t.Errorf("the transformer's %q is lost:\n%s", k, out)
				}
			}
		})
	}
}
