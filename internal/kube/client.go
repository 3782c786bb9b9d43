package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Client is the controller's way to the API server. Every kind, the
// built-in ones too, is read and written through the dynamic client, and
// discovery is a plain GET: client-go's typed clientset, its informer
// factory and its discovery client import k8s.io/client-go/kubernetes/scheme,
// whose init registers every API group of Kubernetes, which keeps all of
// their types' code in the binary and their registration on the heap
// (internal/archtest keeps the scheme out).
type Client struct {
	Dynamic dynamic.Interface
	// Resources lists the resources the API server serves in a
	// group/version (GET /apis/GROUP/VERSION); its error is a NotFound
	// (apierrors.IsNotFound) when it serves none there.
	Resources func(ctx context.Context, gv schema.GroupVersion) ([]metav1.APIResource, error)
}

// discoveryTimeout bounds a discovery request, as client-go's discovery
// client does: one that hangs fails, and the controller tries again.
const discoveryTimeout = 32 * time.Second

// eventTimeout bounds an Event's write: a hung API server does not stall
// the recorder's writer for ever (the event is dropped, as on any error).
const eventTimeout = 32 * time.Second

// NewClient makes the clients of cfg, over one HTTP client.
func NewClient(cfg *rest.Config) (Client, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return Client{}, err
	}
	dc, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return Client{}, err
	}
	rc, err := rest.UnversionedRESTClientForConfigAndClient(dynamic.ConfigFor(cfg), hc)
	if err != nil {
		return Client{}, err
	}
	return Client{Dynamic: dc, Resources: func(ctx context.Context, gv schema.GroupVersion) ([]metav1.APIResource, error) {
		// Result.Error decodes the API server's Status (its reason and
		// message); Raw alone would say only "unknown".
		res := rc.Get().AbsPath("/apis", gv.Group, gv.Version).Timeout(discoveryTimeout).Do(ctx)
		if err := res.Error(); err != nil {
			return nil, err
		}
		raw, err := res.Raw()
		if err != nil {
			return nil, err
		}
		var list metav1.APIResourceList
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("/apis/%s: %w", gv, err)
		}
		return list.APIResources, nil
	}}, nil
}

// The built-in resources read and written.
var (
	ingressesGVR      = netv1.SchemeGroupVersion.WithResource("ingresses")
	ingressClassesGVR = netv1.SchemeGroupVersion.WithResource("ingressclasses")
	servicesGVR       = corev1.SchemeGroupVersion.WithResource("services")
	secretsGVR        = corev1.SchemeGroupVersion.WithResource("secrets")
	slicesGVR         = discoveryv1.SchemeGroupVersion.WithResource("endpointslices")
	eventsGVR         = corev1.SchemeGroupVersion.WithResource("events")
)

// informer watches gvr's objects in ns (all namespaces, or the cluster's
// objects: "") with tweak applied to the list and watch options. When
// typed is set the objects are cached as the struct it makes, else as
// they come (*unstructured.Unstructured); either way they carry their
// apiVersion and kind (the dynamic client's decoding sets them on a
// list's items).
func informer(dc dynamic.Interface, gvr schema.GroupVersionResource, ns string, tweak func(*metav1.ListOptions),
	typed func() runtime.Object) (cache.SharedIndexInformer, error) {
	rc := dc.Resource(gvr).Namespace(ns)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			if tweak != nil {
				tweak(&o)
			}
			return rc.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			if tweak != nil {
				tweak(&o)
			}
			return rc.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformerWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, dc),
		&unstructured.Unstructured{}, cache.SharedIndexInformerOptions{ObjectDescription: gvr.String()})
	if typed == nil {
		return inf, nil
	}
	err := inf.SetTransform(func(obj any) (any, error) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return obj, nil
		}
		out := typed()
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), out); err != nil {
			return nil, fmt.Errorf("%s %s/%s: %w", gvr.Resource, u.GetNamespace(), u.GetName(), err)
		}
		return out, nil
	})
	return inf, err
}

// toUnstructured is a typed object as the dynamic client sends it.
func toUnstructured(obj runtime.Object, gvk schema.GroupVersionKind) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// eventSink writes the Events client-go's recorder sends through the
// dynamic client, as client-go's typed EventSinkImpl does through the
// typed one.
type eventSink struct{ dc dynamic.Interface }

func (s eventSink) Create(e *corev1.Event) (*corev1.Event, error) {
	u, err := toUnstructured(e, corev1.SchemeGroupVersion.WithKind("Event"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	return toEvent(s.dc.Resource(eventsGVR).Namespace(e.Namespace).Create(ctx, u, metav1.CreateOptions{}))
}

func (s eventSink) Update(e *corev1.Event) (*corev1.Event, error) {
	u, err := toUnstructured(e, corev1.SchemeGroupVersion.WithKind("Event"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	return toEvent(s.dc.Resource(eventsGVR).Namespace(e.Namespace).Update(ctx, u, metav1.UpdateOptions{}))
}

func (s eventSink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	return toEvent(s.dc.Resource(eventsGVR).Namespace(e.Namespace).Patch(ctx, e.Name,
		types.StrategicMergePatchType, data, metav1.PatchOptions{}))
}

func toEvent(u *unstructured.Unstructured, err error) (*corev1.Event, error) {
	if err != nil {
		return nil, err
	}
	e := &corev1.Event{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), e); err != nil {
		return nil, err
	}
	return e, nil
}
