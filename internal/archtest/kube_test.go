package archtest

import "testing"

// The Kubernetes controller reads and writes through client-go's dynamic
// client, not its typed clientset: the clientset, its informer factories,
// its discovery client and its typed Event sink all import
// k8s.io/client-go/kubernetes/scheme, whose init registers every API group
// of Kubernetes. That kept all of their types' code linked (7.4 of 24.5 MB
// of machine code, 418 of 1,121 packages from k8s.io) and allocated
// 660 KB at start in every gateway, controller or not. Any import of the
// scheme brings that back, so this fails first.
func TestReleaseBuildLeavesOutKubernetesScheme(t *testing.T) {
	for _, pkg := range releaseDeps(t) {
		if pkg == "k8s.io/client-go/kubernetes/scheme" {
			t.Errorf("cmd/turnpike depends on %s again (go list -deps -f '{{.ImportPath}} {{.Imports}}' ./cmd/turnpike says through what): use the dynamic client (internal/kube/client.go)", pkg)
		}
	}
}
