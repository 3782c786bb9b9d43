package snapshot

import (
	"fmt"
	"strings"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// A compile that fails gives up the upstream state it took: the pools and
// states in force stay as they are, and the ones only it asked for are
// gone. The snapshot that replaces the first retires what it no longer
// uses once committed.
func TestFailedCompileLeavesUpstreamsInForce(t *testing.T) {
	reg, _ := plugin.NewRegistry(nil)
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	defer pools.Close()
	states := upstream.NewStates()
	rt := upstream.NewRuntime(upstream.RuntimeParts{Pools: pools, States: states})
	compileWith := func(src string) (*Snapshot, error) {
		t.Helper()
		m, err := config.Parse([]byte(src), config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return Compile(m, Deps{Registry: reg, Upstreams: rt})
	}
	const doc = `
_format_version: "3.0"
services:
- {name: s, host: pool, routes: [{paths: [/]}]}
upstreams:
- name: pool
  targets: [{target: "10.0.0.1:80"}%s]
%s`
	first, err := compileWith(fmt.Sprintf(doc, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	rt.Commit(first.Upstreams)
	inForce := first.Services[0].Balancer.Targets()[0]

	// The registry hands every compile the one state of a key, so holding
	// the added target's state before the failed compile is given it shows
	// whether the registry still has it afterwards.
	added := states.Get("pool|10.0.0.2:80")
	_, err = compileWith(fmt.Sprintf(doc, `, {target: "10.0.0.2:80"}`, "plugins: [{name: not-a-plugin}]"))
	if err == nil {
		t.Fatal("a configuration naming an unknown plugin compiled")
	}
	if pools.Get("http://10.0.0.1:80", "10.0.0.1:80", nil) != inForce.Pool || states.Get("pool|10.0.0.1:80") != inForce.State {
		t.Error("the failed compile replaced the pool or state in force")
	}
	// A pool made now has the address given here; the one the failed
	// compile made has the target's.
	if p := pools.Get("http://10.0.0.2:80", "made-after", nil); p.Addr != "made-after" {
		t.Error("the pool only the failed compile asked for was kept")
	}
	if states.Get("pool|10.0.0.2:80") == added {
		t.Error("the state only the failed compile asked for was kept")
	}

	second, err := compileWith(strings.Replace(fmt.Sprintf(doc, "", ""), "10.0.0.1", "10.0.0.3", 1))
	if err != nil {
		t.Fatal(err)
	}
	rt.Commit(second.Upstreams)
	if pools.Get("http://10.0.0.1:80", "10.0.0.1:80", nil) == inForce.Pool || states.Get("pool|10.0.0.1:80") == inForce.State {
		t.Error("the commit kept the pool or state of the target the new configuration removed")
	}
	kept := second.Services[0].Balancer.Targets()[0]
	if pools.Get("http://10.0.0.3:80", "10.0.0.3:80", nil) != kept.Pool || states.Get("pool|10.0.0.3:80") != kept.State {
		t.Error("the commit dropped what the new configuration uses")
	}
}
