package engine

import (
	"context"
	"hash/maphash"
	"time"

	"github.com/turnpikegw/turnpike/internal/store"
)

// DefaultMaxKeys is how many keys a Local store holds when NewLocal is
// given 0.
const DefaultMaxKeys = store.DefaultMaxKeys

// Local counts in process memory, in a store.Memory: keys are spread over
// up to 256 shards, each a map behind its own mutex, so that a decision
// for one key is one short critical section and keys in other shards
// never wait for it.
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
	clock Clock
	mem   *store.Memory[localKey, counts]
}

type localKey struct {
	key string
	alg Algorithm
}

// counts is one key's state.
type counts struct {
	tat  int64    // TokenBucket
	wins []window // Fixed and Sliding
}

// NewLocal makes an in-process store. maxKeys bounds memory (0:
// DefaultMaxKeys); idle keys expire. Close stops its sweeper.
func NewLocal(clock Clock, maxKeys int) *Local {
	if clock == nil {
		clock = time.Now
	}
	return &Local{clock: clock, mem: store.NewMemory[localKey, counts](hashKey, clock, maxKeys)}
}

// hashKey spreads keys over the shards by the limit key alone: its
// algorithm seldom differs.
func hashKey(seed maphash.Seed, k localKey) uint64 { return maphash.String(seed, k.key) }

// Take admits or rejects a request of cost n for key under p.
func (l *Local) Take(ctx context.Context, key string, p *Policy, n int64) (Decision, error) {
	var d Decision
	err := l.TakeInto(ctx, key, p, n, &d)
	return d, err
}

// TakeInto is Take that fills d, reusing the array of d.Windows.
func (l *Local) TakeInto(_ context.Context, key string, p *Policy, n int64, d *Decision) error {
	*d = Decision{Windows: d.Windows[:0]}
	if n < 1 {
		return errCost
	}
	l.decide(key, p, n, true, d)
	return nil
}

// Usage reports key's state under p without counting: Allowed and
// RetryAfter are for a request of cost 1.
func (l *Local) Usage(_ context.Context, key string, p *Policy) (Decision, error) {
	var d Decision
	l.decide(key, p, 1, false, &d)
	return d, nil
}

// Close stops the background sweep. The store keeps answering.
func (l *Local) Close() { l.mem.Close() }

// Len is the number of keys held.
func (l *Local) Len() int { return l.mem.Len() }

// Evicted is the number of live keys dropped to stay within the cap.
func (l *Local) Evicted() int64 { return l.mem.Evicted() }

// decide decides a request of cost n into d (zero but for the array of
// its Windows), and counts it when count is set.
func (l *Local) decide(key string, p *Policy, n int64, count bool, d *Decision) {
	now := l.clock().UnixNano()
	k := localKey{key: key, alg: p.Algorithm}
	if p.Algorithm == TokenBucket {
		sh := l.mem.Lock(k)
		tat := now
		e := sh.Get(k)
		if e != nil {
			tat = e.Value.tat
		}
		after := tat
		allowed := bucketTake(p, &after, now, n)
		if allowed && count {
			if e == nil {
				e = sh.Insert(k, now)
			}
			tat, e.Value.tat = after, after
			sh.SetExpiry(e, after)
		}
		sh.Unlock()
		bucketDecision(p, tat, now, n, allowed, allowed && count, d)
		return
	}

	var buf [Year + 1]window
	ws := buf[:len(p.Limits)]
	sh := l.mem.Lock(k)
	e := sh.Get(k)
	rolled := e == nil
	for i, lim := range p.Limits {
		w := &ws[i]
		w.period = lim.Period
		if e != nil {
			for _, old := range e.Value.wins {
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
			e = sh.Insert(k, now)
		}
		if len(e.Value.wins) != len(ws) {
			e.Value.wins = make([]window, len(ws))
		}
		for i := range ws {
			ws[i].cur += n
			e.Value.wins[i] = ws[i]
		}
		if rolled {
			sh.SetExpiry(e, expiry(p.Algorithm, ws))
		}
	}
	sh.Unlock()
	windowsDecision(p, ws, now, n, allowed, d)
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
