package kube

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/turnpikegw/turnpike/internal/kube/kubetest"
)

func opaque(ns, name string, labels map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"k": []byte("v")}}
}

func istioObject(kind, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "networking.istio.io/v1", "kind": kind,
		"metadata": map[string]any{"namespace": "default", "name": name}, "spec": spec}}
}

// supportSecrets are the Secrets handed to the importers.
func supportSecrets(o *objects) []string {
	var out []string
	for _, d := range slices.Concat(o.ingressSupport, o.istioSupport) {
		if name, ok := strings.CutPrefix(d.File, "Secret "); ok && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Only the Secrets something names reach the importers, by every form of
// reference they read; a Secret nothing names does not.
func TestSnapshotSecretsReferenced(t *testing.T) {
	in := newIngress("default", "web", turnpike, map[string]string{
		"nginx.ingress.kubernetes.io/auth-secret":     "other/basic",
		"nginx.ingress.kubernetes.io/auth-tls-secret": "default/client-ca",
	}, "a.test", "/", "svc")
	in.Spec.TLS = []netv1.IngressTLS{{Hosts: []string{"a.test"}, SecretName: "tls-a"}}
	objs := []runtime.Object{in,
		kongObject("KongPlugin", "default", "p", nil, map[string]any{"plugin": "key-auth",
			"configFrom": map[string]any{"secretKeyRef": map[string]any{"name": "plugin-conf", "key": "conf"}}}),
		kongObject("KongClusterPlugin", "", "cp", map[string]string{"kubernetes.io/ingress.class": "turnpike"}, map[string]any{
			"plugin": "key-auth", "configFrom": map[string]any{"secretKeyRef": map[string]any{"name": "cluster-conf", "namespace": "kong", "key": "conf"}}}),
		kongObject("KongConsumer", "default", "alice", map[string]string{"kubernetes.io/ingress.class": "turnpike"},
			map[string]any{"username": "alice", "credentials": []any{"alice-key"}}),
		istioObject("Gateway", "gw", map[string]any{"servers": []any{map[string]any{
			"port": map[string]any{"number": int64(443), "name": "https", "protocol": "HTTPS"}, "hosts": []any{"shop.test"},
			"tls": map[string]any{"mode": "MUTUAL", "credentialName": "gw-cert"}}}}),
		istioObject("DestinationRule", "dr", map[string]any{"host": "shop", "trafficPolicy": map[string]any{
			"tls": map[string]any{"mode": "MUTUAL", "credentialName": "dr-cert"}}}),
	}
	for _, s := range []*corev1.Secret{opaque("default", "tls-a", nil), opaque("other", "basic", nil),
		opaque("default", "client-ca", nil), opaque("default", "plugin-conf", nil), opaque("kong", "cluster-conf", nil),
		opaque("default", "alice-key", nil), opaque("default", "gw-cert", nil), opaque("istio-system", "gw-cert-cacert", nil),
		opaque("default", "dr-cert", nil), opaque("default", "labelled", map[string]string{"konghq.com/credential": "key-auth"}),
		opaque("default", "unused", nil), opaque("default", "unused-cacert", nil)} {
		objs = append(objs, s)
	}
	c := newCluster(t, true, true, objs...)
	opts := Options{IngressClass: "turnpike", Istio: true}
	got := supportSecrets(mustSources(t, c, opts).snapshot(opts))
	want := []string{"default/alice-key", "default/client-ca", "default/dr-cert", "default/gw-cert", "default/labelled",
		"default/plugin-conf", "default/tls-a", "istio-system/gw-cert-cacert", "kong/cluster-conf", "other/basic"}
	if !slices.Equal(got, want) {
		t.Fatalf("Secrets imported %q, want %q", got, want)
	}
}

// An object unchanged since the last snapshot (same uid and
// resourceVersion) is not marshalled again; a new version is.
func TestSnapshotDocumentsCached(t *testing.T) {
	in := newIngress("default", "web", turnpike, nil, "a.test", "/", "svc")
	in.UID, in.ResourceVersion = types.UID("u-1"), "1"
	c := newCluster(t, true, false, in)
	opts := Options{IngressClass: "turnpike"}
	src := mustSources(t, c, opts)
	first := src.snapshot(opts).units[0].doc.Data
	if again := src.snapshot(opts).units[0].doc.Data; &again[0] != &first[0] {
		t.Error("an unchanged Ingress was marshalled again")
	}
	in.ResourceVersion = "2"
	in.Spec.Rules[0].Host = "b.test"
	if err := kubetest.Update(c.dc, in); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() string { return "the new version in the document" }, func() bool {
		return strings.Contains(string(src.snapshot(opts).units[0].doc.Data), "b.test")
	})
	if n := len(src.docs.entries); n != 1 {
		t.Errorf("%d documents cached for one object", n)
	}
}

// BenchmarkSnapshotManySecrets is a snapshot in a namespace of 500 large
// Opaque Secrets none of 10 Ingresses names: what every reconcile pays.
func BenchmarkSnapshotManySecrets(b *testing.B) {
	var objs []runtime.Object
	for i := range 10 {
		in := newIngress("default", fmt.Sprintf("app%d", i), turnpike, nil, fmt.Sprintf("app%d.test", i), "/", "svc")
		in.UID, in.ResourceVersion = types.UID(fmt.Sprintf("i-%d", i)), "1"
		objs = append(objs, in)
	}
	for i := range 500 {
		s := opaque("default", fmt.Sprintf("tenant-%d", i), nil)
		s.UID, s.ResourceVersion = types.UID(fmt.Sprintf("s-%d", i)), "1"
		s.Data = map[string][]byte{"blob": bytes.Repeat([]byte("x"), 10<<10)}
		objs = append(objs, s)
	}
	c := newCluster(b, true, false, objs...)
	opts := Options{IngressClass: "turnpike"}
	src := mustSources(b, c, opts)
	b.ReportAllocs()
	for b.Loop() {
		unitSums(src.snapshot(opts))
	}
}
