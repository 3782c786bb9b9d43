package deploy

import (
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

// TestChartPodRunsAndDrains runs the binary with the chart's arguments and
// kong.yml (listeners moved to free loopback ports) and does what the
// kubelet does: the readiness and liveness probes answer 200, and after
// SIGTERM readiness turns 503 while the proxy still serves for
// --drain-delay, then the process exits 0 within the grace period.
func TestChartPodRunsAndDrains(t *testing.T) {
	objs := objects(t, "")
	gw := ofKind[*appsv1.Deployment](objs)[0]
	c := gatewayContainer(gw.Spec.Template.Spec)
	vals, _ := effectiveFlags(t, *c)
	cfg := filepath.Join(t.TempDir(), "kong.yml")
	if err := os.WriteFile(cfg, []byte(ofKind[*corev1.ConfigMap](objs)[0].Data["kong.yml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range c.Args[1:] {
		name, _, _ := strings.Cut(a, "=")
		switch name {
		case "--config", "--proxy-listen", "--admin-listen":
		case "--status-listen":
			args = append(args, "--status-listen=127.0.0.1:0")
		default:
			args = append(args, a)
		}
	}
	g := gwtest.Start(t, "", gwtest.Options{ConfigPath: cfg, Args: args})
	client := &http.Client{Timeout: 2 * time.Second}
	status := func(url string) int {
		resp, err := client.Get(url)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ready := g.StatusURL + c.ReadinessProbe.HTTPGet.Path
	if got := status(ready); got != http.StatusOK {
		t.Fatalf("readiness probe %s: %d", ready, got)
	}
	if live := g.StatusURL + c.LivenessProbe.HTTPGet.Path; status(live) != http.StatusOK {
		t.Fatalf("liveness probe %s: %d", live, status(live))
	}
	delay, _ := duration(vals["drain-delay"])
	sent := time.Now()
	g.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(delay / 2)
	for status(ready) != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatalf("readiness still not 503 %v after SIGTERM", time.Since(sent))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := status(g.URL + "/"); got == 0 {
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
