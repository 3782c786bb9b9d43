package upstream

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func listen(t *testing.T) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				buf := make([]byte, 1)
				c.Read(buf)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), accepted
}

func TestPoolReusesReleasedConnections(t *testing.T) {
	addr, accepted := listen(t)
	p := NewPool(addr, nil, PoolOptions{MaxIdle: 2, IdleTimeout: time.Minute})
	defer p.Close()
	c1, err := p.Get(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c1.Reused {
		t.Fatal("a fresh connection claims to be reused")
	}
	c1.Release()
	c2, err := p.Get(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c2 != c1 || !c2.Reused {
		t.Fatal("the released connection was not reused")
	}
	if p.Active() != 1 {
		t.Errorf("active %d", p.Active())
	}
	c2.Discard()
	if p.Active() != 0 {
		t.Errorf("active %d after discard", p.Active())
	}
	// The listener's goroutine counts accepts asynchronously.
	for deadline := time.Now().Add(time.Second); accepted.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if accepted.Load() != 1 {
		t.Errorf("accepted %d connections, want 1", accepted.Load())
	}
}

func TestPoolKeepsAtMostMaxIdle(t *testing.T) {
	addr, _ := listen(t)
	p := NewPool(addr, nil, PoolOptions{MaxIdle: 1, IdleTimeout: time.Minute})
	defer p.Close()
	a, _ := p.Get(context.Background(), time.Second)
	b, _ := p.Get(context.Background(), time.Second)
	a.Release()
	b.Release()
	p.mu.Lock()
	n := len(p.idle)
	p.mu.Unlock()
	if n != 1 {
		t.Fatalf("idle %d, want 1", n)
	}
}

func TestPoolDropsExpiredConnections(t *testing.T) {
	addr, accepted := listen(t)
	p := NewPool(addr, nil, PoolOptions{MaxIdle: 4, IdleTimeout: 50 * time.Millisecond})
	defer p.Close()
	c, _ := p.Get(context.Background(), time.Second)
	c.Release()
	time.Sleep(80 * time.Millisecond)
	c2, err := p.Get(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Discard()
	if c2 == c || c2.Reused {
		t.Fatal("an expired connection was handed out")
	}
	for deadline := time.Now().Add(time.Second); accepted.Load() != 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if accepted.Load() != 2 {
		t.Fatalf("accepted %d connections, want 2", accepted.Load())
	}
}

func TestPoolDialError(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	p := NewPool(addr, nil, PoolOptions{})
	if _, err := p.Get(context.Background(), time.Second); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	if p.Active() != 0 {
		t.Errorf("active %d after a failed dial", p.Active())
	}
}

func TestPoolsSharedByKeyAndRetain(t *testing.T) {
	ps := NewPools(PoolOptions{IdleTimeout: time.Minute})
	defer ps.Close()
	a := ps.Get("http://x:1", "x:1", nil)
	if ps.Get("http://x:1", "x:1", nil) != a {
		t.Fatal("same key, different pool")
	}
	b := ps.Get("http://y:1", "y:1", nil)
	ps.Retain(map[string]bool{"http://x:1": true})
	if ps.Get("http://x:1", "x:1", nil) != a {
		t.Fatal("retained pool replaced")
	}
	if ps.Get("http://y:1", "y:1", nil) == b {
		t.Fatal("dropped pool kept")
	}
}
