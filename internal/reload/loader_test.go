package reload

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
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
	return New(h, snapshot.Deps{Registry: reg, Pools: pools}, path, config.Options{}, nil), h
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
	l.mu.Lock()
	_, err := l.TryApply(cfg("x"), "admin")
	l.mu.Unlock()
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v", err)
	}
}

func TestCheckDoesNotApply(t *testing.T) {
	l, h := newLoader(t, "")
	l.Apply(cfg("one"), "test")
	if _, err := l.Check(cfg("two")); err != nil {
		t.Fatal(err)
	}
	if routeName(h) != "one" {
		t.Fatal("Check applied the config")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
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
	if err := l.Watch(ctx, 50*time.Millisecond); err != nil {
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
	if err := l2.Watch(ctx, 50*time.Millisecond); err != nil {
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
