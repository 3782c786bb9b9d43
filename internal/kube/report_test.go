package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/kube/kubetest"
)

func testIngress(ns, name string, status ...netv1.IngressLoadBalancerIngress) *netv1.Ingress {
	return &netv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: kindIngress},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name)},
		Status:     netv1.IngressStatus{LoadBalancer: netv1.IngressLoadBalancerStatus{Ingress: status}},
	}
}

func testPlugin(ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("configuration.konghq.com/v1")
	u.SetKind(kindPlugin)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetUID(types.UID("uid-plugin-" + name))
	return u
}

func newTestReporter(t *testing.T, dc *dynamicfake.FakeDynamicClient, opts Options) *reporter {
	t.Helper()
	opts.Component, opts.Host = "turnpike", "gw-0"
	r, err := newReporter(dc, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.close)
	return r
}

// eventWrites counts the Events created or patched (the recorder folds a
// repeated Event into a patch of its count: both are a repeat).
func eventWrites(dc *dynamicfake.FakeDynamicClient) int {
	n := 0
	for _, a := range dc.Actions() {
		if a.GetResource().Resource == "events" && (a.GetVerb() == "create" || a.GetVerb() == "patch") {
			n++
		}
	}
	return n
}

// waitEvents waits until the asynchronous recorder has written the Event
// with message marker, and returns every Event.
func waitEvents(t *testing.T, dc *dynamicfake.FakeDynamicClient, marker string) []corev1.Event {
	t.Helper()
	var events []corev1.Event
	eventually(t, func() string { return fmt.Sprintf("no Event with %q in %d Events", marker, len(events)) }, func() bool {
		var err error
		if events, err = kubetest.Events(dc, ""); err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(events, func(e corev1.Event) bool { return strings.Contains(e.Message, marker) })
	})
	return events
}

// step reports in with the sentinel mark and waits until its Event is
// written; it returns every Event.
func step(t *testing.T, r *reporter, dc *dynamicfake.FakeDynamicClient, in reportInput, mark string) []corev1.Event {
	t.Helper()
	r.update(context.Background(), withSentinel(in, mark))
	return waitEvents(t, dc, mark)
}

func findEvent(events []corev1.Event, kind, name, marker string) *corev1.Event {
	for i, e := range events {
		if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name && strings.Contains(e.Message, marker) {
			return &events[i]
		}
	}
	return nil
}

// fixture is a cluster with two Ingresses, a KongPlugin and a
// KongClusterPlugin, as the controller's snapshot has them.
type fixture struct {
	objs                *objects
	good, bad           *unit
	plugin, cluster     *unstructured.Unstructured
	sentinel            *unstructured.Unstructured
	goodIngress, badIng *netv1.Ingress
}

func newFixture() *fixture {
	f := &fixture{objs: &objects{byID: map[string]runtime.Object{}}}
	f.goodIngress, f.badIng = testIngress("shop", "good"), testIngress("shop", "bad")
	f.objs.addUnit(kindIngress, f.goodIngress, false)
	f.objs.addUnit(kindIngress, f.badIng, false)
	f.good, f.bad = f.objs.units[0], f.objs.units[1]
	f.plugin = testPlugin("shop", "limit")
	f.objs.document(kindPlugin, f.plugin)
	f.cluster = testPlugin("", "global")
	f.cluster.SetKind(kindClusterPlugin)
	f.objs.document(kindClusterPlugin, f.cluster)
	f.sentinel = testPlugin("shop", "sentinel")
	f.objs.document(kindPlugin, f.sentinel)
	return f
}

func (f *fixture) input() reportInput {
	var ws importer.Warnings
	ws.Add("Ingress shop/good", "metadata.annotations[nginx.ingress.kubernetes.io/limit-rps]", "not a number: ignored")
	ws.Add("KongPlugin shop/limit (KongPlugin shop/limit:1)", "configFrom", "config and configFrom are exclusive: config kept")
	ws.Add("KongClusterPlugin global", "plugin", "no plugin name: not attached")
	ws.Add("api.yaml:3 paths./x.get", "", "skipped")
	return reportInput{objects: f.objs, warnings: ws,
		invalid: map[*unit]error{f.bad: errors.New("routes[0].paths[0]: invalid regex")}}
}

// withSentinel adds a warning whose Event, once written, shows the
// recorder has written every Event before it (it writes in order).
func withSentinel(in reportInput, mark string) reportInput {
	in.warnings = append(slices.Clone(in.warnings), importer.Warning{Object: "KongPlugin shop/sentinel", Message: mark})
	return in
}

func TestReportEvents(t *testing.T) {
	f := newFixture()
	dc := kubetest.NewFake(customLists)
	r := newTestReporter(t, dc, Options{})
	events := step(t, r, dc, f.input(), "mark-1")
	for _, c := range []struct{ kind, ns, name, reason, marker string }{
		{"Ingress", "shop", "bad", reasonApplyFailed, "left out of the gateway's configuration: routes[0].paths[0]: invalid regex"},
		{"Ingress", "shop", "good", reasonTranslationFailed, "metadata.annotations[nginx.ingress.kubernetes.io/limit-rps]: not a number: ignored"},
		{"KongPlugin", "shop", "limit", reasonTranslationFailed, "configFrom: config and configFrom are exclusive"},
		// A cluster-scoped object's Events go to the default namespace.
		{"KongClusterPlugin", "default", "global", reasonTranslationFailed, "plugin: no plugin name"},
	} {
		e := findEvent(events, c.kind, c.name, c.marker)
		if e == nil {
			t.Errorf("no Event on %s %s with %q; got %v", c.kind, c.name, c.marker, events)
			continue
		}
		if e.Type != corev1.EventTypeWarning || e.Reason != c.reason || e.Namespace != c.ns {
			t.Errorf("%s %s: type %q reason %q namespace %q", c.kind, c.name, e.Type, e.Reason, e.Namespace)
		}
		if e.Source.Component != "turnpike" || e.Source.Host != "gw-0" {
			t.Errorf("%s %s: source %+v", c.kind, c.name, e.Source)
		}
	}
	if e := findEvent(events, "Ingress", "good", "invalid regex"); e != nil {
		t.Errorf("the valid Ingress got the invalid one's Event: %v", e)
	}
	// 4 Events and the sentinel; the file:line warning is only logged.
	if n := eventWrites(dc); n != 5 {
		t.Errorf("%d Events written, want 5: %v", n, events)
	}
}

func TestReportEventsNotRepeated(t *testing.T) {
	f := newFixture()
	dc := kubetest.NewFake(customLists)
	r := newTestReporter(t, dc, Options{})
	in := f.input()
	step(t, r, dc, in, "mark-1")
	first := eventWrites(dc)

	// The same problems again: nothing new but the next sentinel.
	step(t, r, dc, in, "mark-2")
	if n := eventWrites(dc); n != first+1 {
		t.Fatalf("same input: %d Event writes, want %d (only the sentinel)", n, first+1)
	}

	// A changed message is told.
	in.invalid[f.bad] = errors.New("routes[0].paths[0]: another reason")
	events := step(t, r, dc, in, "mark-3")
	if n := eventWrites(dc); n != first+3 {
		t.Errorf("changed message: %d Event writes, want %d", n, first+3)
	}
	if findEvent(events, "Ingress", "bad", "another reason") == nil {
		t.Errorf("the changed message was not sent: %v", events)
	}

	// Fixed, then broken again the same way: told again.
	fixed := f.input()
	fixed.invalid = map[*unit]error{}
	step(t, r, dc, fixed, "mark-4")
	before := eventWrites(dc)
	step(t, r, dc, in, "mark-5")
	if n := eventWrites(dc); n != before+2 {
		t.Errorf("problem back: %d Event writes, want %d", n, before+2)
	}
}

func TestReportEventsFailedKeepsStanding(t *testing.T) {
	f := newFixture()
	dc := kubetest.NewFake(customLists)
	r := newTestReporter(t, dc, Options{})
	in := f.input()
	step(t, r, dc, in, "mark-1")
	// Nothing applied (the shared objects fail): the units were not
	// checked; when it recovers, the problems still standing are not
	// told again.
	step(t, r, dc, reportInput{objects: f.objs,
		failed: errors.New("KongClusterPlugin global: plugin: unknown plugin")}, "mark-2")
	// The failure's Event comes after the sentinel's (warnings are told
	// first), so it is waited for itself.
	events := waitEvents(t, dc, "no configuration applied")
	if e := findEvent(events, "KongClusterPlugin", "global", "no configuration applied: KongClusterPlugin global: plugin: unknown plugin"); e == nil || e.Reason != reasonApplyFailed {
		t.Errorf("the failure names the KongClusterPlugin: want its Event, got %v", e)
	}
	before := eventWrites(dc)
	step(t, r, dc, in, "mark-3")
	if n := eventWrites(dc); n != before+1 {
		t.Errorf("after recovery: %d Event writes, want %d (only the sentinel)", n, before+1)
	}
}

func TestReportEventsBounded(t *testing.T) {
	f := newFixture()
	dc := kubetest.NewFake(customLists)
	var logs bytes.Buffer
	r := newTestReporter(t, dc, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	var ws importer.Warnings
	for i := range 30 {
		ws.Add("Ingress shop/good", fmt.Sprintf("spec.rules[%d]", i), "no http paths: nothing routed")
	}
	long := strings.Repeat("é", 2000)
	ws.Add("KongPlugin shop/limit", "config", "%s", long)
	ws.Add("api.yaml:3 paths./x.get", "", "skipped")
	in := reportInput{objects: f.objs, warnings: ws}
	events := step(t, r, dc, in, "mark-1")
	// The problems past the Events, and those of no object, are logged,
	// once while they stand.
	r.update(context.Background(), withSentinel(in, "mark-2"))
	for _, line := range []string{"Ingress shop/good: spec.rules[29]: no http paths", "api.yaml:3 paths./x.get: skipped"} {
		if n := strings.Count(logs.String(), line); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", line, n, logs.String())
		}
	}
	var onGood int
	for _, e := range events {
		if e.InvolvedObject.Name == "good" {
			onGood++
		}
	}
	if onGood != maxNotesPerObject+1 {
		t.Errorf("%d Events on the Ingress, want %d", onGood, maxNotesPerObject+1)
	}
	if findEvent(events, "Ingress", "good", "and 21 more problems (in the gateway's log)") == nil {
		t.Errorf("no \"and 10 more\" Event: %v", events)
	}
	e := findEvent(events, "KongPlugin", "limit", "config: ")
	if e == nil || len(e.Message) > maxEventMessage || !strings.HasSuffix(e.Message, "é…") {
		t.Errorf("long message not cut at a character within %d bytes: %v", maxEventMessage, e)
	}
}

func TestReportEventsPerReconcile(t *testing.T) {
	objs := &objects{byID: map[string]runtime.Object{}}
	var ws importer.Warnings
	const plugins = 25
	for i := range plugins {
		name := fmt.Sprintf("p%02d", i)
		objs.document(kindPlugin, testPlugin("shop", name))
		for j := range maxNotesPerObject + 1 {
			ws.Add("KongPlugin shop/"+name, fmt.Sprintf("config.f%d", j), "ignored")
		}
	}
	dc := kubetest.NewFake(customLists)
	r := newTestReporter(t, dc, Options{})
	in := reportInput{objects: objs, warnings: ws}
	waitWrites := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for eventWrites(dc) < want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		if n := eventWrites(dc); n != want {
			t.Fatalf("%d Event writes, want %d", n, want)
		}
	}
	r.update(context.Background(), in)
	waitWrites(maxEventsPerReconcile)
	// The rest go with the next reconcile, and nothing more after.
	r.update(context.Background(), in)
	waitWrites(plugins * (maxNotesPerObject + 1))
	r.update(context.Background(), in)
	waitWrites(plugins * (maxNotesPerObject + 1))
}

func TestObjectsNamed(t *testing.T) {
	f := newFixture()
	for name, want := range map[string]string{
		"Ingress shop/good":                               "good",
		"Ingress shop/good:1":                             "good",
		"KongPlugin shop/limit (KongPlugin shop/limit:1)": "limit",
		"KongClusterPlugin global":                        "global",
		"api.yaml:3 paths./x.get":                         "",
		"Ingress shop/gone":                               "",
		"Ingress shop/good:x":                             "",
	} {
		got := ""
		if obj := f.objs.named(name); obj != nil {
			got = obj.(metav1.Object).GetName()
		}
		if got != want {
			t.Errorf("named(%q) = %q, want %q", name, got, want)
		}
	}
}

func statusWrites(dc *dynamicfake.FakeDynamicClient) int {
	n := 0
	for _, a := range dc.Actions() {
		if u, ok := a.(k8stesting.UpdateAction); ok && u.GetResource().Resource == "ingresses" && u.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

func lb(ip, host string) netv1.IngressLoadBalancerIngress {
	return netv1.IngressLoadBalancerIngress{IP: ip, Hostname: host}
}

func TestReportStatus(t *testing.T) {
	loadBalancer := func(points ...corev1.LoadBalancerIngress) *corev1.Service {
		return &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.0.0.9"},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: points}}}
	}
	for _, c := range []struct {
		name    string
		publish []string
		svc     *corev1.Service
		want    []netv1.IngressLoadBalancerIngress
	}{
		{"load balancer IPs", nil, loadBalancer(corev1.LoadBalancerIngress{IP: "203.0.113.9"}, corev1.LoadBalancerIngress{IP: "203.0.113.7"}),
			[]netv1.IngressLoadBalancerIngress{lb("203.0.113.7", ""), lb("203.0.113.9", "")}},
		{"load balancer host name", nil, loadBalancer(corev1.LoadBalancerIngress{Hostname: "lb.example.net"}),
			[]netv1.IngressLoadBalancerIngress{lb("", "lb.example.net")}},
		{"pending load balancer", nil, loadBalancer(), nil},
		{"external IPs", nil, &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.0.0.9",
			ExternalIPs: []string{"198.51.100.4"}}}, []netv1.IngressLoadBalancerIngress{lb("198.51.100.4", "")}},
		{"cluster IPs", nil, &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.9", ClusterIPs: []string{"10.0.0.9", "fd00::9"}}},
			[]netv1.IngressLoadBalancerIngress{lb("10.0.0.9", ""), lb("fd00::9", "")}},
		{"headless", nil, &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}}, nil},
		{"no publish service", nil, nil, nil},
		{"publish addresses", []string{"gw.example.com", "192.0.2.1"}, loadBalancer(corev1.LoadBalancerIngress{IP: "203.0.113.9"}),
			[]netv1.IngressLoadBalancerIngress{lb("", "gw.example.com"), lb("192.0.2.1", "")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ing := testIngress("shop", "good")
			dc := kubetest.NewFake(customLists, ing)
			r := newTestReporter(t, dc, Options{PublishAddresses: c.publish})
			objs := &objects{byID: map[string]runtime.Object{}, publish: c.svc}
			r.update(context.Background(), reportInput{objects: objs, ingresses: []*netv1.Ingress{ing}})
			got, err := kubetest.Ingress(dc, "shop", "good")
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.Status.LoadBalancer.Ingress) != fmt.Sprint(c.want) {
				t.Fatalf("status %v, want %v", got.Status.LoadBalancer.Ingress, c.want)
			}
			writes := statusWrites(dc)
			if want := min(len(c.want), 1); writes != want {
				t.Fatalf("%d status writes, want %d", writes, want)
			}
			// The next reconcile sees the Ingress as written: equal, no
			// write.
			r.update(context.Background(), reportInput{objects: objs, ingresses: []*netv1.Ingress{got}})
			if n := statusWrites(dc); n != writes {
				t.Errorf("equal status rewritten: %d writes, want %d", n, writes)
			}
		})
	}
}

func TestReportStatusOnlyServed(t *testing.T) {
	f := newFixture()
	f.objs.publish = &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.9"}}
	dc := kubetest.NewFake(customLists, f.goodIngress, f.badIng)
	r := newTestReporter(t, dc, Options{})
	invalid := map[*unit]error{f.bad: errors.New("invalid")}
	r.update(context.Background(), reportInput{objects: f.objs, invalid: invalid, ingresses: servedIngresses(f.objs, invalid)})
	for name, want := range map[string]int{"good": 1, "bad": 0} {
		got, err := kubetest.Ingress(dc, "shop", name)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(got.Status.LoadBalancer.Ingress); n != want {
			t.Errorf("Ingress %s: %d addresses in its status, want %d", name, n, want)
		}
	}
}

func TestReportStatusConflictNoLoop(t *testing.T) {
	ing := testIngress("shop", "good")
	dc := kubetest.NewFake(customLists, ing)
	calls := 0
	dc.PrependReactor("update", "ingresses", func(k8stesting.Action) (bool, runtime.Object, error) {
		calls++
		return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"}, "good", errors.New("changed"))
	})
	r := newTestReporter(t, dc, Options{PublishAddresses: []string{"192.0.2.1"}})
	r.update(context.Background(), reportInput{objects: &objects{}, ingresses: []*netv1.Ingress{ing}})
	if calls != 1 {
		t.Errorf("a conflict is retried at the next reconcile, not in a loop: %d writes", calls)
	}
}

func TestPublishAddressesChecked(t *testing.T) {
	for _, bad := range []string{"", "not a host", "-x.example.com"} {
		if _, err := newReporter(kubetest.NewFake(customLists), Options{PublishAddresses: []string{"192.0.2.1", bad}}); err == nil ||
			!strings.Contains(err.Error(), "--publish-status-address[1]") {
			t.Errorf("%q: got %v, want an error naming --publish-status-address[1]", bad, err)
		}
	}
}

// BenchmarkReportSteady is a reconcile that changes nothing: 1000 Ingresses
// whose status is already the gateway's address and 1000 warnings on 100
// objects, all told before.
func BenchmarkReportSteady(b *testing.B) {
	objs := &objects{byID: map[string]runtime.Object{}}
	want := []netv1.IngressLoadBalancerIngress{lb("192.0.2.1", "")}
	var ings []*netv1.Ingress
	var ws importer.Warnings
	for i := range 1000 {
		ing := testIngress("shop", fmt.Sprintf("i%04d", i), want...)
		objs.addUnit(kindIngress, ing, false)
		ings = append(ings, ing)
		if i%10 == 0 {
			for j := range 10 {
				ws.Add("Ingress shop/"+ing.Name, fmt.Sprintf("spec.rules[%d]", j), "no http paths: nothing routed")
			}
		}
	}
	dc := kubetest.NewFake(customLists)
	r, err := newReporter(dc, Options{PublishAddresses: []string{"192.0.2.1"}})
	if err != nil {
		b.Fatal(err)
	}
	defer r.close()
	in := reportInput{objects: objs, warnings: ws, ingresses: ings}
	r.update(context.Background(), in)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.update(context.Background(), in)
	}
}
