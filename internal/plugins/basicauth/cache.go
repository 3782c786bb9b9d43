package basicauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const (
	// cacheSize bounds the verifications one instance remembers.
	cacheSize = 10000
	// cacheTTL is how long a successful verification is remembered.
	cacheTTL = time.Minute
)

// cache remembers successful bcrypt verifications. Entries are keyed by an
// HMAC-SHA256 of the bcrypt hash and the password under a random key, so
// the cache holds nothing an attacker reading memory could check guesses
// against faster than bcrypt, and a password change (a new hash) misses.
type cache struct {
	key  []byte
	max  int
	ttl  time.Duration
	now  func() time.Time
	mu   sync.Mutex
	seen map[[sha256.Size]byte]time.Time // digest → expiry

	dummyOnce sync.Once
	dummy     []byte
}

func newCache(max int, ttl time.Duration, now func() time.Time) *cache {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	return &cache{key: key, max: max, ttl: ttl, now: now, seen: make(map[[sha256.Size]byte]time.Time)}
}

func (c *cache) digest(hash, pass string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(hash))
	m.Write([]byte{0})
	m.Write([]byte(pass))
	var d [sha256.Size]byte
	m.Sum(d[:0])
	return d
}

// verify reports whether pass matches the bcrypt hash.
func (c *cache) verify(hash, pass string) bool {
	d := c.digest(hash, pass)
	now := c.now()
	c.mu.Lock()
	exp, ok := c.seen[d]
	if ok && !now.Before(exp) {
		delete(c.seen, d)
		ok = false
	}
	c.mu.Unlock()
	if ok {
		return true
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) != nil {
		return false
	}
	c.add(d, now.Add(c.ttl))
	return true
}

func (c *cache) add(d [sha256.Size]byte, exp time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[d]; !ok && len(c.seen) >= c.max {
		now := c.now()
		for k, e := range c.seen {
			if !now.Before(e) {
				delete(c.seen, k)
			}
		}
		// Still full: drop an arbitrary entry (map order is random).
		for k := range c.seen {
			if len(c.seen) < c.max {
				break
			}
			delete(c.seen, k)
		}
	}
	c.seen[d] = exp
}

// reject spends a bcrypt comparison at the default cost on pass and
// reports false, so a request naming an unknown username takes about as
// long as one with a wrong password.
func (c *cache) reject(pass string) bool {
	c.dummyOnce.Do(func() {
		pw := make([]byte, 32)
		_, _ = rand.Read(pw)
		// A 32-byte password at the default cost cannot fail.
		c.dummy, _ = bcrypt.GenerateFromPassword(pw, bcrypt.DefaultCost)
	})
	_ = bcrypt.CompareHashAndPassword(c.dummy, []byte(pass))
	return false
}
