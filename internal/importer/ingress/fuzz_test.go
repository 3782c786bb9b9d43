package ingress

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// FuzzImport: no manifest makes the import panic or loop, and whatever it
// imports can be written.
func FuzzImport(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cfg importer.Config
		var ws importer.Warnings
		if err := Import(importer.Split(data), Options{}, &cfg, &ws); err != nil {
			return
		}
		if _, err := cfg.YAML(); err != nil {
			t.Fatal(err)
		}
	})
}
