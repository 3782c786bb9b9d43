package istio

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/importer/importertest"
)

// TestGolden imports the patterns guide's VirtualService as printed and a
// canary written for the tests, compares the config and the warnings with
// the golden files, checks the config as the gateway does, and that a
// second import gives the same bytes.
func TestGolden(t *testing.T) {
	for _, name := range []string{"guide-virtualservice.yaml", "canary.yaml"} {
		t.Run(name, func(t *testing.T) {
			out, warnings := importertest.File(t, name, with(Options{}))
			base := strings.TrimSuffix(name, filepath.Ext(name))
			importertest.Golden(t, filepath.Join("testdata", base+".kong.yml"), string(out))
			importertest.Golden(t, filepath.Join("testdata", base+".warnings.txt"), warnings)
			importertest.Validate(t, out)
			again, _ := importertest.File(t, name, with(Options{}))
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

// with binds the import's options.
func with(opts Options) importer.ImportFunc {
	return func(docs []importer.Document, cfg *importer.Config, ws *importer.Warnings) error {
		return Import(docs, opts, cfg, ws)
	}
}
