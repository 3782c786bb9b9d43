package deploy

import (
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	sigsyaml "sigs.k8s.io/yaml"
)

// TestChartLint runs `helm lint`'s rules (Chart.yaml, values against
// values.schema.json, templates) with the defaults and with every part on.
func TestChartLint(t *testing.T) {
	dir := filepath.Join(repoRoot(), "deploy", "helm", "turnpike")
	for name, values := range map[string]string{"defaults": "", "everything": everything(t),
		"controller": "controller:\n  enabled: true\n  watchNamespaces: [a, b]\n  istio: true\n  publishStatusAddresses: [lb.example.com]\n"} {
		vals := map[string]any{}
		if err := sigsyaml.Unmarshal([]byte(values), &vals); err != nil {
			t.Fatal(err)
		}
		res := lint.RunAll(dir, vals, releaseNS)
		for _, m := range res.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("%s: %s", name, m)
			} else {
				t.Logf("%s: %s", name, m)
			}
		}
	}
}

// TestChartValuesSchema: a misspelt or mistyped value is refused at
// install, not silently ignored.
func TestChartValuesSchema(t *testing.T) {
	for values, want := range map[string]string{
		"serviceMonitor:\n  enable: true\n":                  "enable",
		"drain:\n  delaySeconds: 5s\n":                       "delaySeconds",
		"proxy:\n  http:\n    containerPort: 0\n":            "containerPort",
		"controller:\n  watchNamespaces: shop\n":             "watchNamespaces",
		"controller:\n  ingressClass:\n    name: Edge_1\n":   "name",
		"controller:\n  publishStatusAddresses: [\"a,b\"]\n": "publishStatusAddresses",
	} {
		if _, err := renderChart(t, values); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("values %q: error %v, want one naming %s", values, err, want)
		}
	}
}
