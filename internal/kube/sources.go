package kube

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	netv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// The kinds the controller reads, as the sources' keys.
const (
	kindIngress       = "Ingress"
	kindIngressClass  = "IngressClass"
	kindService       = "Service"
	kindSecret        = "Secret"
	kindSlice         = "EndpointSlice"
	kindPlugin        = "KongPlugin"
	kindClusterPlugin = "KongClusterPlugin"
	kindConsumer      = "KongConsumer"
	kindGateway       = "Gateway"
	kindVirtual       = "VirtualService"
	kindRule          = "DestinationRule"
	kindPublish       = "publish"
)

// apiVersions are the versions the documents given to the importers say.
var apiVersions = map[string]string{
	kindIngress: "networking.k8s.io/v1", kindService: "v1", kindSecret: "v1",
}

// sources are the informers, by kind (one per watched namespace).
type sources struct {
	kinds   map[string][]cache.SharedIndexInformer
	gvrs    map[string]schema.GroupVersionResource // custom kinds watched
	publish string                                 // the publish Service's name
	docs    *docCache
}

// Secret types that never carry what an import reads: left out of the
// cache, where they would only take memory (Helm's release Secrets are
// large).
var unusedSecretTypes = []corev1.SecretType{"helm.sh/release.v1", corev1.SecretTypeServiceAccountToken,
	corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg, corev1.SecretTypeBootstrapToken}

func newSources(ctx context.Context, cl Client, opts Options, publish svcKey, onChange func()) (*sources, error) {
	s := &sources{kinds: map[string][]cache.SharedIndexInformer{}, gvrs: map[string]schema.GroupVersionResource{},
		docs: newDocCache()}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { onChange() },
		UpdateFunc: func(old, cur any) {
			// A relist delivers the same objects again: nothing changed.
			// Without a version (not from an API server) nothing tells.
			o, ok1 := old.(metav1.Object)
			n, ok2 := cur.(metav1.Object)
			if ok1 && ok2 && n.GetResourceVersion() != "" && o.GetResourceVersion() == n.GetResourceVersion() {
				return
			}
			onChange()
		},
		DeleteFunc: func(any) { onChange() },
	}
	add := func(kind string, gvr schema.GroupVersionResource, ns string, tweak func(*metav1.ListOptions),
		typed func() runtime.Object) error {
		inf, err := informer(cl.Dynamic, gvr, ns, tweak, typed)
		if err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
		s.kinds[kind] = append(s.kinds[kind], inf)
		return nil
	}
	namespaces := opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	var selectors []fields.Selector
	for _, t := range unusedSecretTypes {
		selectors = append(selectors, fields.OneTermNotEqualSelector("type", string(t)))
	}
	secretSelector := fields.AndSelectors(selectors...).String()
	secrets := func(o *metav1.ListOptions) { o.FieldSelector = secretSelector }
	for _, ns := range namespaces {
		for _, k := range []struct {
			kind  string
			gvr   schema.GroupVersionResource
			tweak func(*metav1.ListOptions)
			typed func() runtime.Object
		}{
			{kindIngress, ingressesGVR, nil, func() runtime.Object { return &netv1.Ingress{} }},
			{kindService, servicesGVR, nil, func() runtime.Object { return &corev1.Service{} }},
			{kindSlice, slicesGVR, nil, func() runtime.Object { return &discoveryv1.EndpointSlice{} }},
			{kindSecret, secretsGVR, secrets, func() runtime.Object { return &corev1.Secret{} }},
		} {
			if err := add(k.kind, k.gvr, ns, k.tweak, k.typed); err != nil {
				return nil, err
			}
		}
	}
	if err := add(kindIngressClass, ingressClassesGVR, "", nil, func() runtime.Object { return &netv1.IngressClass{} }); err != nil {
		return nil, err
	}
	if publish.name != "" {
		s.publish = publish.name
		byName := func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", publish.name).String()
		}
		if err := add(kindPublish, servicesGVR, publish.namespace, byName, func() runtime.Object { return &corev1.Service{} }); err != nil {
			return nil, err
		}
	}
	if err := s.watchCustom(ctx, cl, opts, namespaces, add); err != nil {
		return nil, err
	}
	return s, nil
}

// watchCustom adds the informers of Kong's and Istio's custom resources,
// each when the cluster serves its API.
func (s *sources) watchCustom(ctx context.Context, cl Client, opts Options, namespaces []string,
	add func(string, schema.GroupVersionResource, string, func(*metav1.ListOptions), func() runtime.Object) error) error {
	custom := []struct {
		kind    string
		gvr     schema.GroupVersionResource
		cluster bool
		wanted  bool
	}{
		{kindPlugin, kongPlugins, false, true},
		{kindClusterPlugin, kongClusterPlugins, true, true},
		{kindConsumer, kongConsumers, false, true},
		{kindGateway, istioGateways, false, opts.Istio},
		{kindVirtual, istioServices, false, opts.Istio},
		{kindRule, istioRules, false, opts.Istio},
	}
	lists := map[string][]metav1.APIResource{}
	for _, cr := range custom {
		if !cr.wanted {
			continue
		}
		gvr, ok, err := served(ctx, cl, lists, cr.gvr)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		s.gvrs[cr.kind] = gvr
		if cr.cluster {
			if err := add(cr.kind, gvr, metav1.NamespaceAll, nil, nil); err != nil {
				return err
			}
			continue
		}
		for _, ns := range namespaces {
			if err := add(cr.kind, gvr, ns, nil, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// served finds the version of gvr's resource the cluster serves: its own,
// or for Istio v1beta1 when v1 is not served (Istio before 1.22). lists
// keeps the resources discovered by group/version (none when not served),
// so that each is asked for once.
func served(ctx context.Context, cl Client, lists map[string][]metav1.APIResource, gvr schema.GroupVersionResource) (schema.GroupVersionResource, bool, error) {
	versions := []string{gvr.Version}
	if gvr.Group == istioGateways.Group {
		versions = append(versions, "v1beta1")
	}
	for _, v := range versions {
		g := gvr
		g.Version = v
		gv := g.GroupVersion().String()
		resources, seen := lists[gv]
		if !seen {
			list, err := cl.Resources(ctx, g.GroupVersion())
			if err != nil && !apierrors.IsNotFound(err) {
				return g, false, fmt.Errorf("kubernetes: discovering %s: %w", g.GroupVersion(), err)
			}
			if err == nil {
				resources = list
			}
			lists[gv] = resources
		}
		for _, r := range resources {
			if r.Name == g.Resource {
				return g, true, nil
			}
		}
	}
	return gvr, false, nil
}

func (s *sources) start(ctx context.Context) {
	for _, infs := range s.kinds {
		for _, inf := range infs {
			go inf.RunWithContext(ctx)
		}
	}
}

func (s *sources) synced() []cache.InformerSynced {
	var out []cache.InformerSynced
	for _, infs := range s.kinds {
		for _, inf := range infs {
			out = append(out, inf.HasSynced)
		}
	}
	return out
}

// describe lists the kinds watched, for the log.
func (s *sources) describe() []string {
	var out []string
	for k := range s.kinds {
		if k != kindPublish {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (s *sources) list(kind string) []any {
	var out []any
	for _, inf := range s.kinds[kind] {
		out = append(out, inf.GetStore().List()...)
	}
	return out
}

// unit is an object whose part of the config stands or falls alone: an
// Ingress, a KongConsumer or a VirtualService.
type unit struct {
	kind, namespace, name string
	obj                   runtime.Object
	doc                   importer.Document
	istio                 bool
}

func (u *unit) id() string { return u.kind + " " + u.namespace + "/" + u.name }

// objects are the caches' contents at one moment, as the importers and
// the reporter take them.
type objects struct {
	units []*unit
	// Documents every unit of a family is imported with.
	ingressSupport []importer.Document
	istioSupport   []importer.Document
	services       []*corev1.Service
	slices         []*discoveryv1.EndpointSlice
	// publish is the --publish-service Service (nil: none, or not found).
	publish *corev1.Service
	// byID finds an object by the name warnings give it ("Kind ns/name",
	// "KongClusterPlugin name").
	byID map[string]runtime.Object
	// errs are objects that could not be turned into documents (left
	// out).
	errs []error
	// refs are the words of the documents other than Secrets: the names
	// of the Secrets they may read.
	refs  map[string]bool
	cache *docCache
}

// snapshot reads every cache, keeping the objects of the gateway's class.
func (s *sources) snapshot(opts Options) *objects {
	o := &objects{byID: map[string]runtime.Object{}, cache: s.docs}
	s.docs.begin()
	defer s.docs.end()
	isDefault := false
	for _, x := range s.list(kindIngressClass) {
		if ic := x.(*netv1.IngressClass); ic.Name == opts.IngressClass {
			isDefault = ic.Annotations[netv1.AnnotationIsDefaultIngressClass] == "true"
		}
	}
	ours := func(class string) bool {
		return class == opts.IngressClass || class == "" && isDefault
	}
	for _, x := range sorted(s.list(kindIngress)) {
		in := x.(*netv1.Ingress)
		class := in.Annotations["kubernetes.io/ingress.class"]
		if in.Spec.IngressClassName != nil {
			class = *in.Spec.IngressClassName
		}
		if ours(class) {
			o.addUnit(kindIngress, in, false)
		}
	}
	for _, x := range sorted(s.list(kindService)) {
		svc := x.(*corev1.Service)
		o.services = append(o.services, svc)
		o.ingressSupport = append(o.ingressSupport, o.document(kindService, svc))
	}
	for _, x := range s.list(kindSlice) {
		o.slices = append(o.slices, x.(*discoveryv1.EndpointSlice))
	}
	// The informers' field selectors already keep out the other Services
	// and the unused Secret types; they are applied again (here and in
	// wanted) because client-go's fake dynamic client, which the tests run on,
	// ignores field selectors.
	for _, x := range s.list(kindPublish) {
		if svc := x.(*corev1.Service); svc.Name == s.publish {
			o.publish = svc
		}
	}
	for _, x := range sorted(s.list(kindPlugin)) {
		o.ingressSupport = append(o.ingressSupport, o.document(kindPlugin, x.(*unstructured.Unstructured)))
	}
	for _, x := range sorted(s.list(kindClusterPlugin)) {
		// As Kong's controller: a KongClusterPlugin is the class's only
		// when it says so (or the class is the default).
		u := x.(*unstructured.Unstructured)
		if ours(u.GetAnnotations()["kubernetes.io/ingress.class"]) {
			o.ingressSupport = append(o.ingressSupport, o.document(kindClusterPlugin, u))
		}
	}
	for _, x := range sorted(s.list(kindConsumer)) {
		u := x.(*unstructured.Unstructured)
		if ours(u.GetAnnotations()["kubernetes.io/ingress.class"]) {
			o.addUnit(kindConsumer, u, false)
		}
	}
	for _, x := range sorted(s.list(kindGateway)) {
		o.istioSupport = append(o.istioSupport, o.document(kindGateway, x.(*unstructured.Unstructured)))
	}
	for _, x := range sorted(s.list(kindRule)) {
		o.istioSupport = append(o.istioSupport, o.document(kindRule, x.(*unstructured.Unstructured)))
	}
	for _, x := range sorted(s.list(kindVirtual)) {
		o.addUnit(kindVirtual, x.(*unstructured.Unstructured), true)
	}
	// Last: the Secrets the other objects name.
	for _, x := range sorted(s.list(kindSecret)) {
		sec := x.(*corev1.Secret)
		if !o.wanted(sec) {
			continue
		}
		d := o.document(kindSecret, sec)
		o.ingressSupport = append(o.ingressSupport, d)
		o.istioSupport = append(o.istioSupport, d)
	}
	sortUnits(o.units)
	return o
}

func (o *objects) addUnit(kind string, obj runtime.Object, istio bool) {
	m := obj.(metav1.Object)
	o.units = append(o.units, &unit{kind: kind, namespace: m.GetNamespace(), name: m.GetName(), obj: obj,
		doc: o.document(kind, obj), istio: istio})
}

// wanted tells the Secrets an import may read: those another object
// names (an Istio CA Secret by its credential Secret's name), and Kong's
// credentials. A tenant's hundreds of other Secrets are not marshalled,
// hashed and imported on every reconcile; one too many costs nothing.
func (o *objects) wanted(sec *corev1.Secret) bool {
	if slices.Contains(unusedSecretTypes, sec.Type) {
		return false
	}
	return o.refs[sec.Name] || o.refs[strings.TrimSuffix(sec.Name, "-cacert")] ||
		sec.Labels["konghq.com/credential"] != ""
}

// document is obj as the importers read it: what a user would have
// written (apiVersion, kind, metadata's name, namespace, labels and
// annotations, spec and data), without what the API server adds. The
// object is indexed for the reporter on the way, and the names it
// mentions gathered.
func (o *objects) document(kind string, obj runtime.Object) importer.Document {
	m := obj.(metav1.Object)
	id := kind + " " + m.GetNamespace() + "/" + m.GetName()
	if m.GetNamespace() == "" {
		id = kind + " " + m.GetName()
	}
	o.byID[id] = obj
	uid, version := string(m.GetUID()), m.GetResourceVersion()
	e, ok := o.cache.get(kind, uid, version)
	if !ok {
		if e, ok = o.newDocument(kind, id, obj); ok {
			o.cache.put(kind, uid, version, e)
		}
	}
	if o.refs == nil {
		o.refs = map[string]bool{}
	}
	for _, r := range e.refs {
		o.refs[r] = true
	}
	return e.doc
}

// newDocument makes obj's document; ok is false when it could not be
// read (recorded in errs).
func (o *objects) newDocument(kind, id string, obj runtime.Object) (*cachedDoc, bool) {
	m := obj.(metav1.Object)
	var fields map[string]any
	if u, ok := obj.(*unstructured.Unstructured); ok {
		fields = u.UnstructuredContent()
	} else {
		var err error
		if fields, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err != nil {
			o.errs = append(o.errs, fmt.Errorf("%s: %w", id, err))
			return &cachedDoc{doc: importer.Document{File: id, Line: 1, Data: []byte("null")}}, false
		}
		fields["apiVersion"] = apiVersions[kind]
		fields["kind"] = kind
	}
	// The uid is kept for the k8s-uid tag the importers write.
	meta := map[string]any{"name": m.GetName()}
	if uid := m.GetUID(); uid != "" {
		meta["uid"] = string(uid)
	}
	if ns := m.GetNamespace(); ns != "" {
		meta["namespace"] = ns
	}
	// The age decides which of two objects claiming the same thing wins.
	if ts := m.GetCreationTimestamp(); !ts.IsZero() {
		meta["creationTimestamp"] = ts.UTC().Format(time.RFC3339)
	}
	if l := m.GetLabels(); len(l) > 0 {
		meta["labels"] = l
	}
	ann := map[string]string{}
	for k, v := range m.GetAnnotations() {
		if k != corev1.LastAppliedConfigAnnotation {
			ann[k] = v
		}
	}
	if len(ann) > 0 {
		meta["annotations"] = ann
	}
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		if k != "metadata" && k != "status" {
			out[k] = v
		}
	}
	out["metadata"] = meta
	data, err := json.Marshal(out)
	if err != nil {
		o.errs = append(o.errs, fmt.Errorf("%s: %w", id, err))
		return &cachedDoc{doc: importer.Document{File: id, Line: 1, Data: []byte("null")}}, false
	}
	e := &cachedDoc{doc: importer.Document{File: id, Line: 1, Data: data}}
	if kind != kindSecret {
		e.refs = mentions(out)
	}
	return e, true
}

// sorted orders cache contents by namespace and name, so that a config
// built from the same objects is the same bytes.
func sorted(xs []any) []any {
	slices.SortFunc(xs, func(a, b any) int {
		ma, mb := a.(metav1.Object), b.(metav1.Object)
		return cmp.Or(cmp.Compare(ma.GetNamespace(), mb.GetNamespace()), cmp.Compare(ma.GetName(), mb.GetName()))
	})
	return xs
}
