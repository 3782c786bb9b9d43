package kube

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A namespace whose name sorts first cannot take another namespace's host
// and path with a newer Ingress: the older one keeps it, the newer one's
// path is left out with an Event saying whose it is; its other paths stay.
func TestControllerOlderIngressKeepsHostPath(t *testing.T) {
	old := newIngress("default", "web", turnpike, nil, "a.test", "/a", "svc")
	old.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	newer := newIngress("aaa", "web", turnpike, nil, "a.test", "/a", "svc")
	newer.Spec.Rules = append(newer.Spec.Rules, newIngress("", "", nil, nil, "mine.test", "/m", "svc").Spec.Rules...)
	newer.CreationTimestamp = metav1.NewTime(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	c := newCluster(t, true, false, old, newer, newService("default", "svc"), newService("aaa", "svc"))
	rec, _ := c.run(t, Options{})
	routesAre(t, rec, "a.test/a", "mine.test/m")
	for _, s := range rec.last(t).Services {
		for _, r := range s.Routes {
			if r.Hosts[0] == "a.test" && s.Host != "svc.default.80.svc" {
				t.Errorf("a.test/a goes to %s, want default's svc", s.Host)
			}
		}
	}
	events := waitEvents(t, c.dc, "already served by Ingress default/web")
	e := findEvent(events, "Ingress", "web", "host a.test path /a is already served by Ingress default/web, created earlier: left out")
	if e == nil || e.InvolvedObject.Namespace != "aaa" {
		t.Fatalf("no Event on aaa's Ingress: %+v", events)
	}
}
