package openapi

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/turnpikegw/turnpike/internal/importer"
)

// FuzzImport: whatever the document, the import returns an error or a
// config it can write, never a panic.
func FuzzImport(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("openapi: 3.0.0\npaths:\n  /{a}{b}/{:\n    get: {x-amazon-apigateway-integration: {type: http, uri: 'http://h/{a}{'}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			cfg importer.Config
			ws  importer.Warnings
		)
		docs := importer.Split(data)
		for i := range docs {
			docs[i].File = "fuzz.yaml"
		}
		if err := Import(docs, Options{StageVariables: map[string]string{"adminBackend": "http://a"}}, &cfg, &ws); err != nil {
			return
		}
		if _, err := cfg.YAML(); err != nil {
			t.Fatal(err)
		}
	})
}
