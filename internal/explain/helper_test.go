package explain

import (
	"os"
	"regexp"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

var placeholder = regexp.MustCompile(`\{\{([a-z0-9-]+)(\.addr)?\}\}`)

// testConfig fills testdata/explain.yml: service {{name}} becomes
// http://name.internal:8080 and {{name.addr}} name.internal:8080.
func testConfig(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/explain.yml")
	if err != nil {
		t.Fatal(err)
	}
	return placeholder.ReplaceAllStringFunc(string(raw), func(s string) string {
		m := placeholder.FindStringSubmatch(s)
		addr := m[1] + ".internal:8080"
		if m[2] != "" {
			return addr
		}
		return "http://" + addr
	})
}

func compile(t *testing.T, yaml string) *snapshot.Snapshot {
	t.Helper()
	m, err := config.Parse([]byte(yaml), config.Options{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	reg, err := plugin.NewRegistry(all.Registrations())
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	snap, err := snapshot.Compile(m, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return snap
}
