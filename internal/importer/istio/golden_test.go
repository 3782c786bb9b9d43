package istio

import (
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

// compile runs on out every check `turnpike validate` runs: the
// declarative schema and every plugin's config and credentials.
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

func importFile(t *testing.T, name string, opts Options) ([]byte, string) {
	t.Helper()
	docs, err := importer.Read([]string{filepath.Join("testdata", name)}, nil, importer.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	for i := range docs {
		docs[i].File = name // the golden files name the input, not the test's path to it
	}
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

// TestGolden imports the patterns guide's VirtualService as printed and a
// canary written for the tests, compares the config and the warnings with
// the golden files, checks the config as the gateway does, and that a
// second import gives the same bytes.
func TestGolden(t *testing.T) {
	for _, name := range []string{"guide-virtualservice.yaml", "canary.yaml"} {
		t.Run(name, func(t *testing.T) {
			out, warnings := importFile(t, name, Options{})
			base := strings.TrimSuffix(name, filepath.Ext(name))
			golden(t, filepath.Join("testdata", base+".kong.yml"), string(out))
			golden(t, filepath.Join("testdata", base+".warnings.txt"), warnings)
			compile(t, out)
			again, _ := importFile(t, name, Options{})
			if string(again) != string(out) {
				t.Error("a second import gave different bytes")
			}
		})
	}
}

// BenchmarkImportCanary measures one import of the canary (not on any
// request path: the import runs once, offline).
func BenchmarkImportCanary(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "canary.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	docs := importer.Split(data)
	b.ReportAllocs()
	for b.Loop() {
		var (
			cfg importer.Config
			ws  importer.Warnings
		)
		if err := Import(docs, Options{}, &cfg, &ws); err != nil {
			b.Fatal(err)
		}
		if _, err := cfg.YAML(); err != nil {
			b.Fatal(err)
		}
	}
}
