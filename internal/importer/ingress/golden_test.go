package ingress

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/importer/importertest"
)

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
			out, warns := importertest.File(t, name, with(opts))
			importertest.Validate(t, out)
			base := filepath.Join("testdata", strings.TrimSuffix(name, ".yaml"))
			importertest.Golden(t, base+".kong.yml", string(out))
			importertest.Golden(t, base+".warnings", warns)
			again, _ := importertest.File(t, name, with(opts))
			if !bytes.Equal(out, again) {
				t.Error("a second import gave other bytes")
			}
		})
	}
}

// with binds the import's options.
func with(opts Options) importer.ImportFunc {
	return func(docs []importer.Document, cfg *importer.Config, ws *importer.Warnings) error {
		return Import(docs, opts, cfg, ws)
	}
}
