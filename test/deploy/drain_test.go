package deploy

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// startPod runs the binary as the chart's gateway pod would: its
// arguments and kong.yml (in controller mode, a kubeconfig naming an API
// server that does not answer), with the listeners moved to free loopback
// ports, and env standing in for the pod's Secret-fed variables.
func startPod(t *testing.T, values string, env ...string) (*gwtest.Gateway, *appsv1.Deployment) {
	t.Helper()
	objs := objects(t, values)
	var gw *appsv1.Deployment
	for _, d := range ofKind[*appsv1.Deployment](objs) {
		if gatewayContainer(d.Spec.Template.Spec) != nil {
			gw = d
		}
	}
	c := gatewayContainer(gw.Spec.Template.Spec)
	opts := gwtest.Options{Env: env}
	if cms := ofKind[*corev1.ConfigMap](objs); len(cms) > 0 {
		opts.ConfigPath = filepath.Join(t.TempDir(), "kong.yml")
		if err := os.WriteFile(opts.ConfigPath, []byte(cms[0].Data["kong.yml"]), 0o600); err != nil {
			t.Fatal(err)
		}
	} else {
		// Controller mode: the cluster is the API server the test's
		// kubeconfig names.
		opts.NoConfig = true
		opts.Args = append(opts.Args, "--kubeconfig="+kubeconfig(t))
	}
	for _, a := range c.Args[1:] {
		name, val, _ := strings.Cut(a, "=")
		switch name {
		case "--config", "--admin-listen":
		case "--proxy-listen":
			opts.ProxyListen = "127.0.0.1:0"
			if strings.Contains(val, " ssl") {
				opts.ProxyListen += ", 127.0.0.1:0 ssl"
			}
		case "--status-listen":
			opts.Args = append(opts.Args, "--status-listen=127.0.0.1:0")
		default:
			opts.Args = append(opts.Args, a)
		}
	}
	return gwtest.Start(t, "", opts), gw
}

var probeClient = &http.Client{Timeout: 2 * time.Second}

// get answers the status of GET url (0: no answer), with header pairs.
func get(url string, header ...string) int {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestChartPodRunsAndDrains does what the kubelet does to the chart's
// pod: the readiness and liveness probes answer 200; after SIGTERM
// readiness turns 503 while the proxy still serves for --drain-delay,
// then the process exits 0 within the grace period.
func TestChartPodRunsAndDrains(t *testing.T) {
	g, gw := startPod(t, "")
	c := gatewayContainer(gw.Spec.Template.Spec)
	vals, _ := effectiveFlags(t, *c)
	ready := g.StatusURL + c.ReadinessProbe.HTTPGet.Path
	if got := get(ready); got != http.StatusOK {
		t.Fatalf("readiness probe %s: %d", ready, got)
	}
	if live := g.StatusURL + c.LivenessProbe.HTTPGet.Path; get(live) != http.StatusOK {
		t.Fatalf("liveness probe %s: %d", live, get(live))
	}
	delay, _ := duration(vals["drain-delay"])
	sent := time.Now()
	g.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(delay / 2)
	for get(ready) != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatalf("readiness still not 503 %v after SIGTERM", time.Since(sent))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := get(g.URL + "/"); got == 0 {
		t.Errorf("the proxy refused a request %v into a %v drain delay", time.Since(sent), delay)
	}
	grace := time.Duration(*gw.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	err, exited := g.Wait(grace)
	if !exited || err != nil {
		t.Fatalf("exit after SIGTERM: exited %v within %v, error %v\n%s", exited, grace, err, g.Stderr())
	}
	if took := time.Since(sent); took < delay {
		t.Errorf("exited %v after SIGTERM, before the %v drain delay ended", took, delay)
	}
}

// TestChartEverythingOnRuns: with every part on, the binary starts on the
// chart's arguments: the TLS listener serves the configuration's
// certificate and the published admin API wants the Secret's token.
func TestChartEverythingOnRuns(t *testing.T) {
	g, _ := startPod(t, everything(t), "TURNPIKE_ADMIN_TOKEN=s3cret")
	if len(g.URLs) != 2 {
		t.Fatalf("proxy listeners %q, want HTTP and TLS", g.URLs)
	}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(g.URLs[1], "http://"), &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS listener: %v", err)
	}
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "localhost" {
		t.Errorf("TLS listener served %q, want the configuration's certificate", cn)
	}
	conn.Close()
	if got := get(g.AdminURL + "/status"); got != http.StatusUnauthorized {
		t.Errorf("admin API without the token: %d, want 401", got)
	}
	if got := get(g.AdminURL+"/status", "Authorization", "Bearer s3cret"); got != http.StatusOK {
		t.Errorf("admin API with the token: %d, want 200", got)
	}
	if got := get(g.StatusURL + "/status/ready"); got != http.StatusOK {
		t.Errorf("readiness: %d", got)
	}
}
