package ingress

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/importer/importertest"
	yaml "go.yaml.in/yaml/v4"
)

func doc(s string) []importer.Document {
	docs := importer.Split([]byte(s))
	for i := range docs {
		docs[i].File = "t.yaml"
	}
	return docs
}

func ingressWith(annotations, pathType, path string) string {
	return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: t
  annotations: {` + annotations + `}
spec:
  rules:
  - http:
      paths:
      - path: "` + path + `"
        pathType: ` + pathType + `
        backend: {service: {name: s, port: {number: 80}}}
`
}

// TestPaths: Kong's paths for each pathType, as the Kong and NGINX
// controllers match them.
func TestPaths(t *testing.T) {
	for _, c := range []struct {
		annotations, pathType, path string
		want                        []string
	}{
		{"", "Prefix", "/users", []string{"~/users$", "/users/"}},
		{"", "Prefix", "/users/", []string{"~/users$", "/users/"}},
		{"", "Prefix", "/", []string{"/"}},
		{"", "Prefix", "/v1.0/a+b", []string{`~/v1\.0/a\+b$`, "/v1.0/a+b/"}},
		{"", "Exact", "/health", []string{"~/health$"}},
		{"", "Exact", "/a.b", []string{`~/a\.b$`}},
		{"", "ImplementationSpecific", "/static", []string{"/static"}},
		{"", "ImplementationSpecific", "", []string{"/"}},
		{"", "ImplementationSpecific", "/~/v[0-9]+/items", []string{"~/v[0-9]+/items"}},
		{`nginx.ingress.kubernetes.io/use-regex: "true"`, "ImplementationSpecific", "/v[0-9]+/x", []string{"~/v[0-9]+/x"}},
		{`nginx.ingress.kubernetes.io/use-regex: "true"`, "Exact", "/v[0-9]+", []string{"~/v[0-9]+$"}},
		{`nginx.ingress.kubernetes.io/use-regex: "true"`, "Prefix", "/(?!admin)", nil},
	} {
		var cfg importer.Config
		var ws importer.Warnings
		if err := Import(doc(ingressWith(c.annotations, c.pathType, c.path)), Options{}, &cfg, &ws); err != nil {
			t.Fatal(err)
		}
		if c.want == nil {
			if len(cfg.Services) != 0 || len(ws) != 1 || !strings.Contains(ws[0].String(), "is not a regular expression the router takes") {
				t.Errorf("%q: %d services, warnings %v", c.path, len(cfg.Services), ws)
			}
			continue
		}
		if len(cfg.Services) != 1 || len(cfg.Services[0].Routes) != 1 {
			t.Fatalf("%s %q: %d services, warnings %v", c.pathType, c.path, len(cfg.Services), ws)
		}
		if got := cfg.Services[0].Routes[0].Paths; strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s %q %s: paths %q, want %q", c.pathType, c.path, c.annotations, got, c.want)
		}
	}
}

// TestBasicAuthSecretsIsolated: the users of one htpasswd Secret never
// open an Ingress protected by another (acl groups per Secret), and a
// username in two Secrets is imported once.
func TestBasicAuthSecretsIsolated(t *testing.T) {
	out, warns := importertest.File(t, "basic-auth.yaml", with(Options{}))
	importertest.Validate(t, out)
	s := string(out)
	for _, want := range []string{
		"allow:\n                - staging.ops-users\n", "allow:\n                - staging.basic-auth\n",
		"- group: staging.basic-auth\n", "basicauth_credentials:\n      - password: \"$2a$05$VUcw",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in\n%s", want, s)
		}
	}
	if !strings.Contains(warns, `user "carol"`) || !strings.Contains(warns, "apr1 (MD5)") {
		t.Errorf("no warning for the apr1 hash:\n%s", warns)
	}

	dup := `apiVersion: v1
kind: Secret
metadata: {name: a}
stringData: {auth: "alice:$2y$05$VUcwGHg7h/i2idD1xz.G2uzPpTaBoNjfB9/P9GvPVVI7QbgyaP6YW"}
---
apiVersion: v1
kind: Secret
metadata: {name: b}
stringData: {auth: "alice:$2y$05$sxiwPMbs/9IhIp6P4Io5teTUkz4geT5pSZO6K3Bist7DvZMg4MiuC\nbob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\ndave:$2y$15$sxiwPMbs/9IhIp6P4Io5teTUkz4geT5pSZO6K3Bist7DvZMg4MiuC"}
---
` + ingressWith(`nginx.ingress.kubernetes.io/auth-type: basic, nginx.ingress.kubernetes.io/auth-secret: a`, "Prefix", "/a") + "---\n" +
		strings.Replace(ingressWith(`nginx.ingress.kubernetes.io/auth-type: basic, nginx.ingress.kubernetes.io/auth-secret: b`, "Prefix", "/b"), "name: t", "name: u", 1)
	out, warns = importertest.Run(t, doc(dup), with(Options{}))
	importertest.Validate(t, out)
	if n := strings.Count(string(out), "username: alice"); n != 1 {
		t.Errorf("alice imported %d times, want once:\n%s", n, out)
	}
	for _, want := range []string{`user "alice" of Secret default.b is also in Secret default.a`, `user "bob" of Secret default/b: only bcrypt hashes (htpasswd -B) can be imported, not {SHA}`,
		`user "dave" of Secret default/b: bcrypt cost 15 is above 14: every wrong password would cost a request that much CPU: skipped`} {
		if !strings.Contains(warns, want) {
			t.Errorf("no warning %q in\n%s", want, warns)
		}
	}
}

// TestRefused: inputs that are not Kubernetes objects, or whose fields
// have the wrong type, stop the import with the document named.
func TestRefused(t *testing.T) {
	for in, want := range map[string]string{
		"just: a map\n":   "t.yaml:1: not a Kubernetes object: no kind",
		"- a\n- list\n":   "t.yaml:1: not a Kubernetes object",
		"kind: [Ingress]": "t.yaml:1: not a Kubernetes object",
		"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\nspec: {rules: {host: a}}\n": "Ingress default/x (t.yaml:1): spec.rules: want []v1.IngressRule, got a object",
		"kind: KongPlugin\nmetadata: {name: p}\nplugin: 3\n":                                               "KongPlugin default/p (t.yaml:1): plugin: want string, got a number",
	} {
		var cfg importer.Config
		var ws importer.Warnings
		err := Import(doc(in), Options{}, &cfg, &ws)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

// TestKongAnnotationsWin: a Kong annotation overrides what an NGINX one
// set on the same field, and konghq.com/protocols turns the implicit SSL
// redirect off.
func TestKongAnnotationsWin(t *testing.T) {
	in := ingressWith(`nginx.ingress.kubernetes.io/force-ssl-redirect: "true", konghq.com/protocols: "http,https", konghq.com/strip-path: "true", konghq.com/regex-priority: nine`, "Prefix", "/a")
	out, warns := importertest.Run(t, doc(in), with(Options{}))
	importertest.Validate(t, out)
	s := string(out)
	if !strings.Contains(s, "protocols:\n          - http\n          - https\n") || strings.Contains(s, "https_redirect_status_code") || !strings.Contains(s, "strip_path: true") {
		t.Errorf("output:\n%s", s)
	}
	if !strings.Contains(warns, `konghq.com/regex-priority: "nine" is not a number: ignored`) {
		t.Errorf("warnings:\n%s", warns)
	}
}

// TestGlobalClusterPlugin: a KongClusterPlugin labelled global applies to
// every request, the others only where an annotation names them.
func TestGlobalClusterPlugin(t *testing.T) {
	in := `apiVersion: configuration.konghq.com/v1
kind: KongClusterPlugin
metadata: {name: cid, labels: {global: "true"}}
plugin: correlation-id
config: {header_name: null, generator: uuid}
---
apiVersion: configuration.konghq.com/v1
kind: KongClusterPlugin
metadata: {name: unused}
plugin: cors
`
	out, _ := importertest.Run(t, doc(in), with(Options{}))
	importertest.Validate(t, out)
	if s := string(out); !strings.Contains(s, "plugins:\n  - name: correlation-id\n    config:\n      generator: uuid\n      header_name: null\n") || strings.Contains(s, "cors") {
		t.Errorf("output:\n%s", s)
	}
}

func BenchmarkImport(b *testing.B) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		b.Fatal(err)
	}
	docs, err := importer.Read(files, nil, importer.DefaultLimits)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var cfg importer.Config
		var ws importer.Warnings
		if err := Import(docs, Options{}, &cfg, &ws); err != nil {
			b.Fatal(err)
		}
		if _, err := cfg.YAML(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUserTags checks konghq.com/tags joins the controller's tags on the
// Ingress's routes and plugins, and a tag the Admin API cannot filter on
// is warned and left out.
func TestUserTags(t *testing.T) {
	in := strings.Replace(ingressWith(`konghq.com/tags: "team-a,a/b", nginx.ingress.kubernetes.io/limit-rps: "5"`, "Prefix", "/"),
		"  name: t\n", "  name: t\n  uid: 0b7e\n", 1)
	out, warns := importertest.Run(t, doc(in), with(Options{}))
	importertest.Validate(t, out)
	want := "- k8s-name:t\n          - k8s-namespace:default\n          - k8s-kind:Ingress\n          - k8s-uid:0b7e\n" +
		"          - k8s-group:networking.k8s.io\n          - k8s-version:v1\n          - team-a\n"
	if strings.Count(string(out), want) != 1 || strings.Count(string(out), "- team-a\n") != 2 {
		t.Errorf("want the route's tags %q, and the plugin's:\n%s", want, out)
	}
	if !strings.Contains(warns, `konghq.com/tags: ["a/b"]: a tag holds characters`) {
		t.Errorf("no warning for a/b:\n%s", warns)
	}
}

// TestUnknownFieldsAll checks every unknown field of an object is warned
// by its path, not only the first (encoding/json's strict mode stops
// there), and the object is still imported.
func TestUnknownFieldsAll(t *testing.T) {
	in := strings.Replace(ingressWith("", "Prefix", "/"), "  rules:\n", "  rulez: 1\n  rules:\n", 1)
	in = strings.Replace(in, "        pathType:", "        weight: 3\n        pathType:", 1)
	out, warns := importertest.Run(t, doc(in+"---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, nam: x}]}\nstatuz: 1\n"), with(Options{}))
	importertest.Validate(t, out)
	for _, w := range []string{
		"Ingress default/t (t.yaml:1): spec.rules[0].http.paths[0].weight: unknown field, ignored",
		"Ingress default/t (t.yaml:1): spec.rulez: unknown field, ignored",
		"Service default/s (t.yaml:16): spec.ports[0].nam: unknown field, ignored",
		"Service default/s (t.yaml:16): statuz: unknown field, ignored",
	} {
		if !strings.Contains(warns, w) {
			t.Errorf("no %q in\n%s", w, warns)
		}
	}
	if !strings.Contains(string(out), "paths:\n") {
		t.Errorf("the Ingress was not imported:\n%s", out)
	}
}

// TestDuplicatesKeepFirst: a Service, Secret or KongPlugin given twice
// (same namespace and name) is warned and the first copy kept.
func TestDuplicatesKeepFirst(t *testing.T) {
	in := strings.Replace(ingressWith(`konghq.com/plugins: limit, nginx.ingress.kubernetes.io/auth-type: basic, nginx.ingress.kubernetes.io/auth-secret: users`, "Prefix", "/"),
		"port: {number: 80}", "port: {name: web}", 1) + `---
apiVersion: v1
kind: Service
metadata: {name: s}
spec: {ports: [{name: web, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec: {ports: [{name: web, port: 9090}]}
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: limit}
plugin: rate-limiting
config: {minute: 5}
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: limit}
plugin: rate-limiting
config: {minute: 500}
---
apiVersion: v1
kind: Secret
metadata: {name: users}
stringData: {auth: "first:$2y$05$VUcwGHg7h/i2idD1xz.G2uzPpTaBoNjfB9/P9GvPVVI7QbgyaP6YW"}
---
apiVersion: v1
kind: Secret
metadata: {name: users}
stringData: {auth: "second:$2y$05$VUcwGHg7h/i2idD1xz.G2uzPpTaBoNjfB9/P9GvPVVI7QbgyaP6YW"}
`
	out, warns := importertest.Run(t, doc(in), with(Options{}))
	importertest.Validate(t, out)
	s := string(out)
	for _, want := range []string{"port: 8080\n", "minute: 5\n", "username: default.users.first\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q (the first copy) in\n%s", want, s)
		}
	}
	for _, not := range []string{"9090", "minute: 500", "second"} {
		if strings.Contains(s, not) {
			t.Errorf("%q (the second copy) in\n%s", not, s)
		}
	}
	for _, w := range []string{"Service default/s (t.yaml:19)", "KongPlugin default/limit (t.yaml:30)", "Secret default/users (t.yaml:41)"} {
		if !strings.Contains(warns, w+": metadata.name: the input already has this object: this copy is ignored") {
			t.Errorf("no warning for %s:\n%s", w, warns)
		}
	}
}

// TestDuplicateIngressKeepsFirst: an Ingress or KongConsumer given twice
// is warned and only the first copy imported: the second copy's routes
// (here without the first's auth) must not sit beside the first's.
func TestDuplicateIngressKeepsFirst(t *testing.T) {
	in := ingressWith(`nginx.ingress.kubernetes.io/whitelist-source-range: 10.0.0.0/8`, "Prefix", "/") + "---\n" +
		ingressWith(``, "Prefix", "/open") + `---
apiVersion: configuration.konghq.com/v1
kind: KongConsumer
metadata: {name: c, annotations: {kubernetes.io/ingress.class: kong}}
username: first
---
apiVersion: configuration.konghq.com/v1
kind: KongConsumer
metadata: {name: c, annotations: {kubernetes.io/ingress.class: kong}}
username: second
`
	out, warns := importertest.Run(t, doc(in), with(Options{}))
	importertest.Validate(t, out)
	s := string(out)
	if strings.Contains(s, "/open") || strings.Contains(s, "username: second") || strings.Count(s, "name: ip-restriction") != 1 {
		t.Errorf("the second copies were imported:\n%s", s)
	}
	for _, w := range []string{"Ingress default/t (t.yaml:14)", "KongConsumer default/c (t.yaml:32)"} {
		if !strings.Contains(warns, w+": metadata.name: the input already has this object: this copy is ignored") {
			t.Errorf("no warning for %s:\n%s", w, warns)
		}
	}
}

// TestHugeNumbers: annotation numbers whose conversion would overflow (or
// pass Kong's bounds) are warned, not written wrapped around.
func TestHugeNumbers(t *testing.T) {
	ann := `nginx.ingress.kubernetes.io/proxy-read-timeout: "9223372036854775", nginx.ingress.kubernetes.io/proxy-body-size: 9007199254740993g`
	in := ingressWith(ann, "Prefix", "/") + "---\napiVersion: v1\nkind: Service\nmetadata: {name: s, annotations: {konghq.com/retries: \"40000\", konghq.com/read-timeout: \"3000000000\"}}\nspec: {ports: [{port: 80}]}\n"
	out, warns := importertest.Run(t, doc(in), with(Options{}))
	importertest.Validate(t, out)
	for _, w := range []string{`proxy-read-timeout: "9223372036854775" is not a number of seconds up to 2147483`,
		`proxy-body-size: "9007199254740993g" is not an NGINX size`,
		`konghq.com/retries: "40000" is not a number from 0 to 32767`,
		`konghq.com/read-timeout: "3000000000" is not a number from 0 to 2147483646`} {
		if !strings.Contains(warns, w) {
			t.Errorf("no %q in\n%s", w, warns)
		}
	}
	if strings.Contains(string(out), "read_timeout") || strings.Contains(string(out), "request-size-limiting") {
		t.Errorf("an out-of-range value was written:\n%s", out)
	}
}

// TestConfigFromOtherNamespace: a KongPlugin takes its configFrom Secret
// from its own namespace only (Kong's CRD has no namespace there); a
// KongClusterPlugin may name one.
func TestConfigFromOtherNamespace(t *testing.T) {
	in := `apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: payments}
stringData: {conf: "{header_name: X-Stolen}"}
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: steal, namespace: shop}
plugin: correlation-id
configFrom: {secretKeyRef: {name: creds, key: conf, namespace: payments}}
---
apiVersion: configuration.konghq.com/v1
kind: KongClusterPlugin
metadata: {name: shared, labels: {global: "true"}}
plugin: correlation-id
configFrom: {secretKeyRef: {name: creds, key: conf, namespace: payments}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop, annotations: {konghq.com/plugins: steal}}
spec:
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`
	out, warns := importertest.Run(t, doc(in), with(Options{}))
	importertest.Validate(t, out)
	if !strings.Contains(warns, "KongPlugin shop/steal: configFrom.secretKeyRef.namespace: a KongPlugin reads Secrets of its own namespace (shop) only: plugin not attached") {
		t.Errorf("warnings:\n%s", warns)
	}
	// The cluster plugin's global instance reads it; the route gets none.
	if n := strings.Count(string(out), "X-Stolen"); n != 1 {
		t.Errorf("X-Stolen %d times, want once (the KongClusterPlugin's):\n%s", n, out)
	}
}

// TestOlderIngressKeepsItsHost: two namespaces' Ingresses claim one TLS
// host; the older keeps its certificate there whatever the namespaces'
// names (by name, aaa would come first and take it).
func TestOlderIngressKeepsItsHost(t *testing.T) {
	older := importertest.NewCert(t, "shop.test", false, time.Now().Add(24*time.Hour), nil)
	newer := importertest.NewCert(t, "shop.test", false, time.Now().Add(24*time.Hour), nil)
	secret := func(ns string, c *importertest.Cert) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\nmetadata: {name: tls, namespace: %s}\nstringData:\n  tls.crt: %q\n  tls.key: %q\n", ns, c.Cert, c.Key)
	}
	ing := func(ns, created string) string {
		return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: %s, creationTimestamp: "%s"}
spec:
  tls: [{hosts: [shop.test], secretName: tls}]
  rules:
  - host: shop.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`, ns, created)
	}
	in := strings.Join([]string{secret("zzz", older), secret("aaa", newer),
		ing("aaa", "2026-06-01T00:00:00Z"), ing("zzz", "2026-01-01T00:00:00Z")}, "---\n")
	out, warns := importertest.Run(t, doc(in), with(Options{}))
	importertest.Validate(t, out)
	if !strings.Contains(warns, "Ingress aaa/web: spec.tls[0].hosts: shop.test is already served by Secret zzz/tls: kept") {
		t.Errorf("warnings:\n%s", warns)
	}
	// The certificate serving shop.test is the older one (the newer one's
	// is written without SNIs).
	var cfg struct {
		Certificates []struct {
			Cert string `yaml:"cert"`
			SNIs []any  `yaml:"snis"`
		} `yaml:"certificates"`
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	served := ""
	for _, c := range cfg.Certificates {
		if fmt.Sprint(c.SNIs) == "[shop.test]" || fmt.Sprint(c.SNIs) == "[map[name:shop.test]]" {
			served = c.Cert
		}
	}
	if served != older.Cert {
		t.Errorf("shop.test is not served by the older Ingress's certificate:\n%s", out)
	}
}

// TestPluginKeyWithLineBreak: a KongPlugin whose config has a key with a
// line break or a tab (which the YAML writer cannot carry) is not
// attached, with a warning naming the key; the rest imports.
func TestPluginKeyWithLineBreak(t *testing.T) {
	in := `apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: odd, namespace: shop}
plugin: request-transformer
config: {add: {"head\ners": ["X-A:1"]}}
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: tab, namespace: shop}
plugin: correlation-id
config: {"header\tname": X-Id}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop, annotations: {konghq.com/plugins: "odd,tab"}}
spec:
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`
	out, warns := importertest.Run(t, doc(in), with(Options{}))
	importertest.Validate(t, out)
	for _, w := range []string{
		`KongPlugin shop/odd: config.add."head\ners": a key with a control character: plugin not attached`,
		`KongPlugin shop/tab: config."header\tname": a key with a control character: plugin not attached`,
	} {
		if !strings.Contains(warns, w) {
			t.Errorf("no %q in\n%s", w, warns)
		}
	}
	if strings.Contains(string(out), "request-transformer") || strings.Contains(string(out), "correlation-id") {
		t.Errorf("a plugin with a bad key was written:\n%s", out)
	}
}
