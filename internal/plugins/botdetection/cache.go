package botdetection

import (
	"hash/maphash"
	"strings"
	"sync"
)

// Kong keeps 10^4 verdicts per plugin config. They are split over shards,
// each an LRU behind its own lock, so concurrent requests rarely wait.
const (
	cacheShards   = 16
	cacheCapacity = 10_000
	// maxCachedAgent is the longest agent kept: the cache's memory is
	// bounded by entries times this, whatever clients send. Longer
	// agents are matched every time (the regexes run in linear time).
	maxCachedAgent = 512
)

type verdict uint8

const (
	verdictNone verdict = iota
	verdictAllow
	verdictDeny
	verdictBot
)

// verdictCache is a fixed-size LRU of verdicts by user agent.
type verdictCache struct {
	seed   maphash.Seed
	shards [cacheShards]lruShard
}

type lruShard struct {
	mu sync.Mutex
	m  map[string]*lruEntry
	// root is the sentinel of a circular list: root.next is the most
	// recently used entry, root.prev the least.
	root lruEntry
	max  int
}

type lruEntry struct {
	agent      string
	v          verdict
	prev, next *lruEntry
}

func newVerdictCache(capacity int) *verdictCache {
	c := &verdictCache{seed: maphash.MakeSeed()}
	per := max(1, capacity/cacheShards)
	for i := range c.shards {
		s := &c.shards[i]
		s.m = make(map[string]*lruEntry, per)
		s.root.next, s.root.prev = &s.root, &s.root
		s.max = per
	}
	return c
}

func (c *verdictCache) shard(agent string) *lruShard {
	return &c.shards[maphash.String(c.seed, agent)%cacheShards]
}

// get returns the agent's verdict and makes it the most recent.
func (c *verdictCache) get(agent string) (verdict, bool) {
	s := c.shard(agent)
	s.mu.Lock()
	e, ok := s.m[agent]
	if ok {
		s.unlink(e)
		s.pushFront(e)
	}
	s.mu.Unlock()
	if !ok {
		return 0, false
	}
	return e.v, true
}

// put stores the agent's verdict, evicting the least recent when full.
func (c *verdictCache) put(agent string, v verdict) {
	if len(agent) > maxCachedAgent {
		return
	}
	s := c.shard(agent)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[agent]; ok {
		e.v = v
		return
	}
	var e *lruEntry
	if len(s.m) >= s.max {
		e = s.root.prev
		s.unlink(e)
		delete(s.m, e.agent)
	} else {
		e = &lruEntry{}
	}
	// A copy: the header's string must not be kept alive by the cache.
	e.agent, e.v = strings.Clone(agent), v
	s.m[e.agent] = e
	s.pushFront(e)
}

func (s *lruShard) unlink(e *lruEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (s *lruShard) pushFront(e *lruEntry) {
	e.prev, e.next = &s.root, s.root.next
	s.root.next.prev = e
	s.root.next = e
}
