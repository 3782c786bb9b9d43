package kube

import (
	"context"

	netv1 "k8s.io/api/networking/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// reportInput is what one reconcile tells the cluster.
type reportInput struct {
	objects  *objects
	warnings importer.Warnings
	// invalid are the units left out, with why.
	invalid map[*unit]error
	// failed, when set, is why no config was applied.
	failed error
	// ingresses are the Ingresses in force, whose status shows the
	// gateway's address.
	ingresses []*netv1.Ingress
}

// reporter writes Events and Ingress status.
type reporter struct{}

func newReporter(kc kubernetes.Interface, opts Options) (*reporter, error) { return &reporter{}, nil }

func (r *reporter) update(ctx context.Context, in reportInput) {}

func (r *reporter) close() {}
