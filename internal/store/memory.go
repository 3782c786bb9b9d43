package store

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxKeys is how many keys a Memory holds when NewMemory is given
// 0.
const DefaultMaxKeys = 1 << 20

const (
	maxShards   = 256
	sweepEvery  = time.Second
	evictSample = 8
)

// Memory is an in-process map from K to V whose entries expire. Keys are
// spread over up to 256 shards, each a map behind its own mutex, so that
// work on one key is one short critical section (the caller's, between
// Lock and Unlock) and keys in other shards never wait for it.
//
// Memory is bounded twice over. The user sets when an entry stops
// mattering (SetExpiry), and a background sweep drops expired entries
// once a second. And each shard holds at most maxKeys/shards keys: at the
// cap a new key first drops the shard's expired entries, and if none is
// expired it evicts, out of a sample of 8 entries, the one that expires
// first. An evicted key is simply absent when it comes back: at the cap
// the user loses the state of keys idle long enough to be evicted, and a
// new key is never refused.
type Memory[K comparable, V any] struct {
	clock     func() time.Time
	hash      func(maphash.Seed, K) uint64
	seed      maphash.Seed
	shards    []Shard[K, V]
	mask      uint64
	evicted   atomic.Int64
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Entry is one key's value. The zero expiry means expired: an entry
// inserted and never given one goes with the next sweep.
type Entry[V any] struct {
	expires int64
	Value   V
}

// Shard is one part of a Memory, locked by Memory.Lock.
type Shard[K comparable, V any] struct {
	mu      sync.Mutex
	m       map[K]*Entry[V]
	next    int64 // no entry expires before this (a lower bound)
	max     int
	evicted *atomic.Int64
	_       [24]byte // a shard per cache line
}

// NewMemory makes an in-process store. hash picks a key's shard (hash
// what tells keys apart best, with the seed given); clock is the time
// expiries are compared with (nil: the wall clock). maxKeys bounds memory
// (0: DefaultMaxKeys). Close stops its sweeper.
func NewMemory[K comparable, V any](hash func(maphash.Seed, K) uint64, clock func() time.Time, maxKeys int) *Memory[K, V] {
	if clock == nil {
		clock = time.Now
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	n := maxShards
	for n > maxKeys {
		n /= 2
	}
	m := &Memory[K, V]{
		clock:  clock,
		hash:   hash,
		seed:   maphash.MakeSeed(),
		shards: make([]Shard[K, V], n),
		mask:   uint64(n - 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	for i := range m.shards {
		sh := &m.shards[i]
		sh.m = make(map[K]*Entry[V])
		sh.next = math.MaxInt64
		sh.max = maxKeys / n
		sh.evicted = &m.evicted
	}
	go m.sweeper()
	return m
}

// Lock locks and returns the shard holding k; the caller unlocks it.
func (m *Memory[K, V]) Lock(k K) *Shard[K, V] {
	sh := &m.shards[m.hash(m.seed, k)&m.mask]
	sh.mu.Lock()
	return sh
}

// Unlock unlocks the shard.
func (sh *Shard[K, V]) Unlock() { sh.mu.Unlock() }

// Get is k's entry, nil when absent. Entries past their expiry are still
// there until a sweep or the cap drops them; the user tells.
func (sh *Shard[K, V]) Get(k K) *Entry[V] { return sh.m[k] }

// Insert adds a zero entry for k at now (Unix ns), making room at the cap.
func (sh *Shard[K, V]) Insert(k K, now int64) *Entry[V] {
	if len(sh.m) >= sh.max {
		if now >= sh.next {
			sh.sweep(now)
		}
		if len(sh.m) >= sh.max {
			var victim K
			first := int64(math.MaxInt64)
			seen := 0
			for key, e := range sh.m {
				if e.expires < first {
					victim, first = key, e.expires
				}
				if seen++; seen == evictSample {
					break
				}
			}
			delete(sh.m, victim)
			sh.evicted.Add(1)
		}
	}
	e := &Entry[V]{}
	sh.m[k] = e
	return e
}

// SetExpiry sets the moment (Unix ns) from which e says nothing a
// missing entry would not.
func (sh *Shard[K, V]) SetExpiry(e *Entry[V], at int64) {
	e.expires = at
	sh.next = min(sh.next, at)
}

// Len is the number of keys held.
func (m *Memory[K, V]) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// Evicted is the number of live keys dropped to stay within the cap.
func (m *Memory[K, V]) Evicted() int64 { return m.evicted.Load() }

// Sweep drops the expired entries of every shard that has some now; the
// background sweep calls it once a second.
func (m *Memory[K, V]) Sweep() {
	now := m.clock().UnixNano()
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		if now >= sh.next {
			sh.sweep(now)
		}
		sh.mu.Unlock()
	}
}

// Close stops the background sweep. The store keeps answering.
func (m *Memory[K, V]) Close() {
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.done
	})
}

// sweep drops sh's expired entries (sh locked).
func (sh *Shard[K, V]) sweep(now int64) {
	next := int64(math.MaxInt64)
	for k, e := range sh.m {
		if e.expires <= now {
			delete(sh.m, k)
		} else {
			next = min(next, e.expires)
		}
	}
	sh.next = next
}

func (m *Memory[K, V]) sweeper() {
	defer close(m.done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Sweep()
		}
	}
}
