package kube

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"sigs.k8s.io/yaml"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/kube/kubetest"
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
	checks  int
}

func newRecorder(t testing.TB) *recorder {
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

func (r *recorder) Validate(_ context.Context, data []byte) error {
	r.mu.Lock()
	r.checks++
	r.mu.Unlock()
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
	Plugins      []struct{ Name string }
	Certificates []struct {
		SNIs []struct{ Name string }
	}
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
	dc *dynamicfake.FakeDynamicClient
	mu sync.Mutex
	// served are the resources the fake discovery lists, by
	// group/version; discoveries counts its requests, the first fails of
	// which fail.
	served      map[string][]metav1.APIResource
	discoveries int
	fails       int
}

var customLists = map[schema.GroupVersionResource]string{
	kongPlugins: "KongPluginList", kongClusterPlugins: "KongClusterPluginList", kongConsumers: "KongConsumerList",
	istioGateways: "GatewayList", istioServices: "VirtualServiceList", istioRules: "DestinationRuleList",
	v1beta1(istioGateways): "GatewayList", v1beta1(istioServices): "VirtualServiceList", v1beta1(istioRules): "DestinationRuleList",
}

func v1beta1(gvr schema.GroupVersionResource) schema.GroupVersionResource {
	gvr.Version = "v1beta1"
	return gvr
}

// customKinds are the custom resources by kind: the dynamic fake guesses
// "gatewaies" for a Gateway given to its constructor, so they are created
// through their resource instead.
var customKinds = map[string]schema.GroupVersionResource{
	kindPlugin: kongPlugins, kindClusterPlugin: kongClusterPlugins, kindConsumer: kongConsumers,
	kindGateway: istioGateways, kindVirtual: istioServices, kindRule: istioRules,
}

func newCluster(t testing.TB, kong, istio bool, objs ...runtime.Object) *cluster {
	t.Helper()
	var typed []runtime.Object
	var custom []*unstructured.Unstructured
	for _, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok {
			custom = append(custom, u)
		} else {
			typed = append(typed, o)
		}
	}
	c := &cluster{dc: kubetest.NewFake(customLists, typed...), served: map[string][]metav1.APIResource{}}
	for _, u := range custom {
		c.create(t, customKinds[u.GetKind()], u)
	}
	if kong {
		c.serve("configuration.konghq.com/v1", "kongplugins", "kongclusterplugins", "kongconsumers")
	}
	if istio {
		c.serve("networking.istio.io/v1", "gateways", "virtualservices", "destinationrules")
	}
	return c
}

// run starts a controller on c and waits until it is ready; it is stopped
// (and Run has returned) when the test ends.
func (c *cluster) run(t *testing.T, opts Options) (*recorder, *logLines) {
	t.Helper()
	return c.runWith(t, newRecorder(t), opts)
}

func (c *cluster) runWith(t *testing.T, rec Applier, opts Options) (*recorder, *logLines) {
	t.Helper()
	ctl, logs, done := c.start(t, rec, opts)
	select {
	case <-ctl.Ready():
	case <-done:
		t.Fatal("Run returned before ready")
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after 10s")
	}
	r, _ := rec.(*recorder)
	return r, logs
}

// start starts a controller on c; it is stopped (and Run has returned)
// when the test ends. done is closed when Run returns.
func (c *cluster) start(t *testing.T, rec Applier, opts Options) (*Controller, *logLines, <-chan struct{}) {
	t.Helper()
	logs := &logLines{t: t}
	if opts.IngressClass == "" {
		opts.IngressClass = "turnpike"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.Debounce == 0 {
		opts.Debounce = 20 * time.Millisecond
	}
	ctl, err := New(c.client(), rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ctl.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	return ctl, logs, done
}

// eventually polls cond for up to 10s; what says what was awaited.
func eventually(t testing.TB, what func() string, cond func() bool) {
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

func (c *cluster) create(t testing.TB, gvr schema.GroupVersionResource, u *unstructured.Unstructured) {
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
	c := newCluster(t, true, false,
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
	err := kubetest.Create(c.dc, &netv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "turnpike",
		Annotations: map[string]string{netv1.AnnotationIsDefaultIngressClass: "true"}}})
	if err != nil {
		t.Fatal(err)
	}
	routesAre(t, rec, "a.test/a", "b.test/b", "c.test/c")
}

func TestControllerOtherClassNotWarned(t *testing.T) {
	c := newCluster(t, true, false,
		newIngress("default", "ours", turnpike, nil, "a.test", "/a", "svc"),
		newIngress("default", "theirs", class("nginx"), map[string]string{"konghq.com/plugins": "missing"}, "d.test", "/d", "svc"),
	)
	rec, _ := c.run(t, Options{})
	routesAre(t, rec, "a.test/a")
	objs := mustSources(t, c, Options{IngressClass: "turnpike"}).snapshot(Options{IngressClass: "turnpike"})
	res := build(objs, objs.units, newEndpoints(objs.services, objs.slices), Options{ClusterDomain: "cluster.local"})
	for _, w := range res.warnings {
		if strings.Contains(w.String(), "theirs") {
			t.Errorf("another class's Ingress warned about: %s", w.String())
		}
	}
}

// mustSources fills a second set of informers on c, for looking at what
// a reconcile reads.
func mustSources(t testing.TB, c *cluster, opts Options) *sources {
	t.Helper()
	publish, err := publishKey(opts.PublishService)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSources(ctx, c.client(), opts, publish, func() {})
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
	c := newCluster(t, true, false,
		newIngress("default", "api", turnpike, map[string]string{"konghq.com/plugins": "cors"}, "a.test", "/a", "svc"),
		newIngress("default", "plain", turnpike, nil, "b.test", "/b", "svc"),
		kongObject("KongPlugin", "default", "cors", nil, map[string]any{"plugin": "cors",
			"config": map[string]any{"origins": []any{"https://a.test"}}}),
	)
	rec, _ := c.run(t, Options{})
	routesAre(t, rec, "a.test/a cors", "b.test/b")
}

func TestControllerKongClusterPluginGlobalOnlyWithClass(t *testing.T) {
	c := newCluster(t, true, false, newIngress("default", "api", turnpike, nil, "a.test", "/a", "svc"))
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
	c := newCluster(t, true, false,
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
	c := newCluster(t, true, true, istioObjects()...)
	rec, _ := c.run(t, Options{Istio: true})
	routesAre(t, rec, "a.test/a", "shop.test/shop")
}

// Istio before 1.22 serves v1beta1 only.
func TestControllerIstioV1beta1(t *testing.T) {
	objs := istioObjects()
	c := newCluster(t, true, false, objs[2])
	c.serve("networking.istio.io/v1beta1", "gateways", "virtualservices", "destinationrules")
	for _, o := range objs[:2] {
		u := o.(*unstructured.Unstructured)
		u.SetAPIVersion("networking.istio.io/v1beta1")
		c.create(t, v1beta1(customKinds[u.GetKind()]), u)
	}
	rec, _ := c.run(t, Options{Istio: true})
	routesAre(t, rec, "a.test/a", "shop.test/shop")
}

// Each group/version is discovered once: Kong's kinds share one, Istio's
// another, and v1beta1 is asked for once when Istio's v1 is not served.
func TestControllerDiscoveryOncePerGroupVersion(t *testing.T) {
	for _, tc := range []struct {
		name        string
		istio, beta bool
		asked       int
	}{
		{"v1", true, false, 2},      // konghq.com/v1, istio.io/v1
		{"v1beta1", false, true, 3}, // and istio.io/v1beta1
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, true, tc.istio)
			if tc.beta {
				c.serve("networking.istio.io/v1beta1", "gateways", "virtualservices", "destinationrules")
			}
			c.run(t, Options{Istio: true})
			c.mu.Lock()
			asked := c.discoveries
			c.mu.Unlock()
			if asked != tc.asked {
				t.Errorf("%d discovery requests, want %d", asked, tc.asked)
			}
		})
	}
}

func TestControllerIstioIgnoredWithoutOption(t *testing.T) {
	c := newCluster(t, true, true, istioObjects()...)
	rec, _ := c.run(t, Options{})
	routesAre(t, rec, "a.test/a")
}

func TestControllerCustomResourcesNotServed(t *testing.T) {
	c := newCluster(t, false, false, newIngress("default", "api", turnpike, nil, "a.test", "/a", "svc"))
	rec, _ := c.run(t, Options{Istio: true})
	routesAre(t, rec, "a.test/a")
	if err := kubetest.Create(c.dc, newIngress("default", "b", turnpike, nil, "b.test", "/b", "svc")); err != nil {
		t.Fatal(err)
	}
	routesAre(t, rec, "a.test/a", "b.test/b")
}

func TestControllerDebounce(t *testing.T) {
	c := newCluster(t, true, false, newIngress("default", "api", turnpike, nil, "a.test", "/a", "svc"))
	rec, _ := c.run(t, Options{Debounce: 300 * time.Millisecond})
	routesAre(t, rec, "a.test/a")
	before := rec.count()
	want := []string{"a.test/a"}
	for i := range 10 {
		name := fmt.Sprintf("burst%d", i)
		if err := kubetest.Create(c.dc, newIngress("default", name, turnpike, nil, name+".test", "/", "svc")); err != nil {
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

// logLines is the controller's log, kept and sent to the test's.
type logLines struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

// count is how many lines hold s.
func (l *logLines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// await waits for one more line holding s than there were before.
func (l *logLines) await(t *testing.T, s string, before int) {
	t.Helper()
	eventually(t, func() string { return "a log line with " + s }, func() bool { return l.count(s) > before })
}

func newService(ns, name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
}

func TestControllerUnchangedNotReapplied(t *testing.T) {
	c := newCluster(t, true, false, newIngress("default", "api", turnpike, nil, "a.test", "/a", "svc"), newService("default", "svc"))
	rec, logs := c.run(t, Options{})
	routesAre(t, rec, "a.test/a")
	before, seen := rec.count(), logs.count("not applied again")
	in, err := kubetest.Ingress(c.dc, "default", "api")
	if err != nil {
		t.Fatal(err)
	}
	if err := kubetest.Update(c.dc, in); err != nil {
		t.Fatal(err)
	}
	svc := newService("default", "svc")
	svc.Annotations = map[string]string{"team": "payments"}
	if err := kubetest.Update(c.dc, svc); err != nil {
		t.Fatal(err)
	}
	logs.await(t, "not applied again", seen)
	if n := rec.count(); n != before {
		t.Fatalf("changes that leave the config the same made %d applies", n-before)
	}
}

func TestControllerInvalidIngressLeftOut(t *testing.T) {
	broken := kongObject("KongPlugin", "default", "broken", nil, map[string]any{"plugin": "key-auth",
		"config": map[string]any{"hide_credentials": "maybe"}})
	c := newCluster(t, true, false,
		newIngress("default", "good", turnpike, nil, "a.test", "/a", "svc"),
		newIngress("default", "bad", turnpike, map[string]string{"konghq.com/plugins": "broken"}, "b.test", "/b", "svc"),
		broken)
	rec, logs := c.run(t, Options{})
	routesAre(t, rec, "a.test/a")
	if logs.count("Ingress default/bad") == 0 {
		t.Error("the Ingress left out is not logged")
	}
	// Fixed, it comes in.
	broken.Object["config"] = map[string]any{"hide_credentials": true}
	if _, err := c.dc.Resource(kongPlugins).Namespace("default").Update(ctx, broken, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	routesAre(t, rec, "a.test/a", "b.test/b key-auth")
}

func TestControllerBrokenGlobalPluginKeepsConfig(t *testing.T) {
	c := newCluster(t, true, false, newIngress("default", "a", turnpike, nil, "a.test", "/a", "svc"))
	rec, logs := c.run(t, Options{})
	routesAre(t, rec, "a.test/a")
	before, seen := rec.count(), logs.count("shared objects")
	global := kongObject("KongClusterPlugin", "", "broken", map[string]string{"kubernetes.io/ingress.class": "turnpike"},
		map[string]any{"plugin": "correlation-id", "config": map[string]any{"generator": "dice"}})
	global.SetLabels(map[string]string{"global": "true"})
	c.create(t, kongClusterPlugins, global)
	if err := kubetest.Create(c.dc, newIngress("default", "b", turnpike, nil, "b.test", "/b", "svc")); err != nil {
		t.Fatal(err)
	}
	logs.await(t, "shared objects", seen)
	if rec.count() != before {
		t.Fatalf("a broken global plugin replaced the config in force: %q", rec.last(t).routes())
	}
	if err := c.dc.Resource(kongClusterPlugins).Delete(ctx, "broken", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	routesAre(t, rec, "a.test/a", "b.test/b")
}

func TestControllerDeletion(t *testing.T) {
	c := newCluster(t, true, false,
		newIngress("default", "a", turnpike, nil, "a.test", "/a", "svc"),
		newIngress("default", "b", turnpike, map[string]string{"konghq.com/plugins": "cors"}, "b.test", "/b", "svc"),
		kongObject("KongPlugin", "default", "cors", nil, map[string]any{"plugin": "cors"}))
	rec, _ := c.run(t, Options{})
	routesAre(t, rec, "a.test/a", "b.test/b cors")
	if err := c.dc.Resource(kongPlugins).Namespace("default").Delete(ctx, "cors", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	routesAre(t, rec, "a.test/a", "b.test/b")
	if err := c.dc.Resource(ingressesGVR).Namespace("default").Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	routesAre(t, rec, "a.test/a")
}

func TestControllerNamespaces(t *testing.T) {
	c := newCluster(t, true, false,
		newIngress("team-a", "a", turnpike, map[string]string{"konghq.com/plugins": "cors"}, "a.test", "/a", "svc"),
		newIngress("team-b", "b", turnpike, nil, "b.test", "/b", "svc"),
		newIngress("team-c", "c", turnpike, nil, "c.test", "/c", "svc"),
		kongObject("KongPlugin", "team-a", "cors", nil, map[string]any{"plugin": "cors"}),
		kongObject("KongPlugin", "team-b", "cors", nil, map[string]any{"plugin": "key-auth"}))
	rec, _ := c.run(t, Options{Namespaces: []string{"team-a", "team-c"}})
	routesAre(t, rec, "a.test/a cors", "c.test/c")
	if err := kubetest.Create(c.dc, newIngress("team-b", "b2", turnpike, nil, "b2.test", "/", "svc")); err != nil {
		t.Fatal(err)
	}
	if err := kubetest.Create(c.dc, newIngress("team-c", "c2", turnpike, nil, "c2.test", "/", "svc")); err != nil {
		t.Fatal(err)
	}
	routesAre(t, rec, "a.test/a cors", "c.test/c", "c2.test/")
}

// panicking is a reload path whose first Apply panics.
type panicking struct {
	*recorder
	once sync.Once
}

func (p *panicking) Apply(data []byte) error {
	p.once.Do(func() { panic("first apply") })
	return p.recorder.Apply(data)
}

// A panic while building is a failed reconcile: logged, retried, and the
// process lives on.
func TestControllerPanicRetried(t *testing.T) {
	c := newCluster(t, true, false, newIngress("default", "a", turnpike, nil, "a.test", "/a", "svc"))
	rec := newRecorder(t)
	_, logs := c.runWith(t, &panicking{recorder: rec}, Options{})
	if logs.count("first apply") == 0 {
		t.Error("the panic is not logged")
	}
	routesAre(t, rec, "a.test/a")
}

// failing is a reload path whose first n Applies fail, as a load that
// times out on a busy node does.
type failing struct {
	*recorder
	mu sync.Mutex
	n  int
}

func (f *failing) Apply(data []byte) error {
	f.mu.Lock()
	f.n--
	fail := f.n >= 0
	f.mu.Unlock()
	if fail {
		return errors.New("config load timed out")
	}
	return f.recorder.Apply(data)
}

func TestControllerRetriesAfterFailure(t *testing.T) {
	c := newCluster(t, true, false, newIngress("default", "a", turnpike, nil, "a.test", "/a", "svc"))
	rec := newRecorder(t)
	start := time.Now()
	// Two reconciles fail (two Applies each: the whole, then without the
	// units that do not validate alone): the objects' own events start
	// one, only the retry the third.
	c.runWith(t, &failing{recorder: rec, n: 4}, Options{})
	routesAre(t, rec, "a.test/a")
	if time.Since(start) < retryFirst {
		t.Errorf("ready after %s: no retry delay", time.Since(start))
	}
}

// flaky is a reload path on a busy node: the first Apply, and the first
// check of a config with b.test, run out of time.
type flaky struct {
	*recorder
	mu            sync.Mutex
	applied, bChk bool
}

func (f *flaky) Apply(data []byte) error {
	f.mu.Lock()
	first := !f.applied
	f.applied = true
	f.mu.Unlock()
	if first {
		return errors.New("it took longer than 10s")
	}
	return f.recorder.Apply(data)
}

func (f *flaky) Validate(ctx context.Context, data []byte) error {
	f.mu.Lock()
	first := !f.bChk && strings.Contains(string(data), "b.test")
	f.bChk = f.bChk || first
	f.mu.Unlock()
	if first {
		return errors.New("it took longer than 10s")
	}
	return f.recorder.Validate(ctx, data)
}

// A check that failed for want of time leaves nothing out: the Ingress
// is fine, its routes must not go.
func TestControllerTransientCheckLeavesNothingOut(t *testing.T) {
	c := newCluster(t, true, false,
		newIngress("default", "a", turnpike, nil, "a.test", "/a", "svc"),
		newIngress("default", "b", turnpike, nil, "b.test", "/b", "svc"))
	rec := newRecorder(t)
	_, logs := c.runWith(t, &flaky{recorder: rec}, Options{})
	routesAre(t, rec, "a.test/a", "b.test/b")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, data := range rec.applied {
		if !strings.Contains(string(data), "b.test") {
			t.Fatalf("a config without b.test was applied:\n%s", data)
		}
	}
	if logs.count("checking the objects one by one failed") == 0 {
		t.Error("the failed check is not logged")
	}
}

// Until a config from the cluster applies the gateway is not ready: a
// rollout keeps the replicas that serve.
func TestControllerNotReadyUntilApplied(t *testing.T) {
	global := kongObject("KongClusterPlugin", "", "broken", map[string]string{"kubernetes.io/ingress.class": "turnpike"},
		map[string]any{"plugin": "correlation-id", "config": map[string]any{"generator": "dice"}})
	global.SetLabels(map[string]string{"global": "true"})
	c := newCluster(t, true, false, newIngress("default", "a", turnpike, nil, "a.test", "/a", "svc"), global)
	rec := newRecorder(t)
	ctl, logs, _ := c.start(t, rec, Options{})
	logs.await(t, "shared objects", 0)
	select {
	case <-ctl.Ready():
		t.Fatal("ready with nothing applied")
	default:
	}
	if err := c.dc.Resource(kongClusterPlugins).Delete(ctx, "broken", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() string { return "ready once fixed" }, func() bool {
		select {
		case <-ctl.Ready():
			return true
		default:
			return false
		}
	})
	routesAre(t, rec, "a.test/a")
}

// Discovery failing at start (an API server restarting) is retried.
func TestControllerDiscoveryRetried(t *testing.T) {
	c := newCluster(t, true, false, newIngress("default", "a", turnpike, nil, "a.test", "/a", "svc"))
	c.fails = 2
	rec, logs := c.run(t, Options{})
	routesAre(t, rec, "a.test/a")
	if logs.count("cannot watch the cluster") != 2 {
		t.Errorf("%d discovery failures logged, want 2", logs.count("cannot watch the cluster"))
	}
}

func TestControllerPublishServiceChecked(t *testing.T) {
	for _, bad := range []string{"gateway", "/gateway", "ns/"} {
		if _, err := New(Client{Dynamic: kubetest.NewFake(customLists)}, newRecorder(t), Options{IngressClass: "turnpike", PublishService: bad}); err == nil || !strings.Contains(err.Error(), "--publish-service") {
			t.Errorf("--publish-service %q: %v", bad, err)
		}
	}
}

// tlsSecret is a kubernetes.io/tls Secret with a self-signed certificate
// for host.
func tlsSecret(t *testing.T, ns, name, host string) *corev1.Secret {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{
			"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			"tls.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		}}
}

// The typed Secrets reach both importers: an Ingress's TLS section and an
// Istio Gateway's credentialName become certificates.
func TestControllerTLSSecrets(t *testing.T) {
	objs := istioObjects()
	gw := objs[0].(*unstructured.Unstructured)
	gw.Object["spec"] = map[string]any{"servers": []any{map[string]any{
		"port": map[string]any{"number": int64(443), "name": "https", "protocol": "HTTPS"}, "hosts": []any{"shop.test"},
		"tls": map[string]any{"mode": "SIMPLE", "credentialName": "shop-tls"}}}}
	in := objs[2].(*netv1.Ingress)
	in.Spec.TLS = []netv1.IngressTLS{{Hosts: []string{"a.test"}, SecretName: "a-tls"}}
	objs = append(objs, tlsSecret(t, "default", "a-tls", "a.test"), tlsSecret(t, "default", "shop-tls", "shop.test"))
	c := newCluster(t, true, true, objs...)
	rec, _ := c.run(t, Options{Istio: true})
	routesAre(t, rec, "a.test/a", "shop.test/shop")
	var snis []string
	for _, crt := range rec.last(t).Certificates {
		for _, n := range crt.SNIs {
			snis = append(snis, n.Name)
		}
	}
	slices.Sort(snis)
	if !slices.Equal(snis, []string{"a.test", "shop.test"}) {
		t.Fatalf("certificates for %q", snis)
	}
}

func (r *recorder) validations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.checks
}

// While an invalid Ingress stands, changes elsewhere (a pod) do not check
// every unit again; a change to it does.
func TestControllerLeftOutNotCheckedAgain(t *testing.T) {
	c := newCluster(t, true, false,
		newIngress("default", "good", turnpike, nil, "a.test", "/a", "svc"),
		newIngress("default", "bad", turnpike, map[string]string{"konghq.com/plugins": "broken"}, "b.test", "/b", "svc"),
		newService("default", "svc"),
		kongObject("KongPlugin", "default", "broken", nil, map[string]any{"plugin": "key-auth",
			"config": map[string]any{"hide_credentials": "maybe"}}))
	rec, _ := c.run(t, Options{})
	routesAre(t, rec, "a.test/a")
	checks, applies := rec.validations(), rec.count()
	ready, port, portName := true, int32(8080), "http"
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "svc-1", Labels: map[string]string{discoveryv1.LabelServiceName: "svc"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
	}
	if err := kubetest.Create(c.dc, slice); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() string { return "the pod applied" }, func() bool { return rec.count() > applies })
	if n := rec.validations() - checks; n != 0 {
		t.Errorf("a pod's change checked %d units again", n)
	}
	in, err := kubetest.Ingress(c.dc, "default", "bad")
	if err != nil {
		t.Fatal(err)
	}
	in.Annotations = nil
	in.ResourceVersion = "2"
	if err := kubetest.Update(c.dc, in); err != nil {
		t.Fatal(err)
	}
	routesAre(t, rec, "a.test/a", "b.test/b")
}

// BenchmarkReconcileWithInvalidIngress is a reconcile while one Ingress
// of many does not validate: what every change (a pod rolling) costs as
// long as it stands.
func BenchmarkReconcileWithInvalidIngress(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			objs := []runtime.Object{kongObject("KongPlugin", "default", "broken", nil, map[string]any{"plugin": "key-auth",
				"config": map[string]any{"hide_credentials": "maybe"}})}
			for i := range n {
				name := fmt.Sprintf("app%03d", i)
				var ann map[string]string
				if i == 0 {
					ann = map[string]string{"konghq.com/plugins": "broken"}
				}
				objs = append(objs, newIngress("default", name, turnpike, ann, name+".test", "/", name), newService("default", name))
			}
			c := newCluster(b, true, false, objs...)
			opts := Options{IngressClass: "turnpike", ClusterDomain: "cluster.local", Logger: slog.New(slog.DiscardHandler)}
			ctl, err := New(c.client(), newRecorder(b), opts)
			if err != nil {
				b.Fatal(err)
			}
			ctl.src = mustSources(b, c, opts)
			if !ctl.reconcile(ctx) {
				b.Fatal("nothing applied")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				ctl.reconcile(ctx)
			}
		})
	}
}
