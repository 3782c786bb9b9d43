package kube

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/reload"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/store"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// recorder is the reload path of a gateway (a real Loader over a
// snapshot.Holder, with every plugin) that keeps what it was given.
type recorder struct {
	l       *reload.Loader
	mu      sync.Mutex
	applied [][]byte
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	reg, err := plugin.NewRegistry(all.Registrations())
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	deps := snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools}),
		Env: plugin.Env{Logger: slog.New(slog.DiscardHandler), Store: store.NewProvider()}}
	l := reload.New(&snapshot.Holder{}, deps, "", config.Options{}, nil)
	t.Cleanup(l.Close)
	return &recorder{l: l}
}

func (r *recorder) Apply(data []byte) error {
	if _, err := r.l.Apply(data, "kubernetes"); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = append(r.applied, data)
	return nil
}

func (r *recorder) Validate(data []byte) error {
	_, err := r.l.Check(func() ([]byte, error) { return data, nil })
	return err
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied)
}

// last is the config last applied, decoded.
func (r *recorder) last(t *testing.T) *kongConfig {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.applied) == 0 {
		return &kongConfig{}
	}
	var c kongConfig
	if err := yaml.Unmarshal(r.applied[len(r.applied)-1], &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// kongConfig is the part of an applied config the tests look at.
type kongConfig struct {
	Services []struct {
		Name   string
		Host   string
		Routes []struct {
			Name    string
			Hosts   []string
			Paths   []string
			Plugins []struct{ Name string }
		}
	}
	Plugins   []struct{ Name string }
	Consumers []struct {
		Username string
		Keyauth  []struct{ Key string } `json:"keyauth_credentials"`
	}
}

// routes are the config's routes as "host/path -> plugins".
func (c *kongConfig) routes() []string {
	var out []string
	for _, s := range c.Services {
		for _, r := range s.Routes {
			var ps []string
			for _, p := range r.Plugins {
				ps = append(ps, p.Name)
			}
			for _, p := range r.Paths {
				s := strings.Join(r.Hosts, ",") + p
				if len(ps) > 0 {
					s += " " + strings.Join(ps, ",")
				}
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (c *kongConfig) globals() []string {
	var out []string
	for _, p := range c.Plugins {
		out = append(out, p.Name)
	}
	return out
}

// cluster is a fake API server's clients with Kong's and, when asked,
// Istio's APIs served.
type cluster struct {
	kc *fake.Clientset
	dc *dynamicfake.FakeDynamicClient
}

var customLists = map[schema.GroupVersionResource]string{
	kongPlugins: "KongPluginList", kongClusterPlugins: "KongClusterPluginList", kongConsumers: "KongConsumerList",
	istioGateways: "GatewayList", istioServices: "VirtualServiceList", istioRules: "DestinationRuleList",
}

func newCluster(kong, istio bool, objs ...runtime.Object) *cluster {
	var typed, custom []runtime.Object
	for _, o := range objs {
		if _, ok := o.(*unstructured.Unstructured); ok {
			custom = append(custom, o)
		} else {
			typed = append(typed, o)
		}
	}
	c := &cluster{kc: fake.NewClientset(typed...),
		dc: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), customLists, custom...)}
	if kong {
		c.kc.Resources = append(c.kc.Resources, &metav1.APIResourceList{GroupVersion: "configuration.konghq.com/v1",
			APIResources: []metav1.APIResource{{Name: "kongplugins"}, {Name: "kongclusterplugins"}, {Name: "kongconsumers"}}})
	}
	if istio {
		c.kc.Resources = append(c.kc.Resources, &metav1.APIResourceList{GroupVersion: "networking.istio.io/v1",
			APIResources: []metav1.APIResource{{Name: "gateways"}, {Name: "virtualservices"}, {Name: "destinationrules"}}})
	}
	return c
}

// run starts a controller on c and waits until it is ready; it is stopped
// (and Run has returned) when the test ends.
func (c *cluster) run(t *testing.T, opts Options) (*recorder, *Controller) {
	t.Helper()
	rec := newRecorder(t)
	if opts.IngressClass == "" {
		opts.IngressClass = "turnpike"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	if opts.Debounce == 0 {
		opts.Debounce = 20 * time.Millisecond
	}
	ctl, err := New(c.kc, c.dc, rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	select {
	case <-ctl.Ready():
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after 10s")
	}
	return rec, ctl
}

// eventually polls cond for up to 10s; what says what was awaited.
func eventually(t *testing.T, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// routesAre waits until the last config applied routes exactly want.
func routesAre(t *testing.T, rec *recorder, want ...string) {
	t.Helper()
	var got []string
	eventually(t, func() string { return fmt.Sprintf("routes %q, want %q", got, want) }, func() bool {
		got = rec.last(t).routes()
		return slices.Equal(got, want)
	})
}

var ctx = context.Background()

func newIngress(ns, name string, class *string, ann map[string]string, host, path, svc string) *netv1.Ingress {
	pt := netv1.PathTypeImplementationSpecific
	return &netv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann},
		Spec: netv1.IngressSpec{IngressClassName: class, Rules: []netv1.IngressRule{{Host: host,
			IngressRuleValue: netv1.IngressRuleValue{HTTP: &netv1.HTTPIngressRuleValue{Paths: []netv1.HTTPIngressPath{{
				Path: path, PathType: &pt, Backend: netv1.IngressBackend{Service: &netv1.IngressServiceBackend{
					Name: svc, Port: netv1.ServiceBackendPort{Number: 80}}}}}}}}}},
	}
}

func class(s string) *string { return &s }

var turnpike = class("turnpike")

func kongObject(kind, ns, name string, ann map[string]string, fields map[string]any) *unstructured.Unstructured {
	meta := map[string]any{"name": name}
	if ns != "" {
		meta["namespace"] = ns
	}
	if len(ann) > 0 {
		a := map[string]any{}
		for k, v := range ann {
			a[k] = v
		}
		meta["annotations"] = a
	}
	obj := map[string]any{"apiVersion": "configuration.konghq.com/v1", "kind": kind, "metadata": meta}
	for k, v := range fields {
		obj[k] = v
	}
	return &unstructured.Unstructured{Object: obj}
}

func (c *cluster) create(t *testing.T, gvr schema.GroupVersionResource, u *unstructured.Unstructured) {
	t.Helper()
	var err error
	if ns := u.GetNamespace(); ns != "" {
		_, err = c.dc.Resource(gvr).Namespace(ns).Create(ctx, u, metav1.CreateOptions{})
	} else {
		_, err = c.dc.Resource(gvr).Create(ctx, u, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestControllerClassFiltering(t *testing.T) {
	c := newCluster(true, false,
		newIngress("default", "by-name", turnpike, nil, "a.test", "/a", "svc"),
		newIngress("default", "by-annotation", nil, map[string]string{"kubernetes.io/ingress.class": "turnpike"}, "b.test", "/b", "svc"),
		newIngress("default", "class-less", nil, nil, "c.test", "/c", "svc"),
		newIngress("default", "other", class("nginx"), nil, "d.test", "/d", "svc"),
		newIngress("default", "other-annotation", nil, map[string]string{"kubernetes.io/ingress.class": "nginx"}, "e.test", "/e", "svc"),
	)
	rec, _ := c.run(t, Options{})
	routesAre(t, rec, "a.test/a", "b.test/b")
	// Once the IngressClass is the cluster's default, it takes the
	// class-less Ingress too; never another class's.
	_, err := c.kc.NetworkingV1().IngressClasses().Create(ctx, &netv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "turnpike",
		Annotations: map[string]string{netv1.AnnotationIsDefaultIngressClass: "true"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	routesAre(t, rec, "a.test/a", "b.test/b", "c.test/c")
}

func TestControllerOtherClassNotWarned(t *testing.T) {
	c := newCluster(true, false,
		newIngress("default", "ours", turnpike, nil, "a.test", "/a", "svc"),
		newIngress("default", "theirs", class("nginx"), map[string]string{"konghq.com/plugins": "missing"}, "d.test", "/d", "svc"),
	)
	rec, _ := c.run(t, Options{})
	routesAre(t, rec, "a.test/a")
	objs := mustSources(t, c).snapshot(Options{IngressClass: "turnpike"})
	res := build(objs, objs.units, nil, Options{ClusterDomain: "cluster.local"})
	for _, w := range res.warnings {
		if strings.Contains(w.String(), "theirs") {
			t.Errorf("another class's Ingress warned about: %s", w.String())
		}
	}
}

// mustSources fills a second set of informers on c, for looking at what
// a reconcile reads.
func mustSources(t *testing.T, c *cluster) *sources {
	t.Helper()
	s, err := newSources(c.kc, c.dc, Options{IngressClass: "turnpike"}, func() {})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s.start(ctx)
	for _, ok := range s.synced() {
		eventually(t, func() string { return "caches filled" }, ok)
	}
	return s
}

func TestControllerKongPluginAttached(t *testing.T) {
	c := newCluster(true, false,
		newIngress("default", "api", turnpike, map[string]string{"konghq.com/plugins": "cors"}, "a.test", "/a", "svc"),
		newIngress("default", "plain", turnpike, nil, "b.test", "/b", "svc"),
		kongObject("KongPlugin", "default", "cors", nil, map[string]any{"plugin": "cors",
			"config": map[string]any{"origins": []any{"https://a.test"}}}),
	)
	rec, _ := c.run(t, Options{})
	routesAre(t, rec, "a.test/a cors", "b.test/b")
}

func TestControllerKongClusterPluginGlobalOnlyWithClass(t *testing.T) {
	c := newCluster(true, false, newIngress("default", "api", turnpike, nil, "a.test", "/a", "svc"))
	rec, _ := c.run(t, Options{})
	routesAre(t, rec, "a.test/a")
	global := map[string]any{"plugin": "correlation-id", "config": map[string]any{"header_name": "X-Id"}}
	// Another class's (and a class-less one, the class not being the
	// default) is not the gateway's.
	other := kongObject("KongClusterPlugin", "", "other", map[string]string{"kubernetes.io/ingress.class": "nginx"}, global)
	other.SetLabels(map[string]string{"global": "true"})
	c.create(t, kongClusterPlugins, other)
	none := kongObject("KongClusterPlugin", "", "none", nil, global)
	none.SetLabels(map[string]string{"global": "true"})
	c.create(t, kongClusterPlugins, none)
	mine := kongObject("KongClusterPlugin", "", "mine", map[string]string{"kubernetes.io/ingress.class": "turnpike"}, global)
	mine.SetLabels(map[string]string{"global": "true"})
	c.create(t, kongClusterPlugins, mine)
	eventually(t, func() string { return "one global plugin" }, func() bool { return slices.Equal(rec.last(t).globals(), []string{"correlation-id"}) })
	if n := len(rec.last(t).Plugins); n != 1 {
		t.Fatalf("%d global plugins, want the class's one", n)
	}
}

func TestControllerKongConsumerWithCredential(t *testing.T) {
	c := newCluster(true, false,
		newIngress("default", "api", turnpike, map[string]string{"konghq.com/plugins": "auth"}, "a.test", "/a", "svc"),
		kongObject("KongPlugin", "default", "auth", nil, map[string]any{"plugin": "key-auth"}),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "alice-key",
			Labels: map[string]string{"konghq.com/credential": "key-auth"}}, Data: map[string][]byte{"key": []byte("s3cret")}},
		kongObject("KongConsumer", "default", "alice", map[string]string{"kubernetes.io/ingress.class": "turnpike"},
			map[string]any{"username": "alice", "credentials": []any{"alice-key"}}),
		// Not the class's: left alone.
		kongObject("KongConsumer", "default", "bob", nil, map[string]any{"username": "bob"}),
	)
	rec, _ := c.run(t, Options{})
	routesAre(t, rec, "a.test/a key-auth")
	cons := rec.last(t).Consumers
	if len(cons) != 1 || cons[0].Username != "alice" || len(cons[0].Keyauth) != 1 || cons[0].Keyauth[0].Key != "s3cret" {
		t.Fatalf("consumers: %+v", cons)
	}
}

func istioObjects() []runtime.Object {
	gw := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"namespace": "default", "name": "gw"},
		"spec": map[string]any{"servers": []any{map[string]any{"port": map[string]any{"number": int64(80), "name": "http", "protocol": "HTTP"},
			"hosts": []any{"shop.test"}}}}}}
	vs := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"namespace": "default", "name": "shop"},
		"spec": map[string]any{"hosts": []any{"shop.test"}, "gateways": []any{"gw"},
			"http": []any{map[string]any{"match": []any{map[string]any{"uri": map[string]any{"prefix": "/shop"}}},
				"route": []any{map[string]any{"destination": map[string]any{"host": "shop", "port": map[string]any{"number": int64(80)}}}}}}}}}
	return []runtime.Object{gw, vs, newIngress("default", "api", turnpike, nil, "a.test", "/a", "svc")}
}

func TestControllerIstio(t *testing.T) {
	c := newCluster(true, true, istioObjects()...)
	rec, _ := c.run(t, Options{Istio: true})
	routesAre(t, rec, "a.test/a", "shop.test/shop")
}

func TestControllerIstioIgnoredWithoutOption(t *testing.T) {
	c := newCluster(true, true, istioObjects()...)
	rec, _ := c.run(t, Options{})
	routesAre(t, rec, "a.test/a")
}

func TestControllerCustomResourcesNotServed(t *testing.T) {
	c := newCluster(false, false, newIngress("default", "api", turnpike, nil, "a.test", "/a", "svc"))
	rec, _ := c.run(t, Options{Istio: true})
	routesAre(t, rec, "a.test/a")
	if _, err := c.kc.NetworkingV1().Ingresses("default").Create(ctx, newIngress("default", "b", turnpike, nil, "b.test", "/b", "svc"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	routesAre(t, rec, "a.test/a", "b.test/b")
}

func TestControllerDebounce(t *testing.T) {
	c := newCluster(true, false, newIngress("default", "api", turnpike, nil, "a.test", "/a", "svc"))
	rec, _ := c.run(t, Options{Debounce: 300 * time.Millisecond})
	routesAre(t, rec, "a.test/a")
	before := rec.count()
	want := []string{"a.test/a"}
	for i := range 10 {
		name := fmt.Sprintf("burst%d", i)
		if _, err := c.kc.NetworkingV1().Ingresses("default").Create(ctx, newIngress("default", name, turnpike, nil, name+".test", "/", "svc"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, name+".test/")
	}
	slices.Sort(want)
	routesAre(t, rec, want...)
	if n := rec.count() - before; n != 1 {
		t.Fatalf("ten quick changes made %d applies, want 1", n)
	}
}

// testWriter sends the controller's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
