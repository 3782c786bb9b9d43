package snapshot

import (
	"fmt"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// closingInstance counts its Close calls.
type closingInstance struct {
	tag    string
	closed int
}

func (c *closingInstance) Access(*plugin.Ctx) error { return nil }
func (c *closingInstance) Close()                   { c.closed++ }

// releaseCompiler compiles configs with a registry whose "res" plugin
// holds resources; built records every instance New made.
type releaseCompiler struct {
	reg   *plugin.Registry
	pools *upstream.Pools
	built []*closingInstance
}

func newReleaseCompiler(t *testing.T) *releaseCompiler {
	rc := &releaseCompiler{pools: upstream.NewPools(upstream.DefaultPoolOptions)}
	t.Cleanup(rc.pools.Close)
	reg, err := plugin.NewRegistry([]plugin.Registration{{
		Name:      "res",
		Priority:  10,
		NewConfig: func() any { return &tagConfig{} },
		New: func(cfg any, _ plugin.Env) (plugin.Instance, error) {
			inst := &closingInstance{tag: cfg.(*tagConfig).Tag}
			rc.built = append(rc.built, inst)
			return inst, nil
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rc.reg = reg
	return rc
}

func (rc *releaseCompiler) compile(t *testing.T, yaml string, prev *Snapshot) (*Snapshot, error) {
	t.Helper()
	m, err := config.Parse([]byte(yaml), config.Options{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return Compile(m, Deps{Registry: rc.reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: rc.pools}), Previous: prev})
}

const releaseBase = `
_format_version: "3.0"
services:
- name: s
  url: http://127.0.0.1:1
  routes:
  - name: r
    paths: [/r]
    plugins:
    - name: res
      config: {tag: kept}
  - name: q
    paths: [/q]
    plugins:
    - name: res
      config: {tag: %s}
`

func TestReleaseClosesOnlyReplacedInstances(t *testing.T) {
	rc := newReleaseCompiler(t)
	first, err := rc.compile(t, fmt.Sprintf(releaseBase, "old"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.built) != 2 {
		t.Fatalf("built %d instances, want 2", len(rc.built))
	}
	kept, old := rc.built[0], rc.built[1]

	second, err := rc.compile(t, fmt.Sprintf(releaseBase, "new"), first)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.built) != 3 {
		t.Fatalf("the unchanged instance was rebuilt: %d instances", len(rc.built))
	}
	Release(first, second)
	if kept.closed != 0 || old.closed != 1 || rc.built[2].closed != 0 {
		t.Fatalf("closed: kept %d, replaced %d, new %d; want 0, 1, 0", kept.closed, old.closed, rc.built[2].closed)
	}

	Release(second, nil)
	if kept.closed != 1 || rc.built[2].closed != 1 || old.closed != 1 {
		t.Fatalf("shutdown closed kept %d, new %d, replaced %d; want 1 each", kept.closed, rc.built[2].closed, old.closed)
	}
}

func TestFailedCompileClosesWhatItBuilt(t *testing.T) {
	rc := newReleaseCompiler(t)
	first, err := rc.compile(t, fmt.Sprintf(releaseBase, "old"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The new instance compiles, then an unknown plugin fails the config.
	bad := fmt.Sprintf(releaseBase, "other") + `plugins:
- name: no-such-plugin
`
	if _, err := rc.compile(t, bad, first); err == nil {
		t.Fatal("a config with an unknown plugin compiled")
	}
	if len(rc.built) != 3 {
		t.Fatalf("built %d instances, want 3", len(rc.built))
	}
	if rc.built[2].closed != 1 {
		t.Fatalf("the failed compile's own instance was closed %d times, want 1", rc.built[2].closed)
	}
	if rc.built[0].closed != 0 || rc.built[1].closed != 0 {
		t.Fatal("a failed compile closed instances of the snapshot in force")
	}
}

// jwksInstance records the jwks_uri of the jwt credentials Reloaded
// tells it of.
type jwksInstance struct {
	closingInstance
	told [][]string
}

func (j *jwksInstance) Reloaded(next plugin.Reload) {
	var uris []string
	for _, c := range next.Credentials("jwt") {
		uris = append(uris, c.JWKSURI)
	}
	j.told = append(j.told, uris)
}

func TestReloadedTellsKeptReloaders(t *testing.T) {
	var built []*jwksInstance
	reg, err := plugin.NewRegistry([]plugin.Registration{{
		Name: "res", Priority: 10,
		NewConfig: func() any { return &tagConfig{} },
		New: func(cfg any, _ plugin.Env) (plugin.Instance, error) {
			inst := &jwksInstance{closingInstance: closingInstance{tag: cfg.(*tagConfig).Tag}}
			built = append(built, inst)
			return inst, nil
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	compileWith := func(yaml string, prev *Snapshot) *Snapshot {
		m, err := config.Parse([]byte(yaml), config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := Compile(m, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools}), Previous: prev})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const jwks = `
consumers:
- username: u
  jwt_secrets:
  - {key: idp, algorithm: RS256, jwks_uri: "https://idp.example/jwks", audience: [api]}
`
	first := compileWith(fmt.Sprintf(releaseBase, "old"), nil)
	second := compileWith(fmt.Sprintf(releaseBase, "new")+jwks, first)
	Reloaded(first, second)
	// Kept: the "kept" instance, told the new URIs; the "new" one was built
	// for this configuration and fetches on first use.
	if len(built) != 3 || len(built[0].told) != 1 || fmt.Sprint(built[0].told[0]) != "[https://idp.example/jwks]" {
		t.Fatalf("kept instance told %v", built[0].told)
	}
	if len(built[2].told) != 0 {
		t.Fatalf("a new instance was told %v", built[2].told)
	}
	// A recompile of the same model (a DNS change) is no reload.
	again, err := Compile(second.Model, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools}), Previous: second})
	if err != nil {
		t.Fatal(err)
	}
	Reloaded(second, again)
	if len(built[0].told) != 1 {
		t.Fatalf("a recompile of the same configuration told %v", built[0].told)
	}
}
