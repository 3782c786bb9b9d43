package jwt

import (
	"crypto/sha256"
	"sync"
	"time"
)

// cacheShards spreads the verified-token cache over this many locks.
const cacheShards = 16

// cache remembers verified tokens by the SHA-256 of the token: a fixed
// 32-byte key whatever the token's size, and one no forged token can
// collide with. Each shard holds at most perShard entries and evicts the
// oldest one first (a ring of its keys), so memory stays bounded and a
// flood of new tokens costs O(1) per insert.
type cache struct {
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu   sync.RWMutex
	m    map[[sha256.Size]byte]*verified
	ring [][sha256.Size]byte
	next int
}

func newCache(size int) *cache {
	c := &cache{perShard: (size + cacheShards - 1) / cacheShards}
	for i := range c.shards {
		c.shards[i].m = make(map[[sha256.Size]byte]*verified)
	}
	return c
}

// tokenDigest is the cache key of a token. The token is copied to a stack
// buffer first: converting it to a []byte would allocate on every request.
func tokenDigest(tok string) [sha256.Size]byte {
	var buf [4096]byte
	return sha256.Sum256(append(buf[:0], tok...))
}

func (c *cache) shard(k *[sha256.Size]byte) *cacheShard { return &c.shards[k[0]%cacheShards] }

// get returns the token verified under k, unless its time in the cache
// is over.
func (c *cache) get(k *[sha256.Size]byte, now time.Time) *verified {
	s := c.shard(k)
	s.mu.RLock()
	v := s.m[*k]
	s.mu.RUnlock()
	if v == nil || !now.Before(v.until) {
		return nil
	}
	return v
}

// put remembers v under k, evicting the shard's oldest entry when full.
func (c *cache) put(k *[sha256.Size]byte, v *verified) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[*k]; ok {
		s.m[*k] = v
		return
	}
	if len(s.ring) < c.perShard {
		s.ring = append(s.ring, *k)
	} else {
		delete(s.m, s.ring[s.next])
		s.ring[s.next] = *k
		s.next = (s.next + 1) % len(s.ring)
	}
	s.m[*k] = v
}
