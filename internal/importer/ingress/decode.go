package ingress

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// kongPlugin is the KongPlugin and KongClusterPlugin custom resource
// (configuration.konghq.com/v1): the controller's types are not imported,
// their module pulls in the whole controller.
type kongPlugin struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	PluginName        string         `json:"plugin"`
	Config            map[string]any `json:"config,omitempty"`
	ConfigFrom        *configFrom    `json:"configFrom,omitempty"`
	ConfigPatches     []any          `json:"configPatches,omitempty"`
	Disabled          bool           `json:"disabled,omitempty"`
	Protocols         []string       `json:"protocols,omitempty"`
	InstanceName      string         `json:"instance_name,omitempty"`
	RunOn             string         `json:"run_on,omitempty"`
	Ordering          map[string]any `json:"ordering,omitempty"`
	// where is the document, for warnings that point at the plugin.
	where string
}

type configFrom struct {
	SecretKeyRef *secretKeyRef `json:"secretKeyRef,omitempty"`
}

type secretKeyRef struct {
	Name      string `json:"name"`
	Key       string `json:"key"`
	Namespace string `json:"namespace,omitempty"`
}

// kongConsumer is the KongConsumer custom resource.
type kongConsumer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Username          string   `json:"username,omitempty"`
	CustomID          string   `json:"custom_id,omitempty"`
	Credentials       []string `json:"credentials,omitempty"`
	ConsumerGroups    []string `json:"consumerGroups,omitempty"`
}

// objects are the decoded inputs, each kind sorted by namespace and name
// so that the conversion visits them in a stable order.
type objects struct {
	ingresses      []*netv1.Ingress
	services       map[string]*corev1.Service // by namespace/name
	secrets        map[string]*corev1.Secret
	plugins        map[string]*kongPlugin // KongPlugin by namespace/name
	clusterPlugins map[string]*kongPlugin // KongClusterPlugin by name
	consumers      []*kongConsumer
	// listed are the Ingresses and KongConsumers read, by kind and
	// namespace/name, for keepFirst.
	listed map[string]bool
}

func key(ns, name string) string { return ns + "/" + name }

// decode reads every document as a Kubernetes object (a `kind: List` is
// unwrapped), keeping the kinds the conversion reads and warning about the
// others. A field the API types do not know is a warning naming it.
func decode(docs []importer.Document, ws *importer.Warnings) (*objects, error) {
	o := &objects{
		services: map[string]*corev1.Service{}, secrets: map[string]*corev1.Secret{},
		plugins: map[string]*kongPlugin{}, clusterPlugins: map[string]*kongPlugin{}, listed: map[string]bool{},
	}
	for _, d := range docs {
		js, err := yaml.YAMLToJSON(d.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", d.Where(), err)
		}
		if err := o.add(d.Where(), js, ws); err != nil {
			return nil, err
		}
	}
	// Oldest first, then by namespace and name (files have no timestamps):
	// what two objects both claim (an SNI, a consumer's username) goes to
	// the older, as ingress-nginx gives a host and path to the oldest
	// Ingress, so a newer object of another namespace cannot take it.
	slices.SortFunc(o.ingresses, oldestFirst)
	slices.SortFunc(o.consumers, oldestFirst)
	return o, nil
}

// oldestFirst orders objects by creation time, then namespace and name.
func oldestFirst[T metav1.Object](a, b T) int {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	return cmp.Or(ta.Compare(tb.Time), cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
}

func (o *objects) add(where string, js []byte, ws *importer.Warnings) error {
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil
	}
	var tm struct {
		metav1.TypeMeta
		Metadata struct{ Name, Namespace string }
	}
	if err := json.Unmarshal(js, &tm); err != nil {
		return fmt.Errorf("%s: not a Kubernetes object: %v", where, err)
	}
	obj := tm.Kind + " " + tm.Metadata.Name
	if tm.Kind != "KongClusterPlugin" {
		obj = tm.Kind + " " + namespace(tm.Metadata.Namespace) + "/" + tm.Metadata.Name
	}
	obj += " (" + where + ")"
	switch tm.Kind {
	case "List":
		var l struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(js, &l); err != nil {
			return fmt.Errorf("%s: List: %v", where, err)
		}
		for _, it := range l.Items {
			if err := o.add(where, it, ws); err != nil {
				return err
			}
		}
	case "Ingress":
		var in netv1.Ingress
		if err := strict(obj, js, &in, ws); err != nil {
			return err
		}
		in.Namespace = namespace(in.Namespace)
		if keepFirst(o.listed, "Ingress "+key(in.Namespace, in.Name), true, obj, ws) {
			o.ingresses = append(o.ingresses, &in)
		}
	case "Service":
		var s corev1.Service
		if err := strict(obj, js, &s, ws); err != nil {
			return err
		}
		s.Namespace = namespace(s.Namespace)
		keepFirst(o.services, key(s.Namespace, s.Name), &s, obj, ws)
	case "Secret":
		var s corev1.Secret
		if err := strict(obj, js, &s, ws); err != nil {
			return err
		}
		s.Namespace = namespace(s.Namespace)
		// The API server folds stringData into data; so does the import.
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
		keepFirst(o.secrets, key(s.Namespace, s.Name), &s, obj, ws)
	case "KongPlugin", "KongClusterPlugin":
		p := &kongPlugin{where: where}
		if err := strict(obj, js, p, ws); err != nil {
			return err
		}
		if tm.Kind == "KongClusterPlugin" {
			keepFirst(o.clusterPlugins, p.Name, p, obj, ws)
		} else {
			p.Namespace = namespace(p.Namespace)
			keepFirst(o.plugins, key(p.Namespace, p.Name), p, obj, ws)
		}
	case "KongConsumer":
		c := &kongConsumer{}
		if err := strict(obj, js, c, ws); err != nil {
			return err
		}
		c.Namespace = namespace(c.Namespace)
		if keepFirst(o.listed, "KongConsumer "+key(c.Namespace, c.Name), true, obj, ws) {
			o.consumers = append(o.consumers, c)
		}
	case "":
		return fmt.Errorf("%s: not a Kubernetes object: no kind", where)
	default:
		ws.Add(where, "kind", "%s %s is not imported (Ingress, Service, Secret, KongPlugin, KongClusterPlugin and KongConsumer are)", tm.APIVersion, tm.Kind)
	}
	return nil
}

// strict decodes js into v and warns every field of js that v has no
// place for, by its path: an unknown field (a newer API version's, a typo)
// should not stop an import, nor be dropped silently.
func strict(obj string, js []byte, v any, ws *importer.Warnings) error {
	if err := json.Unmarshal(js, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s: %s: want %s, got a %s", obj, te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("%s: %v", obj, err)
	}
	var raw any
	if err := json.Unmarshal(js, &raw); err != nil {
		return fmt.Errorf("%s: %v", obj, err)
	}
	importer.UnknownFields(raw, reflect.TypeOf(v).Elem(), "json", func(path string) {
		ws.Add(obj, path, "unknown field, ignored")
	})
	return nil
}

// keepFirst adds v under k unless an object of that kind and name came
// before: the API server holds one, so the input has a mistake; which copy
// was meant cannot be known, and the first is kept, warned. It reports
// whether v was kept.
func keepFirst[T any](m map[string]T, k string, v T, obj string, ws *importer.Warnings) bool {
	if _, dup := m[k]; dup {
		ws.Add(obj, "metadata.name", "the input already has this object: this copy is ignored")
		return false
	}
	m[k] = v
	return true
}

// namespace is the namespace kubectl applies an object without one to.
func namespace(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}
