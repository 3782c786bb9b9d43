package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
)

// TestManifests: deploy/kubernetes decodes strictly and holds together
// as the chart does, without naming a namespace (kubectl apply -n picks it).
func TestManifests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(), "deploy", "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var objs []k8sruntime.Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, decodeAll(t, filepath.Base(f), data)...)
	}
	got := kinds(objs)
	for _, k := range []string{"*v1.ConfigMap/turnpike-config", "*v1.Deployment/turnpike", "*v1.Service/turnpike",
		"*v1.Service/turnpike-status", "*v1.PodDisruptionBudget/turnpike", "*v2.HorizontalPodAutoscaler/turnpike"} {
		if !slices.Contains(got, k) {
			t.Errorf("no %s among %q", k, got)
		}
	}
	for _, o := range objs {
		if ns := o.(interface{ GetNamespace() string }).GetNamespace(); ns != "" {
			t.Errorf("%T names namespace %q", o, ns)
		}
	}
	gw := checkObjects(t, objs)
	for _, hpa := range ofKind[*autoscalingv2.HorizontalPodAutoscaler](objs) {
		if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != gw.Name {
			t.Errorf("HorizontalPodAutoscaler scales %s/%s", ref.Kind, ref.Name)
		}
	}
	if n := len(ofKind[*appsv1.Deployment](objs)); n != 1 {
		t.Errorf("%d Deployments", n)
	}
}
