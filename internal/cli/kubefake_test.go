package cli

import (
	"context"
	"strings"
	"testing"

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

	"github.com/turnpikegw/turnpike/internal/kube"
)

var (
	ingressesGVR = netv1.SchemeGroupVersion.WithResource("ingresses")
	eventsGVR    = corev1.SchemeGroupVersion.WithResource("events")
)

// fakeAPI is client-go's fake dynamic client, every object stored
// unstructured as an API server sends them, serving Kong's CRDs.
type fakeAPI struct{ *dynamicfake.FakeDynamicClient }

func newFakeAPI(objs ...runtime.Object) fakeAPI {
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
		_, u, err := asUnstructured(obj)
		if err != nil {
			panic(err)
		}
		stored[i] = u
	}
	return fakeAPI{dynamicfake.NewSimpleDynamicClientWithCustomListKinds(s, map[schema.GroupVersionResource]string{
		kongPluginsGVR: "KongPluginList",
		{Group: "configuration.konghq.com", Version: "v1", Resource: "kongclusterplugins"}: "KongClusterPluginList",
		{Group: "configuration.konghq.com", Version: "v1", Resource: "kongconsumers"}:      "KongConsumerList",
	}, stored...)}
}

// client is the controller's client over the fake, discovery finding
// Kong's CRDs and nothing else.
func (f fakeAPI) client() kube.Client {
	return kube.Client{Dynamic: f, Resources: func(_ context.Context, gv schema.GroupVersion) ([]metav1.APIResource, error) {
		if gv.String() != "configuration.konghq.com/v1" {
			return nil, apierrors.NewNotFound(schema.GroupResource{Group: gv.Group}, gv.Version)
		}
		return []metav1.APIResource{{Name: "kongplugins"}, {Name: "kongclusterplugins"}, {Name: "kongconsumers"}}, nil
	}}
}

// asUnstructured is a typed object as the dynamic client takes it, with
// its resource.
func asUnstructured(obj runtime.Object) (schema.GroupVersionResource, *unstructured.Unstructured, error) {
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

func (f fakeAPI) create(t *testing.T, obj runtime.Object) {
	t.Helper()
	gvr, u, err := asUnstructured(obj)
	if err == nil {
		_, err = f.Resource(gvr).Namespace(u.GetNamespace()).Create(ctx(), u, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (f fakeAPI) update(t *testing.T, obj runtime.Object) {
	t.Helper()
	gvr, u, err := asUnstructured(obj)
	if err == nil {
		_, err = f.Resource(gvr).Namespace(u.GetNamespace()).Update(ctx(), u, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (f fakeAPI) remove(t *testing.T, gvr schema.GroupVersionResource, ns, name string) {
	t.Helper()
	if err := f.Resource(gvr).Namespace(ns).Delete(ctx(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (f fakeAPI) ingress(t *testing.T, ns, name string) *netv1.Ingress {
	t.Helper()
	u, err := f.Resource(ingressesGVR).Namespace(ns).Get(ctx(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := &netv1.Ingress{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, in); err != nil {
		t.Fatal(err)
	}
	return in
}

func (f fakeAPI) events(t *testing.T, ns string) []corev1.Event {
	t.Helper()
	list, err := f.Resource(eventsGVR).Namespace(ns).List(ctx(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]corev1.Event, len(list.Items))
	for i, u := range list.Items {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
