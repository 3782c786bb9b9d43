package kube

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/turnpikegw/turnpike/internal/kube/kubetest"
	"github.com/turnpikegw/turnpike/internal/reload"
)

// aged are Ingresses a.test, b.test, c.test, created c first and a last.
func aged() []runtime.Object {
	var objs []runtime.Object
	for i, name := range []string{"a", "b", "c"} {
		in := newIngress("default", name, turnpike, nil, name+".test", "/", "svc")
		in.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 3-i, 0, 0, 0, 0, time.UTC))
		objs = append(objs, in)
	}
	return objs
}

// When every unit passes alone but not all together (over the loader's
// size limit), the newest that does not fit is left out and told why;
// the others apply, rather than nothing changing for anyone.
func TestControllerUnitsThatDoNotFitTogether(t *testing.T) {
	whole, _ := newCluster(t, true, false, aged()...).run(t, Options{})
	routesAre(t, whole, "a.test/", "b.test/", "c.test/")
	whole.mu.Lock()
	size := len(whole.applied[len(whole.applied)-1])
	whole.mu.Unlock()

	c := newCluster(t, true, false, aged()...)
	rec := newRecorder(t)
	lim := reload.DefaultLimits
	lim.MaxSize = int64(size - 1)
	rec.l.SetLimits(lim)
	_, logs := c.runWith(t, rec, Options{})
	routesAre(t, rec, "b.test/", "c.test/")
	events := waitEvents(t, c.dc, "does not fit with the others")
	if findEvent(events, "Ingress", "a", "does not fit with the others: ") == nil {
		t.Fatalf("no Event on the newest Ingress: %+v", events)
	}
	// A change elsewhere checks the misfit again (there may be room now).
	seen := logs.count("does not fit with the others")
	svc := newService("default", "other")
	if err := kubetest.Create(c.dc, svc); err != nil {
		t.Fatal(err)
	}
	logs.await(t, "does not fit with the others", seen)
	routesAre(t, rec, "b.test/", "c.test/")
}

// While one Ingress of many is invalid, an edit of it, or of a shared
// object (a Service), checks only what is not known to fit: not every
// unit again.
func TestControllerKnownGoodNotCheckedAgain(t *testing.T) {
	objs := []runtime.Object{newService("default", "svc"), kongObject("KongPlugin", "default", "broken", nil,
		map[string]any{"plugin": "key-auth", "config": map[string]any{"hide_credentials": "maybe"}})}
	want := []string{}
	for i := range 10 {
		name := fmt.Sprintf("app%d", i)
		objs = append(objs, newIngress("default", name, turnpike, nil, name+".test", "/", "svc"))
		want = append(want, name+".test/")
	}
	objs = append(objs, newIngress("default", "bad", turnpike, map[string]string{"konghq.com/plugins": "broken"}, "b.test", "/b", "svc"))
	c := newCluster(t, true, false, objs...)
	rec, logs := c.run(t, Options{})
	routesAre(t, rec, want...)

	// Its line ends a reconcile's checks: it sorts last, and a reconcile
	// that changes nothing does not check it.
	const badLine = "object=\"Ingress default/bad\""
	checks, seen := rec.validations(), logs.count(badLine)
	in, err := kubetest.Ingress(c.dc, "default", "bad")
	if err != nil {
		t.Fatal(err)
	}
	in.Spec.Rules[0].Host = "b2.test"
	if err := kubetest.Update(c.dc, in); err != nil {
		t.Fatal(err)
	}
	logs.await(t, badLine, seen)
	if n := rec.validations() - checks; n > 2 {
		t.Errorf("an edit of the invalid Ingress made %d checks, want the shared objects' and its own", n)
	}

	checks, seen = rec.validations(), logs.count(badLine)
	svc := newService("default", "svc")
	svc.Annotations = map[string]string{"team": "payments"}
	if err := kubetest.Update(c.dc, svc); err != nil {
		t.Fatal(err)
	}
	logs.await(t, badLine, seen)
	if n := rec.validations() - checks; n > 2 {
		t.Errorf("a Service's change made %d checks, want the shared objects' and the invalid Ingress's", n)
	}
	routesAre(t, rec, want...)
}

// slow is a reload path whose checks take long (a busy node): each waits
// 300ms unless its ctx ends first; started is closed as the units' checks
// are under way.
type slow struct {
	*recorder
	started chan struct{}
	calls   atomic.Int32
}

func (s *slow) Validate(ctx context.Context, data []byte) error {
	// The third: the shared objects' check is done, the units' are under
	// way.
	if s.calls.Add(1) == 3 {
		close(s.started)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(300 * time.Millisecond):
	}
	return s.recorder.Validate(ctx, data)
}

// Stopping the controller while it checks many units one by one ends the
// checks at once, not after every unit's.
func TestControllerStopsDuringIsolation(t *testing.T) {
	objs := []runtime.Object{kongObject("KongPlugin", "default", "broken", nil,
		map[string]any{"plugin": "key-auth", "config": map[string]any{"hide_credentials": "maybe"}})}
	for i := range 20 {
		objs = append(objs, newIngress("default", fmt.Sprintf("app%d", i), turnpike, map[string]string{"konghq.com/plugins": "broken"}, "a.test", fmt.Sprintf("/%d", i), "svc"))
	}
	c := newCluster(t, true, false, objs...)
	rec := &slow{recorder: newRecorder(t), started: make(chan struct{})}
	ctl, err := New(c.client(), rec, Options{IngressClass: "turnpike", Debounce: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ctl.Run(runCtx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-rec.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no check started")
	}
	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return 5s after it was stopped")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Run returned %s after it was stopped", d)
	}
}
