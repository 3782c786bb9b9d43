package cachestore

import (
	"context"
	"math"
	"time"

	"github.com/maypok86/otter/v2"
)

// entryOverhead is what an entry costs beyond its key, bytes, path and
// tags: otter's node with the item in it, its hash table slot and the
// allocator's rounding (measured by TestMemoryHundredThousandEntries).
const entryOverhead = 192

// item is a memory entry. It is held in otter's node by value, so a Set
// allocates nothing beyond the node.
type item struct {
	entry []byte
	ttl   time.Duration
	meta  Meta
}

// Memory is a Store in this process's memory: entries expire after
// their ttl, and past the byte budget the coldest go first (otter's
// W-TinyLFU policy). Its indexes are the entries themselves: an
// invalidation by pattern, route or tag scans every entry's Meta, which
// keeps an entry's memory to what it holds.
type Memory struct {
	c *otter.Cache[string, item]
}

var _ Store = (*Memory)(nil)

// NewMemory makes a memory store holding at most maxBytes (key, entry,
// path, tags and per-entry overhead counted).
func NewMemory(maxBytes int64) *Memory {
	if maxBytes < 1 {
		maxBytes = 1
	}
	return &Memory{c: otter.Must(&otter.Options[string, item]{
		MaximumWeight: uint64(maxBytes),
		Weigher:       weigh,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, item]) time.Duration {
			return e.Value.ttl
		}),
	})}
}

func weigh(key string, it item) uint32 {
	n := entryOverhead + len(key) + len(it.entry) + len(it.meta.Path) + 16*len(it.meta.Tags)
	for _, t := range it.meta.Tags {
		n += len(t)
	}
	return uint32(min(n, math.MaxUint32))
}

// Get returns the entry under key, nil when there is none or it expired.
func (m *Memory) Get(_ context.Context, key string) ([]byte, error) {
	it, ok := m.c.GetIfPresent(key)
	if !ok {
		return nil, nil
	}
	return it.entry, nil
}

// Set stores entry under key for ttl. A ttl of zero or less stores
// nothing and deletes what was there. meta is kept as given, its Tags
// slice included (the caller must not modify it afterwards), and the
// route ID is not copied: the plugin passes its route's own string,
// shared by all its entries.
func (m *Memory) Set(_ context.Context, key string, entry []byte, ttl time.Duration, meta Meta) error {
	if err := checkMeta(&meta); err != nil {
		return err
	}
	if ttl <= 0 {
		m.c.Invalidate(key)
		return nil
	}
	m.c.Set(key, item{entry: entry, ttl: ttl, meta: meta})
	return nil
}

// Invalidate deletes the entries sel picks. Key and All are direct; the
// others scan every entry (a pattern costs a glob match per entry).
func (m *Memory) Invalidate(_ context.Context, sel Selector) (int, error) {
	if err := checkSelector(&sel); err != nil {
		return 0, err
	}
	switch {
	case sel.Key != "":
		if _, ok := m.c.Invalidate(sel.Key); ok {
			return 1, nil
		}
		return 0, nil
	case sel.All:
		n := 0
		for key := range m.c.Keys() {
			if _, ok := m.c.Invalidate(key); ok {
				n++
			}
		}
		return n, nil
	}
	pick := selectorFunc(&sel)
	n := 0
	for key, it := range m.c.All() {
		if !pick(&it.meta) {
			continue
		}
		// The entry may have been replaced since the scan saw it: only
		// one the selector still picks goes.
		gone := false
		m.c.ComputeIfPresent(key, func(cur item) (item, otter.ComputeOp) {
			if !pick(&cur.meta) {
				return cur, otter.CancelOp
			}
			gone = true
			return cur, otter.InvalidateOp
		})
		if gone {
			n++
		}
	}
	return n, nil
}

// selectorFunc reports whether an entry's meta is one sel picks, for the
// selectors that are not a key or all.
func selectorFunc(sel *Selector) func(*Meta) bool {
	switch {
	case sel.Pattern != "":
		pattern := sel.Pattern
		return func(m *Meta) bool { return Match(pattern, m.Path) }
	case sel.RouteID != "":
		route := sel.RouteID
		return func(m *Meta) bool { return m.RouteID == route }
	default:
		tag := sel.Tag
		return func(m *Meta) bool {
			for _, t := range m.Tags {
				if t == tag {
					return true
				}
			}
			return false
		}
	}
}

// Len is about how many entries the store holds.
func (m *Memory) Len() int { return m.c.EstimatedSize() }

// Bytes is about how many bytes the store holds, as its budget counts
// them.
func (m *Memory) Bytes() int64 { return int64(m.c.WeightedSize()) }

// Close drops every entry and stops the cache's clean-up goroutine. The
// store may not be used afterwards.
func (m *Memory) Close() error {
	m.c.InvalidateAll()
	m.c.StopAllGoroutines()
	return nil
}
