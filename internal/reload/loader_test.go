package reload

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/resolver"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

func newLoader(t testing.TB, path string) (*Loader, *snapshot.Holder) {
	t.Helper()
	reg, err := plugin.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	h := &snapshot.Holder{}
	return New(h, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})}, path, config.Options{}, nil), h
}

func cfg(route string) []byte {
	return []byte(fmt.Sprintf("_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:1\n  routes:\n  - name: %s\n    paths: [/%s]\n", route, route))
}

func routeName(h *snapshot.Holder) string { return h.Load().Routes[0].Info.Name }

func TestApplyAndRejectKeepsOld(t *testing.T) {
	l, h := newLoader(t, "")
	if _, err := l.Apply(cfg("one"), "test"); err != nil {
		t.Fatal(err)
	}
	if routeName(h) != "one" || !l.Last().OK || l.Applied() != 1 {
		t.Fatalf("first apply: %s %+v", routeName(h), l.Last())
	}
	_, err := l.Apply([]byte("_format_version: \"3.0\"\nroutes:\n- paths: [nope]\n  colour: red\n"), "test")
	var errs config.Errors
	if !errors.As(err, &errs) || len(errs) < 2 {
		t.Fatalf("invalid config: %v", err)
	}
	if routeName(h) != "one" {
		t.Fatal("an invalid config replaced the valid one")
	}
	last := l.Last()
	if last.OK || len(last.Messages) != len(errs) || !strings.Contains(strings.Join(last.Messages, "\n"), "routes[0].paths[0]") {
		t.Fatalf("last result: %+v", last)
	}
	if _, err := l.Apply(cfg("two"), "test"); err != nil || routeName(h) != "two" {
		t.Fatalf("recovery: %v %s", err, routeName(h))
	}
}

func TestLoadFileSkipsUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kong.yml")
	os.WriteFile(path, cfg("one"), 0o600)
	l, h := newLoader(t, path)
	first, err := l.LoadFile("test")
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.LoadFile("test")
	if err != nil || again != first || !l.Last().Unchanged || l.Applied() != 1 {
		t.Fatalf("unchanged file was re-applied: %v %+v", err, l.Last())
	}
	os.WriteFile(path, cfg("two"), 0o600)
	if _, err := l.LoadFile("test"); err != nil || routeName(h) != "two" {
		t.Fatalf("changed file: %v", err)
	}
}

func TestTryApplyIsBusyDuringALoad(t *testing.T) {
	l, _ := newLoader(t, "")
	l.gate.lock(false)
	start := time.Now()
	_, err := l.TryApply(cfg("x"), "admin")
	l.gate.unlock()
	// Waiting as for a DNS recompile would take refreshWait (5 s); half of
	// it leaves a loaded machine ample room.
	if !errors.Is(err, ErrBusy) || time.Since(start) > refreshWait/2 {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

// A DNS recompile holding the gate is waited for, not answered with
// ErrBusy; one that outlasts the wait is.
func TestTryApplyWaitsForADNSRecompile(t *testing.T) {
	l, h := newLoader(t, "")
	l.gate.lock(true)
	var released atomic.Bool
	go func() {
		// Gives TryApply time to start waiting; were it to come later, it
		// would find the gate free and the test would still hold.
		time.Sleep(100 * time.Millisecond)
		released.Store(true)
		l.gate.unlock()
	}()
	if _, err := l.TryApply(cfg("x"), "admin"); err != nil || routeName(h) != "x" {
		t.Fatalf("during a recompile: %v", err)
	}
	if !released.Load() {
		t.Error("applied while the recompile held the gate")
	}

	var g gate
	g.lock(true)
	start := time.Now()
	if g.tryLock(50 * time.Millisecond) {
		t.Fatal("took a gate a recompile holds")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("gave up after %v, before the wait", d)
	}
	g.unlock()
	if !g.tryLock(0) {
		t.Fatal("a free gate was not taken")
	}
}

// POST /config while the resolver keeps recompiling: every TryApply goes
// through, and the recompiles change neither the last result, nor the
// load in force, nor the count of loads applied.
func TestDNSRecompilesDoNotDisturbLoads(t *testing.T) {
	l, h := newLoader(t, "")
	if _, err := l.Apply(cfg("zero"), "startup"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				l.Refresh("dns")
			}
		}
	}()
	for i := range 50 {
		name := fmt.Sprintf("r%d", i)
		if _, err := l.TryApply(cfg(name), "admin"); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("load %d: %v", i, err)
		}
		if last := l.Last(); last.Trigger != "admin" || !last.OK {
			t.Errorf("last result after load %d: %+v", i, last)
		}
	}
	inForce := l.InForce()
	_, err := l.TryApply([]byte("_format_version: \"3.0\"\nroutes:\n- paths: [nope]\n"), "admin")
	if err == nil {
		t.Fatal("an invalid config was applied")
	}
	rejectedAt := l.Refreshes()
	waitFor(t, "a recompile after the rejected load", func() bool { return l.Refreshes() > rejectedAt })
	close(stop)
	wg.Wait()
	if l.Applied() != 51 || routeName(h) != "r49" {
		t.Errorf("applied %d (want 51 loads, recompiles not counted), route %s", l.Applied(), routeName(h))
	}
	if last := l.Last(); last.OK || last.Trigger != "admin" || len(last.Messages) == 0 {
		t.Errorf("a recompile hid the rejected load: %+v", last)
	}
	if l.InForce() != inForce || inForce.Trigger != "admin" || !inForce.OK || inForce.Hash != h.Load().Hash {
		t.Errorf("load in force %+v, want the last applied", l.InForce())
	}
}

func TestCheckDoesNotApply(t *testing.T) {
	l, h := newLoader(t, "")
	l.Apply(cfg("one"), "test")
	if _, err := l.Check(func() ([]byte, error) { return cfg("two"), nil }); err != nil {
		t.Fatal(err)
	}
	if routeName(h) != "one" {
		t.Fatal("Check applied the config")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatchEditorRenameAndSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	// A Kubernetes ConfigMap volume: kong.yml -> ..data/kong.yml, ..data -> ..v1
	os.MkdirAll(filepath.Join(dir, "..v1"), 0o755)
	os.WriteFile(filepath.Join(dir, "..v1", "kong.yml"), cfg("one"), 0o600)
	os.Symlink("..v1", filepath.Join(dir, "..data"))
	os.Symlink(filepath.Join("..data", "kong.yml"), filepath.Join(dir, "kong.yml"))
	path := filepath.Join(dir, "kong.yml")
	l, h := newLoader(t, path)
	if _, err := l.LoadFile("startup"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := l.Watch(ctx, 50*time.Millisecond, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	// The ConfigMap update: a new ..v2 directory, then an atomic swap of ..data.
	os.MkdirAll(filepath.Join(dir, "..v2"), 0o755)
	os.WriteFile(filepath.Join(dir, "..v2", "kong.yml"), cfg("two"), 0o600)
	os.Symlink("..v2", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the symlink swap to be applied", func() bool { return routeName(h) == "two" })

	// An editor: write a temp file, rename it over the config.
	plain := filepath.Join(dir, "plain")
	os.MkdirAll(plain, 0o755)
	p2 := filepath.Join(plain, "kong.yml")
	os.WriteFile(p2, cfg("three"), 0o600)
	l2, h2 := newLoader(t, p2)
	l2.LoadFile("startup")
	if err := l2.Watch(ctx, 50*time.Millisecond, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(plain, ".kong.yml.swp")
	os.WriteFile(tmp, cfg("four"), 0o600)
	os.Rename(tmp, p2)
	waitFor(t, "the renamed file to be applied", func() bool { return routeName(h2) == "four" })

	// A burst of writes is debounced into few reloads.
	before := l2.Applied()
	for i := range 20 {
		os.WriteFile(p2, cfg(fmt.Sprintf("burst%d", i)), 0o600)
	}
	waitFor(t, "the burst to settle", func() bool { return routeName(h2) == "burst19" })
	if n := l2.Applied() - before; n > 5 {
		t.Errorf("20 writes caused %d reloads", n)
	}
}

func TestConcurrentApplies(t *testing.T) {
	l, h := newLoader(t, "")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Apply(cfg(fmt.Sprintf("r%d", i)), "test")
		}()
	}
	wg.Wait()
	if l.Applied() != 8 || !strings.HasPrefix(routeName(h), "r") {
		t.Fatalf("applied %d", l.Applied())
	}
}

// bigConfig is 10,000 routes over 1,000 services and 1,000 consumers.
func bigConfig(routes, consumers int) []byte {
	var b strings.Builder
	b.WriteString("_format_version: \"3.0\"\nservices:\n")
	for s := range routes / 10 {
		fmt.Fprintf(&b, "- name: svc-%d\n  url: http://10.0.%d.%d:8080/api\n  routes:\n", s, s/250, s%250)
		for r := range 10 {
			fmt.Fprintf(&b, "  - name: route-%d-%d\n    paths: [/svc-%d/r%d]\n    methods: [GET, POST]\n", s, r, s, r)
		}
	}
	b.WriteString("consumers:\n")
	for c := range consumers {
		fmt.Fprintf(&b, "- username: consumer-%d\n  custom_id: c%d\n", c, c)
	}
	return []byte(b.String())
}

// The bar: 10,000 routes and 1,000 consumers validated, compiled
// and swapped in under a second.
func BenchmarkApply10kRoutes1kConsumers(b *testing.B) {
	data := bigConfig(10000, 1000)
	l, _ := newLoader(b, "")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// Alternate two documents so nothing is skipped as unchanged.
		doc := data
		if i%2 == 1 {
			doc = append(append([]byte{}, data...), "\n# v2\n"...)
		}
		if _, err := l.Apply(doc, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// dnsTable serves A records for names from a table the test changes (a
// name error for the others), with a TTL of 0, on a loopback UDP port.
type dnsTable struct {
	mu      sync.Mutex
	records map[string][]string
}

func (d *dnsTable) set(name string, ips ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.records[name] = ips
}

func (d *dnsTable) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(req)
	q := req.Question[0]
	ips, ok := d.records[q.Name]
	if !ok {
		m.Rcode = dns.RcodeNameError
	}
	if q.Qtype == dns.TypeA {
		for _, ip := range ips {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.ParseIP(ip)})
		}
	}
	w.WriteMsg(m)
}

func startDNSTable(t *testing.T) (*dnsTable, string) {
	t.Helper()
	d := &dnsTable{records: map[string][]string{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: d, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return d, pc.LocalAddr().String()
}

// When a target name's addresses change, the resolver's callback
// recompiles the configuration in force (Refresh): the balancer gets the
// new address, while the unchanged one keeps its pool, state and health
// checker entry, and the removed one's pool is closed.
func TestRefreshOnDNSChange(t *testing.T) {
	table, addr := startDNSTable(t)
	table.set("svc.test.", "10.0.0.1", "10.0.0.2")
	res, err := resolver.New(resolver.Options{Nameservers: []string{addr},
		ResolvConf: filepath.Join(t.TempDir(), "none"), Debounce: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	reg, _ := plugin.NewRegistry(nil)
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	defer pools.Close()
	states := upstream.NewStates()
	health := upstream.NewHealthCheckers(upstream.HealthOptions{})
	defer health.Close()
	h := &snapshot.Holder{}
	l := New(h, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools, States: states, Health: health, Resolver: res})}, "", config.Options{}, nil)
	if snap, err := l.Refresh("dns"); snap != nil || err != nil {
		t.Fatalf("refresh without a configuration: %v %v", snap, err)
	}
	res.OnChange(func() { l.Refresh("dns") })
	doc := []byte(`_format_version: "3.0"
services:
- name: s
  host: pool
  routes: [{paths: [/]}]
upstreams:
- name: pool
  healthchecks:
    passive:
      unhealthy: {tcp_failures: 1}
  targets:
  - target: svc.test:8080
`)
	first, err := l.Apply(doc, "test")
	if err != nil {
		t.Fatal(err)
	}
	byAddr := func(s *snapshot.Snapshot) map[string]*upstream.Target {
		out := map[string]*upstream.Target{}
		for _, tg := range s.Services[0].Balancer.Targets() {
			out[tg.Addr] = tg
		}
		return out
	}
	before := byAddr(first)
	if len(before) != 2 || before["10.0.0.1:8080"] == nil || before["10.0.0.1:8080"].Origin != "svc.test:8080" {
		t.Fatalf("first targets %v", before)
	}
	if n := len(health.Checker("pool").Targets()); n != 2 {
		t.Fatalf("health checker has %d targets, want the 2 addresses", n)
	}
	checker := health.Checker("pool")

	table.set("svc.test.", "10.0.0.1", "10.0.0.3")
	waitFor(t, "the refresh", func() bool { return byAddr(h.Load())["10.0.0.3:8080"] != nil })
	after := byAddr(h.Load())
	if len(after) != 2 || after["10.0.0.2:8080"] != nil {
		t.Fatalf("targets after the change %v", after)
	}
	kept, old := after["10.0.0.1:8080"], before["10.0.0.1:8080"]
	if kept.Pool != old.Pool || kept.State != old.State {
		t.Error("the unchanged address lost its pool or state")
	}
	if h.Load().Hash != first.Hash || l.Last().Trigger != "test" || !l.Last().OK || l.Applied() != 1 || l.Refreshes() == 0 {
		t.Errorf("after a recompile: last %+v, %d applied, %d recompiles", l.Last(), l.Applied(), l.Refreshes())
	}
	var addrs []string
	for _, th := range health.Checker("pool").Targets() {
		addrs = append(addrs, th.Addr)
	}
	if health.Checker("pool") == checker || strings.Join(addrs, ",") != "10.0.0.1:8080,10.0.0.3:8080" {
		t.Errorf("health checker targets %v", addrs)
	}
	if !h.Load().Upstreams.PoolKeys["http://10.0.0.3:8080"] || pools.Get("http://10.0.0.2:8080", "10.0.0.2:8080", nil) == before["10.0.0.2:8080"].Pool {
		t.Error("the removed address's pool was kept")
	}

	// The name stops resolving: the target stays, with no address.
	table.set("svc.test.")
	waitFor(t, "the empty answer", func() bool { return len(h.Load().Services[0].Balancer.Targets()) == 0 })
	if _, err := h.Load().Services[0].Balancer.Pick(&upstream.PickRequest{}); !errors.Is(err, upstream.ErrNoTarget) {
		t.Errorf("pick with no address: %v", err)
	}
}

// A configuration rejected when compiled leaves no DNS names behind: the
// names it alone had are forgotten, so they are not refreshed for nothing;
// those of the configuration in force stay.
func TestRejectedConfigForgetsItsDNSNames(t *testing.T) {
	table, addr := startDNSTable(t)
	table.set("kept.test.", "10.0.0.1")
	table.set("rejected.test.", "10.0.0.2")
	res, err := resolver.New(resolver.Options{Nameservers: []string{addr},
		ResolvConf: filepath.Join(t.TempDir(), "none"), Order: []string{"A"}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	reg, _ := plugin.NewRegistry(nil)
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	defer pools.Close()
	l := New(&snapshot.Holder{}, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools, Resolver: res})}, "", config.Options{}, nil)
	if _, err := l.Apply([]byte("_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://kept.test:8080\n  routes: [{paths: [/]}]\n"), "test"); err != nil {
		t.Fatal(err)
	}
	// Valid to parse; the compile resolves rejected.test, then fails on
	// the plugin this registry does not have.
	_, err = l.Apply([]byte(`_format_version: "3.0"
services:
- name: s
  url: http://kept.test:8080
  routes: [{paths: [/]}]
- name: t
  url: http://rejected.test:8080
  routes: [{paths: [/t]}]
  plugins: [{name: key-auth}]
`), "test")
	if err == nil || !strings.Contains(err.Error(), "key-auth") {
		t.Fatalf("want the compile to fail on the plugin: %v", err)
	}
	if addrs, err := res.Lookup("kept.test"); err != nil || len(addrs) != 1 {
		t.Errorf("the name in force: %v %v", addrs, err)
	}
	if _, err := res.Lookup("rejected.test"); err == nil || !strings.Contains(err.Error(), "not resolved") {
		t.Errorf("the rejected config's name is still cached: %v", err)
	}
}

// The bound on a document's values follows the memory budget: the parser
// cannot be stopped once it runs, so a smaller budget refuses a document
// of many values before parsing, and no budget sets no bound.
func TestValueBoundFollowsMemoryBudget(t *testing.T) {
	if got := MaxValues(DefaultLimits.Memory); got < 3_000_000 || got > 3_100_000 {
		t.Errorf("default bound %d, want about 3 million", got)
	}
	if got := MaxValues(0); got >= 0 {
		t.Errorf("no budget: bound %d, want none", got)
	}
	l, h := newLoader(t, "")
	lim := DefaultLimits
	lim.Memory = 1000 * bytesPerValue
	l.SetLimits(lim)
	doc := string(cfg("one")) + "tags: [" + strings.Repeat("a, ", 2000) + "a]\n"
	if _, err := l.Apply([]byte(doc), "test"); err == nil || !strings.Contains(err.Error(), "more than 1000 values") {
		t.Fatalf("err %v, want more than 1000 values", err)
	}
	if h.Load() != nil {
		t.Fatal("a refused document was put in force")
	}
	lim.Memory = 0
	l.SetLimits(lim)
	if _, err := l.Apply([]byte(doc), "test"); err == nil || strings.Contains(err.Error(), "values") {
		t.Fatalf("no budget: err %v, want only the unknown field", err)
	}
}

// TestQueuedLoadFileReadsTheFileWhenItsTurnComes: a LoadFile waiting
// behind another load (SIGHUPs during a long load) applies the file as it
// is when it runs, not a copy read while it waited, which could put an
// older version back over a newer one.
func TestQueuedLoadFileReadsTheFileWhenItsTurnComes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kong.yml")
	os.WriteFile(path, cfg("old"), 0o600)
	l, h := newLoader(t, path)
	l.gate.lock(false)
	done := make(chan error, 1)
	go func() {
		_, err := l.LoadFile("sighup")
		done <- err
	}()
	// Give the queued load ample time to read the file early, as it did.
	time.Sleep(200 * time.Millisecond)
	os.WriteFile(path, cfg("new"), 0o600)
	l.gate.unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := routeName(h); got != "new" {
		t.Fatalf("the queued load applied %q, want the file as it was when its turn came (new)", got)
	}
}

// TestCheckContextWaits: CheckContext waits behind a load in progress
// and checks once it ends; it gives up with ErrBusy when its context
// ends first. Check does not wait.
func TestCheckContextWaits(t *testing.T) {
	l, _ := newLoader(t, "")
	doc := func() ([]byte, error) { return []byte("_format_version: \"3.0\"\n"), nil }
	l.gate.lock(false)
	if _, err := l.Check(doc); !errors.Is(err, ErrBusy) {
		t.Fatalf("Check during a load: %v, want ErrBusy", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.CheckContext(ctx, doc); !errors.Is(err, ErrBusy) {
		t.Fatalf("CheckContext past its context: %v, want ErrBusy", err)
	}
	time.AfterFunc(50*time.Millisecond, l.gate.unlock)
	if _, err := l.CheckContext(context.Background(), doc); err != nil {
		t.Fatalf("CheckContext once the load ended: %v", err)
	}
}
