package kube

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// endpoints index the ready pod addresses of Services by service port.
type endpoints struct{}

func newEndpoints(services []*corev1.Service, slices []*discoveryv1.EndpointSlice) *endpoints {
	return &endpoints{}
}

// podTargets points the backends that are cluster Services
// (NAME.NAMESPACE.<domain>) at their pods.
func podTargets(cfg *importer.Config, eps *endpoints, domain string) {}
