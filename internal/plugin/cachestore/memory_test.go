package cachestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

var ctx = context.Background()

// storeContract checks what every Store does, for each selector kind.
func storeContract(t *testing.T, s Store) {
	t.Helper()
	get := func(key string) string {
		t.Helper()
		b, err := s.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get %q: %v", key, err)
		}
		if b == nil {
			return "<nil>"
		}
		return string(b)
	}
	set := func(key, path, route string, tags ...string) {
		t.Helper()
		if err := s.Set(ctx, key, []byte("entry "+key), time.Minute, Meta{Path: path, RouteID: route, Tags: tags}); err != nil {
			t.Fatalf("Set %q: %v", key, err)
		}
	}
	invalidate := func(sel Selector, want int) {
		t.Helper()
		n, err := s.Invalidate(ctx, sel)
		if err != nil || n != want {
			t.Fatalf("Invalidate %+v = %d, %v; want %d", sel, n, err, want)
		}
	}
	if got := get("absent"); got != "<nil>" {
		t.Fatalf("absent key: %q", got)
	}
	set("k1", "/api/users/1", "r1", "users", "user-1")
	set("k2", "/api/users/2", "r1", "users")
	set("k3", "/api/orders/1", "r2", "orders")
	set("k4", "/api/users", "r2")
	set("k5", "/a[b]*?\x00z", "r3")
	if got := get("k1"); got != "entry k1" {
		t.Fatalf("Get k1 = %q", got)
	}
	invalidate(Selector{Key: "k4"}, 1)
	invalidate(Selector{Key: "k4"}, 0)
	if got := get("k4"); got != "<nil>" {
		t.Fatalf("k4 after its invalidation: %q", got)
	}
	invalidate(Selector{Pattern: "/api/users/*"}, 2)
	if get("k1") != "<nil>" || get("k2") != "<nil>" || get("k3") != "entry k3" {
		t.Fatal("the pattern took the wrong entries")
	}
	// Glob characters and a NUL in a path are matched as themselves.
	invalidate(Selector{Pattern: "/a[b]"}, 0)
	invalidate(Selector{Pattern: "/ab*"}, 0)
	invalidate(Selector{Pattern: "/a?b?\\*\\?z"}, 0)
	invalidate(Selector{Pattern: "/a\\[b]\\*\\?\x00?"}, 1)
	// A path with a NUL is not a shorter path.
	set("k6", "/b\x00c", "r3")
	invalidate(Selector{Pattern: "/b"}, 0)
	invalidate(Selector{Pattern: "/b?c"}, 1)

	set("k1", "/api/users/1", "r1", "users", "user-1")
	set("k2", "/api/users/2", "r1", "users")
	invalidate(Selector{Tag: "user-1"}, 1)
	invalidate(Selector{Tag: "users"}, 1)
	invalidate(Selector{Tag: "users"}, 0)
	set("k1", "/api/users/1", "r1")
	invalidate(Selector{RouteID: "r2"}, 1)
	if get("k3") != "<nil>" || get("k1") != "entry k1" {
		t.Fatal("the route took the wrong entries")
	}
	invalidate(Selector{Key: "k1"}, 1)
	for i := range 5 {
		set("a"+strconv.Itoa(i), "/p", "r")
	}
	invalidate(Selector{All: true}, 5)
	if get("a0") != "<nil>" {
		t.Fatal("an entry after invalidating all")
	}
	if _, err := s.Invalidate(ctx, Selector{Key: "k", Tag: "t"}); err != ErrBadSelector {
		t.Fatalf("two selector fields: %v", err)
	}
	tags := make([]string, MaxTags+1)
	for i := range tags {
		tags[i] = strconv.Itoa(i)
	}
	if err := s.Set(ctx, "t", []byte("x"), time.Minute, Meta{Tags: tags}); err != ErrTooManyTags {
		t.Fatalf("too many tags: %v", err)
	}
	if get("t") != "<nil>" {
		t.Fatal("an entry with too many tags was stored")
	}
}

// expiryContract checks that an entry is gone after its ttl.
func expiryContract(t *testing.T, s Store) {
	t.Helper()
	if err := s.Set(ctx, "short", []byte("x"), 100*time.Millisecond, Meta{Path: "/s", RouteID: "r", Tags: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "long", []byte("y"), time.Minute, Meta{Path: "/l"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Get(ctx, "short"); string(b) != "x" {
		t.Fatalf("before its ttl: %q", b)
	}
	time.Sleep(200 * time.Millisecond)
	if b, _ := s.Get(ctx, "short"); b != nil {
		t.Fatalf("after its ttl: %q", b)
	}
	if b, _ := s.Get(ctx, "long"); string(b) != "y" {
		t.Fatalf("the longer entry: %q", b)
	}
	for _, sel := range []Selector{{Pattern: "/s"}, {RouteID: "r"}, {Tag: "t"}, {Key: "short"}} {
		if n, err := s.Invalidate(ctx, sel); n != 0 || err != nil {
			t.Errorf("an expired entry counted by %+v: %d, %v", sel, n, err)
		}
	}
}

func TestMemoryStore(t *testing.T) {
	m := NewMemory(1 << 20)
	defer m.Close()
	storeContract(t, m)
	// An entry set again with another path is indexed by its new one.
	m.Set(ctx, "k", []byte("x"), time.Minute, Meta{Path: "/old"})
	m.Set(ctx, "k", []byte("x"), time.Minute, Meta{Path: "/new"})
	if n, _ := m.Invalidate(ctx, Selector{Pattern: "/old"}); n != 0 {
		t.Fatal("the old path took the entry")
	}
	if n, _ := m.Invalidate(ctx, Selector{Pattern: "/new"}); n != 1 {
		t.Fatal("the new path did not take the entry")
	}
}

func TestMemoryExpiry(t *testing.T) {
	m := NewMemory(1 << 20)
	defer m.Close()
	expiryContract(t, m)
}

func TestMemoryByteBudget(t *testing.T) {
	const budget = 64 << 10
	m := NewMemory(budget)
	defer m.Close()
	entry := make([]byte, 1024)
	m.Set(ctx, "hot", entry, time.Minute, Meta{Path: "/hot"})
	for i := range 1000 {
		for range 3 {
			m.Get(ctx, "hot")
		}
		m.Set(ctx, "k"+strconv.Itoa(i), entry, time.Minute, Meta{Path: "/cold"})
	}
	m.c.CleanUp()
	if m.Bytes() > budget || m.Len() > budget/1024 {
		t.Fatalf("over the budget: %d entries, %d bytes", m.Len(), m.Bytes())
	}
	if m.Len() < budget/2/(1024+entryOverhead) {
		t.Fatalf("only %d entries (%d bytes) in a budget of %d", m.Len(), m.Bytes(), budget)
	}
	if b, _ := m.Get(ctx, "hot"); b == nil {
		t.Fatal("the most used entry was evicted")
	}
	// An entry larger than the whole budget is not kept.
	m.Set(ctx, "huge", make([]byte, 2*budget), time.Minute, Meta{})
	m.c.CleanUp()
	if b, _ := m.Get(ctx, "huge"); b != nil || m.Bytes() > budget {
		t.Fatalf("an entry over the budget: kept %v, %d bytes", b != nil, m.Bytes())
	}
}

func TestMemoryConcurrent(t *testing.T) {
	m := NewMemory(1 << 20)
	defer m.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				key := strconv.Itoa(i % 50)
				m.Set(ctx, key, []byte(key), time.Minute, Meta{Path: "/" + key, RouteID: "r", Tags: []string{"t" + strconv.Itoa(g)}})
				if b, _ := m.Get(ctx, key); b != nil && string(b) != key {
					t.Errorf("key %s holds %q", key, b)
					return
				}
				if i%100 == 0 {
					m.Invalidate(ctx, Selector{Tag: "t" + strconv.Itoa(g)})
				}
			}
		})
	}
	wg.Wait()
}

// hexKey is a key as the plugin makes it by default: sha256 in hex.
func hexKey(i int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return hex.EncodeToString(sum[:])
}

// TestMemoryHundredThousandEntries is the memory requirement:
// 100,000 cached 1 KiB entries take at most 1.5 times their payload, and
// fit in the default byte budget.
func TestMemoryHundredThousandEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates about 130 MB")
	}
	const n, size = 100_000, 1024
	route := "c0f5b0a2-8d3e-4a8b-9f5e-1d2c3b4a5f60"
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	// The plugin's default budget, 128 MiB, holds them all.
	m := NewMemory(128 << 20)
	for i := range n {
		entry := make([]byte, size)
		entry[0] = byte(i)
		path := fmt.Sprintf("/api/v1/products/%d", i)
		if err := m.Set(ctx, hexKey(i), entry, time.Hour, Meta{Path: path, RouteID: route}); err != nil {
			t.Fatal(err)
		}
	}
	m.c.CleanUp()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if m.Len() != n {
		t.Fatalf("%d entries of %d stayed", m.Len(), n)
	}
	growth := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	payload := float64(n * size)
	t.Logf("%d entries of %d bytes: heap grew %.1f MB for %.1f MB of payload (%.3fx, %.0f bytes per entry beyond its entry); budget counts %d bytes",
		n, size, growth/1e6, payload/1e6, growth/payload, (growth-payload)/n, m.Bytes())
	if growth > 1.5*payload {
		t.Errorf("heap grew %.3fx the payload, over 1.5x", growth/payload)
	}
	start := time.Now()
	if got, _ := m.Invalidate(ctx, Selector{Pattern: "/api/v1/products/1*"}); got != 11111 {
		t.Errorf("the pattern took %d entries, want 11111", got)
	}
	t.Logf("a pattern invalidation over %d entries took %v", n, time.Since(start))
	start = time.Now()
	if got, _ := m.Invalidate(ctx, Selector{Tag: "absent"}); got != 0 {
		t.Errorf("a tag nobody has took %d entries", got)
	}
	t.Logf("a tag invalidation over %d entries took %v", n-11111, time.Since(start))
	runtime.KeepAlive(m)
	m.Close()
}

func BenchmarkMemoryGet(b *testing.B) {
	m := NewMemory(64 << 20)
	defer m.Close()
	key := hexKey(1)
	m.Set(ctx, key, make([]byte, 1024), time.Hour, Meta{Path: "/p", RouteID: "r"})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if e, _ := m.Get(ctx, key); e == nil {
				b.Fatal("miss")
			}
		}
	})
}

func BenchmarkMemorySet(b *testing.B) {
	m := NewMemory(64 << 20)
	defer m.Close()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = hexKey(i)
	}
	entry := make([]byte, 1024)
	meta := Meta{Path: "/api/v1/products", RouteID: "r"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Set(ctx, keys[i&1023], entry, time.Hour, meta)
		i++
	}
}

func BenchmarkMemoryGetSerial(b *testing.B) {
	m := NewMemory(64 << 20)
	defer m.Close()
	key := hexKey(1)
	m.Set(ctx, key, make([]byte, 1024), time.Hour, Meta{Path: "/p", RouteID: "r"})
	b.ReportAllocs()
	for b.Loop() {
		if e, _ := m.Get(ctx, key); e == nil {
			b.Fatal("miss")
		}
	}
}
