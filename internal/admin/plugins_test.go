package admin

import (
	"fmt"
	"strings"
	"testing"
)

// TestPluginViewPluginsCost checks that listing a plugin's entities with
// their instances costs the same per entity whatever the configuration
// holds: the instance is looked up through the entry kept on the index,
// not by deriving every entry's id again (a hash and an allocation each,
// so rate-limiting entries × all entries in the 400 answer of
// /rate-limits/rate-limiting/{key}).
func TestPluginViewPluginsCost(t *testing.T) {
	const n = 200
	var b strings.Builder
	b.WriteString("_format_version: \"3.0\"\nservices:\n- name: s\n  host: s.test\n  routes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: r%d\n    paths: [/r%d]\n    plugins: [{name: rate-limiting, config: {minute: 5}}]\n", i, i)
	}
	f := newFixture(t, b.String(), nil)
	t.Cleanup(f.loader.Close)
	v := pluginView{buildIndex(f.holder.Load(), f.reg, 0)}

	var got int
	allocs := testing.AllocsPerRun(1, func() {
		got = 0
		for _, p := range v.Plugins("rate-limiting") {
			if p.Instance != nil {
				got++
			}
		}
	})
	if got != n {
		t.Fatalf("%d of %d entities have an instance", got, n)
	}
	// Only the growing result slice allocates (log2(n) times); one
	// allocation per entry and lookup would be n×n.
	if allocs > 20 {
		t.Fatalf("Plugins allocates %.0f times for %d entities", allocs, n)
	}
}
