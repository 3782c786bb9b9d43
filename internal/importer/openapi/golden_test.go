package openapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/importer/importertest"
)

// TestGolden imports each description (the patterns guide's AWS example as
// printed, a Swagger 2.0 petstore with every AWS integration kind, an
// OpenAPI 3.1 document with the x-kong-* extensions), compares the config
// and the warnings with the golden files, checks the config as the gateway
// does, and that a second import gives the same bytes.
func TestGolden(t *testing.T) {
	cases := []struct {
		name string
		opts Options
	}{
		{"guide-aws.yaml", Options{}},
		{"petstore-swagger.yaml", Options{StageVariables: map[string]string{"adminBackend": "https://admin.example.com:8443"}}},
		{"kong-ext-31.yaml", Options{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, warnings := importertest.File(t, tc.name, with(tc.opts))
			base := strings.TrimSuffix(tc.name, filepath.Ext(tc.name))
			importertest.Golden(t, filepath.Join("testdata", base+".kong.yml"), string(out))
			importertest.Golden(t, filepath.Join("testdata", base+".warnings.txt"), warnings)
			importertest.Validate(t, out)
			again, _ := importertest.File(t, tc.name, with(tc.opts))
			if string(again) != string(out) {
				t.Error("a second import gave different bytes")
			}
		})
	}
}

// BenchmarkImportPetstore measures one import of the Swagger petstore
// (not on any request path: the import runs once, offline).
func BenchmarkImportPetstore(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "petstore-swagger.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	docs := importer.Split(data)
	opts := Options{StageVariables: map[string]string{"adminBackend": "https://admin.example.com:8443"}}
	b.ReportAllocs()
	for b.Loop() {
		var (
			cfg importer.Config
			ws  importer.Warnings
		)
		if err := Import(docs, opts, &cfg, &ws); err != nil {
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
