package importer

import (
	"slices"
	"testing"
)

// TestObjectTags checks Kong's controller's tag set and order: a core
// object has no k8s-group, a cluster-scoped one no k8s-namespace, the uid
// comes when known, user tags follow once, and a tag the Admin API's
// filter cannot name is left out.
func TestObjectTags(t *testing.T) {
	for _, c := range []struct {
		o     Object
		extra []string
		want  []string
	}{
		{Object{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Namespace: "shop", Name: "web", UID: "7c1d"}, []string{"team-a", "k8s-kind:Ingress"},
			[]string{"k8s-name:web", "k8s-namespace:shop", "k8s-kind:Ingress", "k8s-uid:7c1d", "k8s-group:networking.k8s.io", "k8s-version:v1", "team-a"}},
		{Object{APIVersion: "v1", Kind: "Secret", Namespace: "shop", Name: "tls"}, nil,
			[]string{"k8s-name:tls", "k8s-namespace:shop", "k8s-kind:Secret", "k8s-version:v1"}},
		{Object{APIVersion: "configuration.konghq.com/v1", Kind: "KongClusterPlugin", Name: "limit"}, nil,
			[]string{"k8s-name:limit", "k8s-kind:KongClusterPlugin", "k8s-group:configuration.konghq.com", "k8s-version:v1"}},
		{Object{APIVersion: "v1", Kind: "Secret", Name: "a b"}, nil, []string{"k8s-kind:Secret", "k8s-version:v1"}},
	} {
		if got := c.o.Tags(c.extra...); !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.o, got, c.want)
		}
	}
	tags, bad := UserTags(" team-a, ,team-b,team-a,a/b,x y")
	if !slices.Equal(tags, []string{"team-a", "team-b"}) || !slices.Equal(bad, []string{"a/b", "x y"}) {
		t.Errorf("UserTags: %v, bad %v", tags, bad)
	}
}
