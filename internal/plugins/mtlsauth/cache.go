package mtlsauth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// cacheSize bounds the verified chains one instance remembers.
const cacheSize = 10000

// cacheShards spreads lookups over several locks: every request of every
// connection reads the cache.
const cacheShards = 16

// cache remembers verified chains by chainKey. Only successes are kept: a
// failure costs a verification each time, as it does in Kong, and cannot
// push good entries out.
type cache struct {
	shards   [cacheShards]shard
	perShard int
}

type shard struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]*identity
}

func newCache(max int) *cache {
	c := &cache{perShard: max/cacheShards + 1}
	for i := range c.shards {
		c.shards[i].m = map[[sha256.Size]byte]*identity{}
	}
	return c
}

// get returns the identity verified for key unless it expired at now or
// was checked against another CRL generation than gen.
func (c *cache) get(key [sha256.Size]byte, now time.Time, gen uint64) *identity {
	s := &c.shards[key[0]%cacheShards]
	s.mu.RLock()
	id := s.m[key]
	s.mu.RUnlock()
	if id == nil || id.gen != gen || !now.Before(id.expires) {
		return nil
	}
	return id
}

// put remembers id under key. A full shard first drops what expired by
// now, then arbitrary entries (map order is random).
func (c *cache) put(key [sha256.Size]byte, id *identity, now time.Time) {
	s := &c.shards[key[0]%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; !ok && len(s.m) >= c.perShard {
		for k, e := range s.m {
			if !now.Before(e.expires) {
				delete(s.m, k)
			}
		}
		for k := range s.m {
			if len(s.m) < c.perShard {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[key] = id
}
