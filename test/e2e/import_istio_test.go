package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

const istioCanary = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: shop
spec:
  hosts:
  - shop.example.com
  gateways:
  - shop-gateway
  http:
  - match:
    - uri:
        prefix: /reviews
    rewrite:
      uri: /v1/reviews
    route:
    - destination:
        host: 127.0.0.1
        port:
          number: STABLE
      weight: 80
    - destination:
        host: 127.0.0.1
        port:
          number: CANARY
      weight: 20
    retries:
      attempts: 1
      perTryTimeout: 3s
  - match:
    - uri:
        exact: /ratings
    rewrite:
      authority: ratings.internal
    route:
    - destination:
        host: 127.0.0.1
        port:
          number: CANARY
`

// TestImportIstio runs the built binary's import on a VirtualService
// splitting 80/20 between two real upstreams, validates the output, and
// sends 200 requests through a gateway started on it: the split follows
// the weights (within a tolerance), the prefix is rewritten, the Host is
// the client's (Istio forwards the authority) and other hosts are not
// routed; an exact match with a rewritten authority sends that Host.
func TestImportIstio(t *testing.T) {
	stable, canary := gwtest.StartEcho(t, "stable"), gwtest.StartEcho(t, "canary")
	doc := strings.NewReplacer("STABLE", stable.Port(), "CANARY", canary.Port()).Replace(istioCanary)
	_, out, stderr := importValid(t, "istio", "canary.yaml", doc)
	if !strings.Contains(stderr, "warning: VirtualService shop/reviews: spec.gateways[0]: Gateway shop/shop-gateway is not in the input") {
		t.Errorf("no warning for the missing Gateway:\n%s", stderr)
	}

	gw := gwtest.Start(t, "", gwtest.Options{ConfigPath: out})
	const n = 200
	for i := range n {
		resp, body := gw.Get("/reviews/7", "Host", "shop.example.com")
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		if i == 0 {
			seen := gwtest.DecodeSeen(t, body)
			if seen.Path != "/v1/reviews/7" || seen.Host != "shop.example.com" {
				t.Errorf("the upstream saw %s with Host %s, want /v1/reviews/7 with shop.example.com", seen.Path, seen.Host)
			}
		}
	}
	s, c := stable.Count.Load(), canary.Count.Load()
	t.Logf("stable %d, canary %d", s, c)
	resp, body := gw.Get("/ratings", "Host", "shop.example.com")
	if resp.StatusCode != 200 || gwtest.DecodeSeen(t, body).Host != "ratings.internal" {
		t.Errorf("GET /ratings: %d %s, want the rewritten authority ratings.internal", resp.StatusCode, body)
	}
	if resp, _ := gw.Get("/ratings/x", "Host", "shop.example.com"); resp.StatusCode != 404 {
		t.Errorf("GET /ratings/x (exact match only): %d, want 404", resp.StatusCode)
	}
	if s+c != n || s < 140 || s > 180 {
		t.Errorf("stable got %d, canary %d of %d requests: want about 160/40", s, c, n)
	}
	if resp, _ := gw.Get("/reviews/7", "Host", "other.example.com"); resp.StatusCode != 404 {
		t.Errorf("another host: %d, want 404", resp.StatusCode)
	}
}

// TestImportIstioMutual imports a Gateway whose MUTUAL server's
// credential Secret holds the client CA, and sends requests over TLS to a
// gateway started on the output: without a client certificate, or with
// one of another CA, the route answers 401; with one the CA signed it
// reaches the upstream.
func TestImportIstioMutual(t *testing.T) {
	up := gwtest.StartEcho(t, "app")
	root := mtlsCA(t, "Partner Root")
	partner := mtlsClient(t, root, "partner")
	stranger := mtlsClient(t, mtlsCA(t, "Other Root"), "partner")
	gw := startIstioMutual(t, up, "partners.example.com", root.pem())
	get := func(path string, cert *tls.Certificate) (int, bool, string) {
		return tlsGet(t, gw, "partners.example.com", path, cert)
	}
	if status, asked, body := get("/", nil); status != 401 || !asked {
		t.Errorf("no certificate: %d (asked: %v) %s, want 401 after a certificate request", status, asked, body)
	}
	if status, _, body := get("/", stranger.tlsCert()); status != 401 {
		t.Errorf("another CA's certificate: %d %s, want 401", status, body)
	}
	if status, _, body := get("/orders", partner.tlsCert()); status != 200 || gwtest.DecodeSeen(t, body).Path != "/orders" {
		t.Errorf("the partner's certificate: %d %s, want 200 from the upstream", status, body)
	}
}

// TestImportIstioMutualPerHost imports two MUTUAL servers with different
// client CAs and one VirtualService taking both hosts: each host accepts
// the certificates of its own server's CA only.
func TestImportIstioMutualPerHost(t *testing.T) {
	up := gwtest.StartEcho(t, "app")
	rootA, rootB := mtlsCA(t, "A Root"), mtlsCA(t, "B Root")
	clientA, clientB := mtlsClient(t, rootA, "client"), mtlsClient(t, rootB, "client")
	gw := startIstioMutual(t, up, "a.example.com", rootA.pem(), "b.example.com", rootB.pem())
	for _, c := range []struct {
		host, ca string
		client   *tls.Certificate
		want     int
	}{
		{"a.example.com", "A", clientA.tlsCert(), 200},
		{"a.example.com", "B", clientB.tlsCert(), 401},
		{"b.example.com", "B", clientB.tlsCert(), 200},
		{"b.example.com", "A", clientA.tlsCert(), 401},
	} {
		if status, _, body := tlsGet(t, gw, c.host, "/", c.client); status != c.want {
			t.Errorf("%s with CA %s's client: %d %s, want %d", c.host, c.ca, status, body, c.want)
		}
	}
}

// tlsGet sends GET path to the gateway's TLS listener with host as the
// server name and Host, presenting cert when asked (nil: none); it
// returns the status, whether a certificate was asked for, and the body.
func tlsGet(t *testing.T, gw *gwtest.Gateway, host, path string, cert *tls.Certificate, header ...string) (int, bool, string) {
	t.Helper()
	var asked bool
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: host, InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked = true
			if cert == nil {
				return &tls.Certificate{}, nil
			}
			return cert, nil
		}}}
	defer tr.CloseIdleConnections()
	req := gwtest.NewRequest(t, http.MethodGet, "https"+strings.TrimPrefix(gw.URL, "http")+path, "", append([]string{"Host", host}, header...)...)
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, asked, string(body)
}

// startIstioMutual imports a Gateway with a MUTUAL server for each host
// (hostCA: host, then the PEM of its client CA), each with its own
// credential Secret, and a VirtualService routing all the hosts to up;
// it fails the test if import warns about MUTUAL (it is supported) and
// starts a gateway on the output with a TLS proxy listener.
func startIstioMutual(t *testing.T, up *gwtest.Echo, hostCA ...string) *gwtest.Gateway {
	t.Helper()
	cert, key := selfSigned(t, hostCA[0])
	var servers, secrets strings.Builder
	var hosts []string
	for i := 0; i+1 < len(hostCA); i += 2 {
		host, secret := hostCA[i], fmt.Sprintf("credential-%d", i/2)
		fmt.Fprintf(&servers, "  - port: {number: 443, protocol: HTTPS}\n    hosts: [%s]\n    tls: {mode: MUTUAL, credentialName: %s}\n", host, secret)
		fmt.Fprintf(&secrets, `---
apiVersion: v1
kind: Secret
metadata: {name: %s, namespace: shop}
data: {tls.crt: %s, tls.key: %s, ca.crt: %s}
`, secret, b64(cert), b64(key), b64(hostCA[i+1]))
		hosts = append(hosts, host)
	}
	doc := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  servers:
%s%s---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: shop}
spec:
  hosts: [%s]
  gateways: [gw]
  http:
  - route: [{destination: {host: 127.0.0.1, port: {number: %s}}}]
`, servers.String(), secrets.String(), strings.Join(hosts, ", "), up.Port())
	_, out, stderr := importValid(t, "istio", "mutual.yaml", doc)
	if strings.Contains(stderr, "MUTUAL") {
		t.Fatalf("import warned about MUTUAL:\n%s", stderr)
	}
	return gwtest.Start(t, "", gwtest.Options{ConfigPath: out, ProxyListen: "127.0.0.1:0 ssl"})
}
