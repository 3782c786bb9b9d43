package store

import (
	"hash/maphash"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func hashString(seed maphash.Seed, k string) uint64 { return maphash.String(seed, k) }

// put stores v under k, expiring at exp.
func put(m *Memory[string, int], k string, v int, exp time.Time) {
	sh := m.Lock(k)
	e := sh.Get(k)
	if e == nil {
		e = sh.Insert(k, m.clock().UnixNano())
	}
	e.Value = v
	sh.SetExpiry(e, exp.UnixNano())
	sh.Unlock()
}

func get(m *Memory[string, int], k string) (int, bool) {
	sh := m.Lock(k)
	defer sh.Unlock()
	if e := sh.Get(k); e != nil {
		return e.Value, true
	}
	return 0, false
}

func TestMemoryExpiry(t *testing.T) {
	at := time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: at}
	m := NewMemory[string, int](hashString, clock.Now, 0)
	defer m.Close()
	put(m, "a", 1, at.Add(time.Minute))
	put(m, "b", 2, at.Add(time.Hour))
	clock.Set(at.Add(time.Minute - 1))
	m.Sweep()
	if v, ok := get(m, "a"); !ok || v != 1 || m.Len() != 2 {
		t.Fatalf("a before its expiry: %d %v, %d keys", v, ok, m.Len())
	}
	clock.Set(at.Add(time.Minute))
	m.Sweep()
	if _, ok := get(m, "a"); ok || m.Len() != 1 {
		t.Fatalf("a still held at its expiry (%d keys)", m.Len())
	}
	if v, ok := get(m, "b"); !ok || v != 2 {
		t.Fatalf("b dropped before its expiry")
	}
	if m.Evicted() != 0 {
		t.Errorf("%d evictions, expiry is no eviction", m.Evicted())
	}
}

func TestMemorySweeperRuns(t *testing.T) {
	m := NewMemory[string, int](hashString, nil, 0)
	defer m.Close()
	put(m, "k", 1, time.Now())
	deadline := time.Now().Add(5 * time.Second)
	for m.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not drop an expired key within 5s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMemoryAtCapEvictsSoonestExpiry(t *testing.T) {
	// 2048 keys in 256 shards of 8. Fill one shard with a key that lives
	// an hour and seven that live a second; every further key of that
	// shard evicts (out of a sample covering the whole shard) one that
	// expires first, never the hour's.
	at := time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: at}
	m := NewMemory[string, int](hashString, clock.Now, 2048)
	defer m.Close()
	if n := m.shards[0].max; n != 8 {
		t.Fatalf("%d keys per shard, want 8", n)
	}
	shardOf := func(key string) uint64 { return hashString(m.seed, key) & m.mask }
	var keys []string
	for i := 0; len(keys) < 30; i++ {
		if k := "k" + strconv.Itoa(i); shardOf(k) == shardOf("hot") {
			keys = append(keys, k)
		}
	}
	put(m, "hot", 99, at.Add(time.Hour))
	for i, k := range keys {
		put(m, k, i, at.Add(time.Second))
		if v, ok := get(m, "hot"); !ok || v != 99 {
			t.Fatalf("hot key evicted by key %d", i)
		}
		if v, ok := get(m, k); !ok || v != i {
			t.Fatalf("new key %d not held", i)
		}
	}
	if n := m.Len(); n != 8 {
		t.Errorf("%d keys held, want 8", n)
	}
	if got, want := m.Evicted(), int64(len(keys)+1-8); got != want {
		t.Errorf("%d evictions, want %d", got, want)
	}
}
