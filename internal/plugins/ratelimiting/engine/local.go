package engine

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxKeys is how many keys a Local store holds when NewLocal is
// given 0.
const DefaultMaxKeys = 1 << 20

const (
	maxShards   = 256
	sweepEvery  = time.Second
	evictSample = 8
)

// Local counts in process memory. Keys are spread over up to 256 shards,
// each a map behind its own mutex, so that a decision for one key is one
// short critical section and keys in other shards never wait for it.
//
// Memory is bounded twice over. An entry expires as soon as it could no
// longer change a decision (a Fixed window's end, the end of the window
// after a Sliding one, a token bucket refilled), and a background sweep
// drops expired entries once a second. And each shard holds at most
// maxKeys/shards keys: at the cap a new key first drops the shard's
// expired entries, and if none is expired it evicts, out of a sample of 8
// entries, the one that expires first. An evicted key starts afresh when
// it comes back, so at the cap the error is over-admission for keys idle
// long enough to be evicted, never the rejection of a new key.
type Local struct {
	clock     Clock
	seed      maphash.Seed
	shards    []shard
	mask      uint64
	perShard  int
	evicted   atomic.Int64
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type localKey struct {
	key string
	alg Algorithm
}

// entry is one key's state. expires is the moment from which it says
// nothing a missing entry would not.
type entry struct {
	expires int64
	tat     int64    // TokenBucket
	wins    []window // Fixed and Sliding
}

type shard struct {
	mu   sync.Mutex
	m    map[localKey]*entry
	next int64 // no entry expires before this (a lower bound)
	_    [40]byte
}

// NewLocal makes an in-process store. maxKeys bounds memory (0:
// DefaultMaxKeys); idle keys expire. Close stops its sweeper.
func NewLocal(clock Clock, maxKeys int) *Local {
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
	l := &Local{
		clock:    clock,
		seed:     maphash.MakeSeed(),
		shards:   make([]shard, n),
		mask:     uint64(n - 1),
		perShard: maxKeys / n,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for i := range l.shards {
		l.shards[i].m = make(map[localKey]*entry)
		l.shards[i].next = math.MaxInt64
	}
	go l.sweeper()
	return l
}

// Take admits or rejects a request of cost n for key under p.
func (l *Local) Take(_ context.Context, key string, p *Policy, n int64) (Decision, error) {
	if n < 1 {
		return Decision{}, errCost
	}
	return l.decide(key, p, n, true), nil
}

// Usage reports key's state under p without counting: Allowed and
// RetryAfter are for a request of cost 1.
func (l *Local) Usage(_ context.Context, key string, p *Policy) (Decision, error) {
	return l.decide(key, p, 1, false), nil
}

// Close stops the background sweep. The store keeps answering.
func (l *Local) Close() {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
	})
}

// Len is the number of keys held.
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// Evicted is the number of live keys dropped to stay within the cap.
func (l *Local) Evicted() int64 { return l.evicted.Load() }

// decide decides a request of cost n, and counts it when count is set.
func (l *Local) decide(key string, p *Policy, n int64, count bool) Decision {
	now := l.clock().UnixNano()
	k := localKey{key: key, alg: p.Algorithm}
	sh := &l.shards[maphash.String(l.seed, key)&l.mask]
	var d Decision
	if p.Algorithm == TokenBucket {
		sh.mu.Lock()
		tat := now
		e := sh.m[k]
		if e != nil {
			tat = e.tat
		}
		after := tat
		allowed := bucketTake(p, &after, now, n)
		if allowed && count {
			if e == nil {
				e = l.insert(sh, k, now)
			}
			tat, e.tat, e.expires = after, after, after
			sh.next = min(sh.next, after)
		}
		sh.mu.Unlock()
		bucketDecision(p, tat, now, n, allowed, allowed && count, &d)
		return d
	}

	var buf [Year + 1]window
	ws := buf[:len(p.Limits)]
	sh.mu.Lock()
	e := sh.m[k]
	rolled := e == nil
	for i, lim := range p.Limits {
		w := &ws[i]
		w.period = lim.Period
		if e != nil {
			for _, old := range e.wins {
				if old.period == lim.Period {
					*w = old
					break
				}
			}
		}
		start := w.start
		w.roll(now)
		rolled = rolled || w.start != start
	}
	allowed := true
	for i, lim := range p.Limits {
		if ws[i].room(p.Algorithm, lim.Max, now) < n {
			allowed = false
			break
		}
	}
	if allowed && count {
		if e == nil {
			e = l.insert(sh, k, now)
		}
		if len(e.wins) != len(ws) {
			e.wins = make([]window, len(ws))
		}
		for i := range ws {
			ws[i].cur += n
			e.wins[i] = ws[i]
		}
		if rolled {
			e.expires = expiry(p.Algorithm, ws)
			sh.next = min(sh.next, e.expires)
		}
	}
	sh.mu.Unlock()
	windowsDecision(p, ws, now, n, allowed, &d)
	return d
}

// expiry is when windows ws stop mattering: the end of the longest Fixed
// window, or the end of the window after the longest Sliding one (until
// then its count weighs on the next window).
func expiry(alg Algorithm, ws []window) int64 {
	var exp int64
	for i := range ws {
		if alg == Sliding {
			exp = max(exp, ws[i].nextEnd())
		} else {
			exp = max(exp, ws[i].end)
		}
	}
	return exp
}

// insert adds a fresh entry for k to sh (locked), making room at the cap.
func (l *Local) insert(sh *shard, k localKey, now int64) *entry {
	if len(sh.m) >= l.perShard {
		if now >= sh.next {
			sh.sweep(now)
		}
		if len(sh.m) >= l.perShard {
			var victim localKey
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
			l.evicted.Add(1)
		}
	}
	e := &entry{}
	sh.m[k] = e
	return e
}

// sweep drops sh's expired entries (sh locked).
func (sh *shard) sweep(now int64) {
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

// sweepAll sweeps every shard with something expired.
func (l *Local) sweepAll() {
	now := l.clock().UnixNano()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		if now >= sh.next {
			sh.sweep(now)
		}
		sh.mu.Unlock()
	}
}

func (l *Local) sweeper() {
	defer close(l.done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.sweepAll()
		}
	}
}
