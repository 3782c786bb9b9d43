package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	netv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/kube"
)

var kongPluginsGVR = schema.GroupVersionResource{Group: "configuration.konghq.com", Version: "v1", Resource: "kongplugins"}

// pod is a real upstream server on loopback that answers with its name.
func pod(t *testing.T, name string) (*httptest.Server, int32) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return srv, int32(p)
}

func endpointSlice(name string, port int32) *discoveryv1.EndpointSlice {
	ready, portName := true, "http"
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
	}
}

func webIngress(name, host, path string, ann map[string]string) *netv1.Ingress {
	class := "turnpike"
	pt := netv1.PathTypeImplementationSpecific
	return &netv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Annotations: ann},
		Spec: netv1.IngressSpec{IngressClassName: &class, Rules: []netv1.IngressRule{{Host: host,
			IngressRuleValue: netv1.IngressRuleValue{HTTP: &netv1.HTTPIngressRuleValue{Paths: []netv1.HTTPIngressPath{{
				Path: path, PathType: &pt, Backend: netv1.IngressBackend{Service: &netv1.IngressServiceBackend{
					Name: "web", Port: netv1.ServiceBackendPort{Name: "http"}}}}}}}}}},
	}
}

// kubeGateway starts the gateway in controller mode on the fake clients,
// as `turnpike run --kubernetes` does.
func kubeGateway(t *testing.T, client kube.Client, log io.Writer) *gateway {
	t.Helper()
	o := &runOptions{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	o.addFlags(fs, "127.0.0.1:0")
	o.kube.addFlags(fs)
	if err := fs.Parse([]string{"--admin-listen", "127.0.0.1:0", "--access-log", "off", "--kubernetes", "--kubernetes-debounce", "20ms", "--publish-status-address", "192.0.2.7"}); err != nil {
		t.Fatal(err)
	}
	o.kube.clients = func() (kube.Client, error) { return client, nil }
	g, err := startGateway(o, []byte(emptyConfig), config.Options{}, "", io.Discard, log)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// get asks the gateway for host and path: status and body.
func get(t *testing.T, c *http.Client, g *gateway, host, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+g.proxy.Addrs()[0].String()+path, nil)
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}

// until polls cond for up to 10s.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The cluster drives the gateway end to end: client-go's fake dynamic
// client feeds the informers, real servers on loopback stand as the pods, and
// requests follow the objects as they are created, changed and deleted.
func TestKubernetesControllerMode(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	podA, portA := pod(t, "pod-a")
	defer podA.Close()
	podB, portB := pod(t, "pod-b")
	defer podB.Close()

	api, open := fakeCluster(portA)
	log := &gwtest.SyncBuffer{}
	g := kubeGateway(t, api.client(), log)
	stopped := false
	defer func() {
		if !stopped {
			open()
			g.shutdown()
		}
		if t.Failed() {
			t.Log(log.String())
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	ready := func() (int, string) {
		resp, err := client.Get("http://" + g.admin.Addrs()[0].String() + "/status/ready")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, "Kubernetes") {
		t.Fatalf("ready before the first config: %d %s", code, body)
	}
	open()
	until(t, "ready after the first config", func() bool { code, _ := ready(); return code == http.StatusOK })

	if l := log.String(); !strings.Contains(l, `"source":"client-go"`) || !strings.Contains(l, "RBAC says no") {
		t.Errorf("client-go's error is not in the gateway's log:\n%s", l)
	}

	api.create(t, webIngress("web", "web.test", "/v1", nil))
	until(t, "the Ingress routes to the pod", func() bool {
		code, body := get(t, client, g, "web.test", "/v1")
		return code == http.StatusOK && body == "pod-a"
	})

	// A second pod: both get traffic, without DNS.
	api.create(t, endpointSlice("web-b", portB))
	seen := map[string]bool{}
	until(t, "both pods get traffic", func() bool {
		_, body := get(t, client, g, "web.test", "/v1")
		seen[body] = true
		return seen["pod-a"] && seen["pod-b"]
	})

	// The path changes: the old one is gone, the new one serves.
	api.update(t, webIngress("web", "web.test", "/v2", nil))
	until(t, "the new path serves", func() bool { code, _ := get(t, client, g, "web.test", "/v2"); return code == http.StatusOK })
	if code, _ := get(t, client, g, "web.test", "/v1"); code != http.StatusNotFound {
		t.Fatalf("the old path: %d", code)
	}

	invalidBesideValid(t, api, client, g)
	takeoverRefused(t, api, client, g)

	// Deleted: its routes go.
	api.remove(t, ingressesGVR, "default", "web")
	until(t, "the deleted Ingress stops serving", func() bool {
		code, _ := get(t, client, g, "web.test", "/v2")
		return code == http.StatusNotFound
	})

	stopped = true
	if err := g.shutdown(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.kubeDone:
	default:
		t.Fatal("the controller still runs after shutdown")
	}
}

// fakeCluster is the API server: Kong's CRDs served, the Service web and
// its first pod. Its first list of Ingresses waits for open.
func fakeCluster(podPort int32) (fakeAPI, func()) {
	api := newFakeAPI(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
		endpointSlice("web-a", podPort))
	// So that readiness is seen before the first config.
	release := make(chan struct{})
	open := sync.OnceFunc(func() { close(release) })
	api.PrependReactor("list", "ingresses", func(k8stesting.Action) (bool, runtime.Object, error) {
		<-release
		return false, nil, nil
	})
	// The first list of Secrets is refused, as a missing RBAC rule would:
	// client-go says so through klog, into the gateway's log.
	var refused sync.Once
	api.PrependReactor("list", "secrets", func(k8stesting.Action) (handled bool, _ runtime.Object, err error) {
		refused.Do(func() {
			handled, err = true, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("RBAC says no"))
		})
		return handled, nil, err
	})
	return api, open
}

// invalidBesideValid adds an Ingress whose KongPlugin does not validate
// beside a valid one: the valid ones serve; the invalid one has a Warning
// Event saying why; the served ones the gateway's address in their
// status, the invalid one none.
func invalidBesideValid(t *testing.T, api fakeAPI, client *http.Client, g *gateway) {
	t.Helper()
	broken := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin",
		"metadata": map[string]any{"namespace": "default", "name": "broken"},
		"plugin":   "key-auth", "config": map[string]any{"hide_credentials": "maybe"}}}
	if _, err := api.Resource(kongPluginsGVR).Namespace("default").Create(ctx(), broken, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	api.create(t, webIngress("bad", "bad.test", "/", map[string]string{"konghq.com/plugins": "broken"}))
	api.create(t, webIngress("good", "good.test", "/", nil))
	until(t, "the valid Ingress serves", func() bool { code, _ := get(t, client, g, "good.test", "/"); return code == http.StatusOK })
	if code, _ := get(t, client, g, "bad.test", "/"); code != http.StatusNotFound {
		t.Fatalf("the invalid Ingress: %d", code)
	}
	if code, _ := get(t, client, g, "web.test", "/v2"); code != http.StatusOK {
		t.Fatalf("the Ingress before the invalid one: %d", code)
	}
	until(t, "a Warning Event on the invalid Ingress", func() bool {
		for _, e := range api.events(t, "default") {
			if e.InvolvedObject.Name == "bad" && e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, "hide_credentials") {
				return true
			}
		}
		return false
	})
	until(t, "the served Ingress's status", func() bool {
		lb := api.ingress(t, "default", "good").Status.LoadBalancer.Ingress
		return len(lb) == 1 && lb[0].IP == "192.0.2.7"
	})
	if in := api.ingress(t, "default", "bad"); len(in.Status.LoadBalancer.Ingress) != 0 {
		t.Fatalf("the invalid Ingress's status: %+v", in.Status)
	}

}

// takeoverRefused has another namespace claim web.test/v2 with a newer
// Ingress to its own pod: the traffic stays with default's pods, and the
// newer Ingress gets an Event naming the one that keeps it.
func takeoverRefused(t *testing.T, api fakeAPI, client *http.Client, g *gateway) {
	t.Helper()
	evil, port := pod(t, "pod-evil")
	defer evil.Close()
	api.create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "aaa", Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
	sl := endpointSlice("web-evil", port)
	sl.Namespace = "aaa"
	api.create(t, sl)
	in := webIngress("web", "web.test", "/v2", nil)
	in.Namespace, in.CreationTimestamp = "aaa", metav1.Now()
	api.create(t, in)
	until(t, "an Event on the newer Ingress", func() bool {
		for _, e := range api.events(t, "aaa") {
			if e.InvolvedObject.Name == "web" && strings.Contains(e.Message, "is already served by Ingress default/web") {
				return true
			}
		}
		return false
	})
	for range 10 {
		if code, body := get(t, client, g, "web.test", "/v2"); code != http.StatusOK || body == "pod-evil" {
			t.Fatalf("web.test/v2 after another namespace claimed it: %d %s", code, body)
		}
	}
	api.remove(t, ingressesGVR, "aaa", "web")
}

func ctx() context.Context { return context.Background() }

func TestKubernetesFlags(t *testing.T) {
	cfg := t.TempDir() + "/kong.yml"
	if err := os.WriteFile(cfg, []byte(emptyConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	// A kubeconfig naming a server nothing listens on: building the
	// clients does not reach it.
	kubeconfig := t.TempDir() + "/kubeconfig"
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"run", "--proxy-listen", "127.0.0.1:0", "--admin-listen", "off", "--access-log", "off"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-c", cfg, "--istio", "--watch-namespace", "a"}, "--watch-namespace, --istio: only with --kubernetes"},
		{[]string{"-c", cfg, "--kubernetes"}, "-c and --kubernetes"},
		{[]string{"--kubernetes", "--kubeconfig", t.TempDir() + "/none"}, "--kubeconfig"},
		{[]string{"--kubernetes", "--kubeconfig", kubeconfig, "--publish-service", "gateway"}, `--publish-service "gateway": want NAMESPACE/NAME`},
		{nil, "a config file is required"},
	} {
		var out, errb bytes.Buffer
		if code := Execute(append(slices.Clone(base), c.args...), &out, &errb); code == 0 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%q: exit %d, %q; want %q", c.args, code, errb.String(), c.want)
		}
	}
}
