package snapshot

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

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

// tokenInstance records the credentials of kind res_tokens that Reloaded
// tells it of.
type tokenInstance struct {
	closingInstance
	told    [][]*plugin.Credential
	started int
}

func (j *tokenInstance) Start() { j.started++ }

func (j *tokenInstance) Reloaded(next plugin.Reload) {
	j.told = append(j.told, next.Directory.Credentials("res_tokens"))
}

type resToken struct {
	Token string `yaml:"token"`
}

func TestReloadedTellsKeptReloadersAndStartsNewOnes(t *testing.T) {
	var built []*tokenInstance
	reg, err := plugin.NewRegistry([]plugin.Registration{{
		Name: "res", Priority: 10,
		NewConfig: func() any { return &tagConfig{} },
		New: func(cfg any, _ plugin.Env) (plugin.Instance, error) {
			inst := &tokenInstance{closingInstance: closingInstance{tag: cfg.(*tagConfig).Tag}}
			built = append(built, inst)
			return inst, nil
		},
		Credentials: []plugin.CredentialKind{{
			Name: "res_tokens", Label: "res", Endpoint: "res-tokens", ConsumerEndpoint: "res-token",
			New:   func() any { return &resToken{} },
			Key:   func(f any) string { return f.(*resToken).Token },
			Check: func(any, plugin.CredentialCheck) bool { return true },
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	compileWith := func(yaml string, prev *Snapshot) *Snapshot {
		m, err := config.Parse([]byte(yaml), config.Options{Credentials: CredentialKinds(reg)})
		if err != nil {
			t.Fatal(err)
		}
		s, err := Compile(m, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools}), Previous: prev})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// A global instance too, so that two instances are kept.
	const global = `
plugins:
- name: res
  config: {tag: global}
`
	const tokens = `
consumers:
- username: u
  res_tokens: [{token: t1}, {token: t2}]
`
	first := compileWith(fmt.Sprintf(releaseBase, "old")+global, nil)
	Reloaded(nil, first)
	for i, inst := range built {
		if inst.started != 1 {
			t.Fatalf("instance %d of the first load started %d times, want 1", i, inst.started)
		}
	}
	second := compileWith(fmt.Sprintf(releaseBase, "new")+global+tokens, first)
	Reloaded(first, second)
	// Started: the instance this load built, once; the kept ones were
	// started by the load that built them.
	for i, inst := range built {
		if inst.started != 1 {
			t.Errorf("instance %d started %d times after the reload, want 1", i, inst.started)
		}
	}
	// Kept: the "kept" and "global" instances, told the new credentials;
	// the "new" one was built for this configuration.
	allTold := func() [][]*plugin.Credential {
		var told [][]*plugin.Credential
		for _, inst := range built {
			told = append(told, inst.told...)
		}
		return told
	}
	told := allTold()
	if len(built) != 4 || len(built[3].told) != 0 {
		t.Fatalf("built %d instances, want 4 (the new one told nothing)", len(built))
	}
	if len(told) != 2 || len(told[0]) != 2 || told[0][0].Key != "t1" || told[0][1].Key != "t2" {
		t.Fatalf("kept instances told %v", told)
	}
	// The credentials were listed once, when the directory indexed them:
	// every instance gets the same list, without allocating.
	if &told[0][0] != &told[1][0] {
		t.Error("the kept instances were told different lists")
	}
	if n := testing.AllocsPerRun(10, func() { second.Directory.Credentials("res_tokens") }); n != 0 {
		t.Errorf("listing a kind allocates %v times", n)
	}
	// A recompile of the same model (a DNS change) is no reload.
	again, err := Compile(second.Model, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools}), Previous: second})
	if err != nil {
		t.Fatal(err)
	}
	Reloaded(second, again)
	if told := allTold(); len(told) != 2 {
		t.Fatalf("a recompile of the same configuration told %v", told)
	}
}

// barrierCloser's Close returns once all n closers of its barrier are in
// Close, or after a few seconds, noting that it waited alone.
type barrierCloser struct {
	in    *atomic.Int32
	n     int32
	all   chan struct{}
	alone *atomic.Bool
}

func (b *barrierCloser) Access(*plugin.Ctx) error { return nil }
func (b *barrierCloser) Close() {
	if b.in.Add(1) == b.n {
		close(b.all)
	}
	select {
	case <-b.all:
	case <-time.After(3 * time.Second):
		b.alone.Store(true)
	}
}

// Release closes a snapshot's instances concurrently: a Close that waits
// (a log queue flushing to a slow collector) does not hold the others.
func TestReleaseClosesConcurrently(t *testing.T) {
	var in atomic.Int32
	var alone atomic.Bool
	all := make(chan struct{})
	s := &Snapshot{}
	for range 3 {
		s.Instances = append(s.Instances, &barrierCloser{in: &in, n: 3, all: all, alone: &alone})
	}
	Release(s, nil)
	if alone.Load() || in.Load() != 3 {
		t.Errorf("closes ran one after another (%d entered)", in.Load())
	}
}
