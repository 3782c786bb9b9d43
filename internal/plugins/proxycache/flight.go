package proxycache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of coalescing: keys being fetched at once, and requests
// waiting on one key. Past them a request goes upstream uncoalesced.
const (
	maxFlights = 10000
	maxWaiters = 1000
)

// flights are the keys being fetched, each by one request (the leader)
// while the others for it wait (lock) or are served the stale entry
// (updating).
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// flight is one key's fetch; done closes when its leader is through.
type flight struct {
	done    chan struct{}
	expires time.Time
	waiters atomic.Int32
}

func newFlights() *flights { return &flights{m: map[string]*flight{}} }

// acquire makes the caller the key's leader (leader true) or returns
// the flight under way. A flight whose leader held it past timeout is
// taken over, so a lost leader never holds a key. f is nil when the
// table is full.
func (fs *flights) acquire(key string, timeout time.Duration) (f *flight, leader bool) {
	now := time.Now()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f = fs.m[key]; f != nil && now.Before(f.expires) {
		return f, false
	}
	if f != nil {
		close(f.done)
	} else if len(fs.m) >= maxFlights {
		return nil, false
	}
	f = &flight{done: make(chan struct{}), expires: now.Add(timeout)}
	fs.m[key] = f
	return f, true
}

// release ends the leader's flight, waking its waiters.
func (fs *flights) release(key string, f *flight) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.m[key] != f {
		return // taken over, and closed then
	}
	delete(fs.m, key)
	close(f.done)
}

// wait waits for the flight's end, at most timeout; false when it did
// not end in time or too many wait already.
func (f *flight) wait(ctx context.Context, timeout time.Duration) bool {
	if f.waiters.Add(1) > maxWaiters {
		f.waiters.Add(-1)
		return false
	}
	defer f.waiters.Add(-1)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-f.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}
