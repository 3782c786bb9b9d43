package kube

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

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
