package ingress

import (
	"bytes"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/reload"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// compile runs on out every check `turnpike validate` runs.
func compile(t *testing.T, out []byte) {
	t.Helper()
	reg, err := plugin.NewRegistry(all.Registrations())
	if err != nil {
		t.Fatal(err)
	}
	deps := snapshot.Deps{Registry: reg, Env: plugin.Env{Logger: slog.New(slog.DiscardHandler)}}
	l := reload.New(&snapshot.Holder{}, deps, "import", config.Options{}, nil)
	if _, err := l.Check(func() ([]byte, error) { return out, nil }); err != nil {
		t.Fatalf("the output does not validate:\n%v\n%s", err, out)
	}
}

func run(t *testing.T, docs []importer.Document, opts Options) ([]byte, string) {
	t.Helper()
	var (
		cfg importer.Config
		ws  importer.Warnings
	)
	if err := Import(docs, opts, &cfg, &ws); err != nil {
		t.Fatal(err)
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.String() + "\n")
	}
	return out, b.String()
}

func importFile(t *testing.T, name string, opts Options) ([]byte, string) {
	t.Helper()
	docs, err := importer.Read([]string{filepath.Join("testdata", name)}, nil, importer.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	for i := range docs {
		docs[i].File = name
	}
	return run(t, docs, opts)
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestGolden imports the patterns guide's two Kubernetes examples and the
// manifests written for the tests; every output must pass `turnpike
// validate`'s checks and a second import must give the same bytes.
func TestGolden(t *testing.T) {
	cases := map[string]Options{
		"guide-ingress.yaml":    {},
		"guide-kongplugin.yaml": {},
		"rewrite.yaml":          {},
		"tls.yaml":              {},
		"limits.yaml":           {},
		"access.yaml":           {},
		"canary.yaml":           {},
		"basic-auth.yaml":       {},
		"kong.yaml":             {ServiceDomain: "svc.cluster.local"},
		"consumers.yaml":        {},
		"backends.yaml":         {IngressClass: "nginx"},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			out, warns := importFile(t, name, opts)
			compile(t, out)
			base := filepath.Join("testdata", strings.TrimSuffix(name, ".yaml"))
			golden(t, base+".kong.yml", string(out))
			golden(t, base+".warnings", warns)
			again, _ := importFile(t, name, opts)
			if !bytes.Equal(out, again) {
				t.Error("a second import gave other bytes")
			}
		})
	}
}
