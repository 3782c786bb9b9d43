package ingress

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// tagsOf are the tags of the entities an object makes, as Kong's
// controller writes them, with the object's konghq.com/tags.
func tagsOf(tm metav1.TypeMeta, om metav1.ObjectMeta) []string {
	user, _ := importer.UserTags(om.Annotations[kongPrefix+"tags"])
	return importer.Object{APIVersion: tm.APIVersion, Kind: tm.Kind, Namespace: om.Namespace, Name: om.Name, UID: string(om.UID)}.Tags(user...)
}

// serviceTags are the tags of a Kong service (and its upstream) made for
// the Kubernetes Service ns/name, which need not be in the input.
func (c *converter) serviceTags(ns, name string) []string {
	if s := c.o.services[key(ns, name)]; s != nil {
		return tagsOf(s.TypeMeta, s.ObjectMeta)
	}
	return importer.Object{APIVersion: "v1", Kind: "Service", Namespace: ns, Name: name}.Tags()
}

// credentialTags tags a credential with the Secret that holds it.
func credentialTags(f importer.Fields, tags []string) {
	list := make([]any, len(tags))
	for i, t := range tags {
		list[i] = t
	}
	f["tags"] = list
}
