package cli

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/turnpikegw/turnpike/internal/kube"
	"github.com/turnpikegw/turnpike/internal/kube/kubetest"
)

var ingressesGVR = netv1.SchemeGroupVersion.WithResource("ingresses")

// fakeAPI is client-go's fake dynamic client, every object stored
// unstructured as an API server sends them, serving Kong's CRDs.
type fakeAPI struct{ *dynamicfake.FakeDynamicClient }

func newFakeAPI(objs ...runtime.Object) fakeAPI {
	return fakeAPI{kubetest.NewFake(map[schema.GroupVersionResource]string{
		kongPluginsGVR: "KongPluginList",
		{Group: "configuration.konghq.com", Version: "v1", Resource: "kongclusterplugins"}: "KongClusterPluginList",
		{Group: "configuration.konghq.com", Version: "v1", Resource: "kongconsumers"}:      "KongConsumerList",
	}, objs...)}
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

func (f fakeAPI) create(t *testing.T, obj runtime.Object) {
	t.Helper()
	if err := kubetest.Create(f, obj); err != nil {
		t.Fatal(err)
	}
}

func (f fakeAPI) update(t *testing.T, obj runtime.Object) {
	t.Helper()
	if err := kubetest.Update(f, obj); err != nil {
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
	in, err := kubetest.Ingress(f, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func (f fakeAPI) events(t *testing.T, ns string) []corev1.Event {
	t.Helper()
	events, err := kubetest.Events(f, ns)
	if err != nil {
		t.Fatal(err)
	}
	return events
}
