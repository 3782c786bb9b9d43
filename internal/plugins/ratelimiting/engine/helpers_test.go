package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is a Clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func date(y int, m time.Month, d, h, min, s, ns int) time.Time {
	return time.Date(y, m, d, h, min, s, ns, time.UTC)
}

// newLocal is a Local store on a fake clock, closed with the test.
func newLocal(t testing.TB, at time.Time, maxKeys int) (*Local, *fakeClock) {
	c := newFakeClock(at)
	l := NewLocal(c.Now, maxKeys)
	t.Cleanup(l.Close)
	return l, c
}

func take(t testing.TB, s Store, key string, p *Policy) Decision {
	t.Helper()
	d, err := s.Take(context.Background(), key, p, 1)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func usage(t testing.TB, s Store, key string, p *Policy) Decision {
	t.Helper()
	d, err := s.Usage(context.Background(), key, p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// takeN takes n requests of cost 1 and counts the admitted ones.
func takeN(t testing.TB, s Store, key string, p *Policy, n int) int {
	t.Helper()
	allowed := 0
	for range n {
		if take(t, s, key, p).Allowed {
			allowed++
		}
	}
	return allowed
}

func fixed(limits ...Limit) *Policy   { return &Policy{Algorithm: Fixed, Limits: limits} }
func sliding(limits ...Limit) *Policy { return &Policy{Algorithm: Sliding, Limits: limits} }

// sweepAll drops expired keys now, as the background sweep would.
func (l *Local) sweepAll() { l.mem.Sweep() }
