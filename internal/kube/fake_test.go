package kube

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/scheme"
)

// newFake is client-go's fake dynamic client holding objs, typed (the
// built-in kinds client-go's scheme knows) or unstructured, with Kong's
// and Istio's lists known. Every object is stored unstructured, as the
// API server sends them.
func newFake(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
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
		_, u, err := asUnstructured(obj)
		if err != nil {
			panic(err)
		}
		stored[i] = u
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(s, customLists, stored...)
}

// asUnstructured is a typed object as the dynamic client takes it, with
// its resource.
func asUnstructured(obj runtime.Object) (schema.GroupVersionResource, *unstructured.Unstructured, error) {
	gvks, _, err := scheme.Scheme.ObjectKinds(obj)
	if err != nil {
		return schema.GroupVersionResource{}, nil, err
	}
	u, err := toUnstructured(obj, gvks[0])
	if err != nil {
		return schema.GroupVersionResource{}, nil, err
	}
	gvr, _ := meta.UnsafeGuessKindToResource(gvks[0])
	return gvr, u, nil
}

// createTyped creates a typed object through the dynamic client.
func (c *cluster) createTyped(obj runtime.Object) (*unstructured.Unstructured, error) {
	gvr, u, err := asUnstructured(obj)
	if err != nil {
		return nil, err
	}
	return c.dc.Resource(gvr).Namespace(u.GetNamespace()).Create(context.Background(), u, metav1.CreateOptions{})
}

// updateTyped updates a typed object through the dynamic client.
func (c *cluster) updateTyped(obj runtime.Object) (*unstructured.Unstructured, error) {
	gvr, u, err := asUnstructured(obj)
	if err != nil {
		return nil, err
	}
	return c.dc.Resource(gvr).Namespace(u.GetNamespace()).Update(context.Background(), u, metav1.UpdateOptions{})
}

// ingress reads an Ingress through the dynamic client.
func getIngress(dc *dynamicfake.FakeDynamicClient, ns, name string) (*netv1.Ingress, error) {
	u, err := dc.Resource(ingressesGVR).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	in := &netv1.Ingress{}
	return in, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, in)
}

// listEvents reads every Event through the dynamic client.
func listEvents(dc *dynamicfake.FakeDynamicClient) ([]corev1.Event, error) {
	list, err := dc.Resource(eventsGVR).List(context.Background(), metav1.ListOptions{})
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

// serve makes the fake discovery list resources in group/version gv.
func (c *cluster) serve(gv string, resources ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range resources {
		c.served[gv] = append(c.served[gv], metav1.APIResource{Name: r})
	}
}

// resources is the fake discovery: what serve added, after failing as
// many times as fails says.
func (c *cluster) resources(_ context.Context, gv schema.GroupVersion) ([]metav1.APIResource, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.discoveries++
	if c.fails > 0 {
		c.fails--
		return nil, apierrors.NewServiceUnavailable("restarting")
	}
	rs, ok := c.served[gv.String()]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: gv.Group}, gv.Version)
	}
	return rs, nil
}

func (c *cluster) client() Client { return Client{Dynamic: c.dc, Resources: c.resources} }
