package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/engine"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	sigsyaml "sigs.k8s.io/yaml"
)

// repoRoot is the checkout this file is in.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

const (
	releaseName = "edge"
	releaseNS   = "gateways"
)

// renderChart renders deploy/helm/turnpike as `helm template` would, with
// values (YAML) over the chart's values.yaml.
func renderChart(t *testing.T, values string) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(filepath.Join(repoRoot(), "deploy", "helm", "turnpike"))
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	vals := map[string]any{}
	if err := sigsyaml.Unmarshal([]byte(values), &vals); err != nil {
		t.Fatalf("test values: %v", err)
	}
	opts := common.ReleaseOptions{Name: releaseName, Namespace: releaseNS, Revision: 1, IsInstall: true}
	top, err := util.ToRenderValues(ch, vals, opts, common.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, top)
}

// objects renders the chart and decodes every object strictly, failing
// the test on any object that does not.
func objects(t *testing.T, values string) []k8sruntime.Object {
	t.Helper()
	files, err := renderChart(t, values)
	if err != nil {
		t.Fatalf("rendering the chart: %v", err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if strings.HasSuffix(name, ".yaml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []k8sruntime.Object
	for _, name := range names {
		out = append(out, decodeAll(t, name, []byte(files[name]))...)
	}
	return out
}

// codec decodes YAML into the typed objects of client-go's scheme and the
// Prometheus Operator's, refusing unknown and duplicate fields.
var codec = func() k8sruntime.Decoder {
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := monitoringv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true, Strict: true})
}()

// decodeAll decodes every document of a multi-document YAML file.
func decodeAll(t *testing.T, name string, data []byte) []k8sruntime.Object {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []k8sruntime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if isEmptyDoc(doc) {
			continue
		}
		obj, _, err := codec.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, doc)
		}
		out = append(out, obj)
	}
}

// isEmptyDoc: only blank lines and comments (a template whose condition
// is off).
func isEmptyDoc(doc []byte) bool {
	for line := range strings.SplitSeq(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") && line != "---" {
			return false
		}
	}
	return true
}
