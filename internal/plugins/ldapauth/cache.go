package ldapauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"sync"
	"time"
)

// cacheSize bounds each of the two verdict maps of an instance.
const cacheSize = 10000

type digest [sha256.Size]byte

// cache remembers bind verdicts for cache_ttl (Kong caches both, its
// neg_ttl being cache_ttl). Entries are keyed by an HMAC-SHA256 of the
// username and password under a random per-instance key: memory holds
// nothing to test password guesses against, and a lookup compares
// digests, not passwords. Successes and failures live in separate maps
// of cacheSize entries each, so a flood of wrong passwords evicts only
// other failures. Concurrent requests with the same credentials share one
// bind (Kong's cache runs its callback once under a lock too).
type cache struct {
	ttl time.Duration // 0: entries do not expire (Kong's ttl 0)
	now func() time.Time

	scratch sync.Pool // of *scratch

	mu     sync.Mutex
	good   map[digest]time.Time // → expiry
	bad    map[digest]time.Time
	flight map[digest]*call
}

// call is one bind that requests with the same digest wait for.
type call struct {
	done chan struct{}
	ok   bool
	err  error
}

func newCache(ttl time.Duration, now func() time.Time) *cache {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	c := &cache{ttl: ttl, now: now, good: map[digest]time.Time{}, bad: map[digest]time.Time{}, flight: map[digest]*call{}}
	c.scratch.New = func() any {
		return &scratch{h: hmac.New(sha256.New, key), sep: []byte{0}, sum: make([]byte, 0, sha256.Size)}
	}
	return c
}

// scratch is what one request needs to find its digest without
// allocating: the HMAC under the instance key and room for the decoded
// credentials.
type scratch struct {
	h   hash.Hash
	sep []byte // the byte between username and password
	sum []byte
	buf [256]byte
}

func (c *cache) getScratch() *scratch  { return c.scratch.Get().(*scratch) }
func (c *cache) putScratch(s *scratch) { c.scratch.Put(s) }

func (s *scratch) digest(user, pass []byte) digest {
	s.h.Reset()
	s.h.Write(user)
	s.h.Write(s.sep)
	s.h.Write(pass)
	s.sum = s.h.Sum(s.sum[:0])
	return digest(s.sum)
}

// verdict is what is known of d: found reports whether it is cached.
func (c *cache) verdict(d digest) (ok, found bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp, hit := c.good[d]; hit {
		if c.live(exp, now) {
			return true, true
		}
		delete(c.good, d)
	}
	if exp, hit := c.bad[d]; hit {
		if c.live(exp, now) {
			return false, true
		}
		delete(c.bad, d)
	}
	return false, false
}

func (c *cache) live(exp, now time.Time) bool { return exp.IsZero() || now.Before(exp) }

// do runs bind once for all the requests asking for d at the same time
// (after verdict found nothing) and caches what it found. An
// error (the directory could not be asked) is not cached. A waiter gives
// up when ctx ends.
func (c *cache) do(ctx context.Context, d digest, bind func() (bool, cacheable bool, err error)) (bool, error) {
	c.mu.Lock()
	if f, busy := c.flight[d]; busy {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.ok, f.err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	f := &call{done: make(chan struct{})}
	c.flight[d] = f
	c.mu.Unlock()

	ok, cacheable, err := bind()
	f.ok, f.err = ok, err
	c.mu.Lock()
	delete(c.flight, d)
	if err == nil && cacheable {
		m := c.bad
		if ok {
			m = c.good
		}
		c.store(m, d)
	}
	c.mu.Unlock()
	close(f.done)
	return ok, err
}

// store adds d to m (c.mu held), making room when m is full: expired
// entries first, then arbitrary ones (map order is random).
func (c *cache) store(m map[digest]time.Time, d digest) {
	now := c.now()
	if _, ok := m[d]; !ok && len(m) >= cacheSize {
		for k, exp := range m {
			if !c.live(exp, now) {
				delete(m, k)
			}
		}
		for k := range m {
			if len(m) < cacheSize {
				break
			}
			delete(m, k)
		}
	}
	var exp time.Time
	if c.ttl > 0 {
		exp = now.Add(c.ttl)
	}
	m[d] = exp
}
