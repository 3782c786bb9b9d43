// Package kubetest is the controller's tests' cluster: client-go's fake
// dynamic client holding every object unstructured, as an API server
// sends them, and typed reads of what the controller wrote. Only tests
// import it: client-go's scheme, which it uses to know the built-in
// kinds, registers every API group, which internal/archtest keeps out of
// the binary.
package kubetest

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/scheme"
)

var (
	ingresses = netv1.SchemeGroupVersion.WithResource("ingresses")
	events    = corev1.SchemeGroupVersion.WithResource("events")
)

// NewFake is the fake dynamic client holding objs, typed (the built-in
// kinds) or unstructured; lists names the list kinds of the custom
// resources it serves.
func NewFake(lists map[schema.GroupVersionResource]string, objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	s := runtime.NewScheme()
	for gvk := range scheme.Scheme.AllKnownTypes() {
		if strings.HasSuffix(gvk.Kind, "List") {
			s.AddKnownTypeWithName(gvk, &unstructured.UnstructuredList{})
		} else {
			s.AddKnownTypeWithName(gvk, &unstructured.Unstructured{})
		}
	}
	stored := make([]runtime.Object, len(objs))
	for i, obj := range objs {
		if _, ok := obj.(*unstructured.Unstructured); ok {
			stored[i] = obj
			continue
		}
		_, u, err := Unstructured(obj)
		if err != nil {
			panic(err)
		}
		stored[i] = u
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(s, lists, stored...)
}

// Unstructured is a typed object of a built-in kind as the dynamic client
// takes it, with its resource.
func Unstructured(obj runtime.Object) (schema.GroupVersionResource, *unstructured.Unstructured, error) {
	gvks, _, err := scheme.Scheme.ObjectKinds(obj)
	if err != nil {
		return schema.GroupVersionResource{}, nil, err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return schema.GroupVersionResource{}, nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvks[0])
	gvr, _ := meta.UnsafeGuessKindToResource(gvks[0])
	return gvr, u, nil
}

// Create creates a typed object of a built-in kind.
func Create(dc dynamic.Interface, obj runtime.Object) error {
	gvr, u, err := Unstructured(obj)
	if err == nil {
		_, err = dc.Resource(gvr).Namespace(u.GetNamespace()).Create(context.Background(), u, metav1.CreateOptions{})
	}
	return err
}

// Update updates a typed object of a built-in kind.
func Update(dc dynamic.Interface, obj runtime.Object) error {
	gvr, u, err := Unstructured(obj)
	if err == nil {
		_, err = dc.Resource(gvr).Namespace(u.GetNamespace()).Update(context.Background(), u, metav1.UpdateOptions{})
	}
	return err
}

// Ingress reads an Ingress.
func Ingress(dc dynamic.Interface, ns, name string) (*netv1.Ingress, error) {
	u, err := dc.Resource(ingresses).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	in := &netv1.Ingress{}
	return in, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, in)
}

// Events reads the Events of namespace ns ("": every namespace).
func Events(dc dynamic.Interface, ns string) ([]corev1.Event, error) {
	list, err := dc.Resource(events).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]corev1.Event, len(list.Items))
	for i, u := range list.Items {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
