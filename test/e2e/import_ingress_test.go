package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// ingressManifest: ingress-nginx's rewrite example, a Prefix path and a
// basic-auth Ingress with its htpasswd Secret (alice / alice-secret,
// bcrypt). PORT is the echo upstream's.
const ingressManifest = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: rewrite
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
    nginx.ingress.kubernetes.io/rewrite-target: /$2
spec:
  ingressClassName: nginx
  rules:
  - host: rewrite.bar.com
    http:
      paths:
      - path: /something(/|$)(.*)
        pathType: ImplementationSpecific
        backend:
          service: {name: echo, port: {number: PORT}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: users
spec:
  ingressClassName: nginx
  rules:
  - http:
      paths:
      - path: /users
        pathType: Prefix
        backend:
          service: {name: echo, port: {number: PORT}}
---
apiVersion: v1
kind: Secret
metadata: {name: htpasswd}
stringData:
  auth: "alice:$2a$05$VUcwGHg7h/i2idD1xz.G2uzPpTaBoNjfB9/P9GvPVVI7QbgyaP6YW\n"
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: private
  annotations:
    nginx.ingress.kubernetes.io/auth-type: basic
    nginx.ingress.kubernetes.io/auth-secret: htpasswd
spec:
  ingressClassName: nginx
  rules:
  - http:
      paths:
      - path: /private
        pathType: Exact
        backend:
          service: {name: echo, port: {number: PORT}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: elsewhere
spec:
  ingressClassName: traefik
  defaultBackend:
    service: {name: echo, port: {number: PORT}}
`

// TestImportIngress runs the built binary's import on Ingresses, checks
// `turnpike validate` accepts the output, and proxies through a gateway
// started on it to a real upstream: the rewrite with its capture, Prefix
// matching whole segments, and basic auth from the htpasswd Secret.
func TestImportIngress(t *testing.T) {
	up := gwtest.StartEcho(t, "echo")
	_, out, stderr := importValid(t, "ingress", "ingress.yaml", strings.ReplaceAll(ingressManifest, "PORT", up.Port()),
		"--ingress-class", "nginx", "--service-domain", "cluster.test")
	if !strings.Contains(stderr, `warning: Ingress default/elsewhere: spec.ingressClassName: class "traefik" is not "nginx": skipped`) {
		t.Errorf("no warning for the other class:\n%s", stderr)
	}
	pointServiceAtLoopback(t, out, "echo.default.cluster.test")

	gw := gwtest.Start(t, "", gwtest.Options{ConfigPath: out})
	for _, c := range []struct {
		path, host, want string
		status           int
	}{
		{"/something/new/path?x=1", "rewrite.bar.com", "/new/path", 200},
		{"/something", "rewrite.bar.com", "/", 200},
		{"/something/a", "other.example.com", "", 404},
		{"/users", "", "/users", 200},
		{"/users/42", "", "/users/42", 200},
		{"/usersx", "", "", 404},
		{"/private/x", "", "", 404},
	} {
		resp, body := gw.Get(c.path, "Host", c.host)
		if resp.StatusCode != c.status {
			t.Errorf("GET %s (Host %s): %d %s, want %d", c.path, c.host, resp.StatusCode, body, c.status)
			continue
		}
		if c.status == 200 {
			if seen := gwtest.DecodeSeen(t, body); seen.Path != c.want || (c.host != "" && seen.Host != c.host) {
				t.Errorf("GET %s: the upstream saw %s (Host %s), want %s (Host %s)", c.path, seen.Path, seen.Host, c.want, c.host)
			}
		}
	}
	if resp, body := gw.Get("/something/new/path?x=1", "Host", "rewrite.bar.com"); !strings.Contains(body, `"query":"x=1"`) {
		t.Errorf("the rewrite lost the query: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", gw.URL+"/private", nil)
	if resp, body := gwtest.Do(t, req); resp.StatusCode != 401 {
		t.Errorf("GET /private without credentials: %d %s, want 401", resp.StatusCode, body)
	}
	for pass, want := range map[string]int{"alice-secret": 200, "wrong": 401} {
		req, _ := http.NewRequest("GET", gw.URL+"/private", nil)
		req.SetBasicAuth("alice", pass)
		if resp, body := gwtest.Do(t, req); resp.StatusCode != want {
			t.Errorf("GET /private as alice:%s: %d %s, want %d", pass, resp.StatusCode, body, want)
		} else if want == 200 && gwtest.DecodeSeen(t, body).Header["Authorization"] != nil {
			t.Error("the upstream saw the Authorization header (hide_credentials)")
		}
	}
	// Kong's controller tags: the Admin API finds what each object made.
	for _, c := range []struct {
		kind, tags string
		names      []string
	}{
		{"routes", "k8s-kind:Ingress,k8s-name:users", []string{"default.users.0"}},
		{"routes", "k8s-name:private,k8s-namespace:default,k8s-group:networking.k8s.io,k8s-version:v1", []string{"default.private.0"}},
		{"services", "k8s-kind:Service,k8s-name:echo", nil},
		{"consumers", "k8s-kind:Secret,k8s-name:htpasswd", []string{"default.htpasswd.alice"}},
	} {
		req, _ := http.NewRequest("GET", gw.AdminURL+"/"+c.kind+"?tags="+c.tags, nil)
		resp, body := gwtest.Do(t, req)
		var list struct {
			Data []struct {
				Name, Username string
				Tags           []string
			}
		}
		if err := json.Unmarshal([]byte(body), &list); resp.StatusCode != 200 || err != nil {
			t.Fatalf("GET /%s?tags=%s: %d %s", c.kind, c.tags, resp.StatusCode, body)
		}
		var names []string
		for _, d := range list.Data {
			names = append(names, d.Name+d.Username)
		}
		if c.names == nil { // the services' names depend on the port
			if len(names) == 0 {
				t.Errorf("GET /%s?tags=%s: none", c.kind, c.tags)
			}
			continue
		}
		if strings.Join(names, ",") != strings.Join(c.names, ",") {
			t.Errorf("GET /%s?tags=%s: %v, want %v", c.kind, c.tags, names, c.names)
		}
	}
}

// TestImportIngressAuthTLS imports an Ingress with NGINX's auth-tls-secret
// and sends requests over TLS to a gateway started on the output: no
// client certificate, or one of another CA, is refused (401); one the
// Secret's CA signed reaches the upstream, without the ssl-client-*
// headers the client sent.
func TestImportIngressAuthTLS(t *testing.T) {
	up := gwtest.StartEcho(t, "echo")
	root := mtlsCA(t, "Client Root")
	client := mtlsClient(t, root, "client")
	stranger := mtlsClient(t, mtlsCA(t, "Other Root"), "client")
	cert, key := selfSigned(t, "secure.example.com")
	manifest := fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: secure
  annotations:
    nginx.ingress.kubernetes.io/auth-tls-secret: default/client-ca
spec:
  tls: [{hosts: [secure.example.com], secretName: secure-tls}]
  rules:
  - host: secure.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: %s}}}}
---
apiVersion: v1
kind: Secret
metadata: {name: secure-tls}
type: kubernetes.io/tls
data: {tls.crt: %s, tls.key: %s}
---
apiVersion: v1
kind: Secret
metadata: {name: client-ca}
data: {ca.crt: %s}
`, up.Port(), b64(cert), b64(key), b64(root.pem()))
	_, out, stderr := importValid(t, "ingress", "ingress.yaml", manifest, "--service-domain", "cluster.test")
	if strings.Contains(stderr, "auth-tls") {
		t.Fatalf("import warned about auth-tls:\n%s", stderr)
	}
	pointServiceAtLoopback(t, out, "echo.default.cluster.test")
	gw := gwtest.Start(t, "", gwtest.Options{ConfigPath: out, ProxyListen: "127.0.0.1:0 ssl"})
	if status, asked, body := tlsGet(t, gw, "secure.example.com", "/", nil); status != 401 || !asked {
		t.Errorf("no certificate: %d (asked: %v) %s, want 401 after a certificate request", status, asked, body)
	}
	if status, _, body := tlsGet(t, gw, "secure.example.com", "/", stranger.tlsCert()); status != 401 {
		t.Errorf("another CA's certificate: %d %s, want 401", status, body)
	}
	status, _, body := tlsGet(t, gw, "secure.example.com", "/a", client.tlsCert(),
		"ssl-client-verify", "SUCCESS", "ssl-client-subject-dn", "CN=admin", "ssl-client-issuer-dn", "CN=Root", "ssl-client-cert", "forged")
	if status != 200 || gwtest.DecodeSeen(t, body).Path != "/a" {
		t.Fatalf("the CA's client: %d %s, want 200 from the upstream", status, body)
	}
	// ingress-nginx overwrites these for the upstream: a client's must not pass.
	for _, h := range []string{"Ssl-Client-Verify", "Ssl-Client-Subject-Dn", "Ssl-Client-Issuer-Dn", "Ssl-Client-Cert"} {
		if v, ok := gwtest.DecodeSeen(t, body).Header[h]; ok {
			t.Errorf("the upstream got the client's %s: %q", h, v)
		}
	}
}

// pointServiceAtLoopback replaces the imported service host (there is no
// cluster DNS here) by 127.0.0.1 in the config at path, failing the test
// when no service has that host.
func pointServiceAtLoopback(t *testing.T, path, host string) {
	t.Helper()
	cfg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "host: "+host+"\n") {
		t.Fatalf("no service host %s:\n%s", host, cfg)
	}
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(cfg), host, "127.0.0.1")), 0o644); err != nil {
		t.Fatal(err)
	}
}
