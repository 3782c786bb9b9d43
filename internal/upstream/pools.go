package upstream

import (
	"crypto/tls"
	"sync"
	"time"
)

// Pools hands out one Pool per upstream endpoint and keeps it across config
// reloads: a snapshot compiled from a new config asks for the same key and
// gets the same pool, so unchanged targets keep their warm connections.
type Pools struct {
	opts  PoolOptions
	mu    sync.Mutex
	pools map[string]*Pool
	stop  chan struct{}
	done  chan struct{}
}

// NewPools starts the registry and its idle sweeper.
func NewPools(opts PoolOptions) *Pools {
	if opts.MaxIdle <= 0 {
		opts.MaxIdle = DefaultPoolOptions.MaxIdle
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultPoolOptions.IdleTimeout
	}
	ps := &Pools{opts: opts, pools: map[string]*Pool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go ps.sweepLoop()
	return ps
}

// Get returns the pool for key, creating it with addr and tlsConfig. The key
// must identify everything that makes connections differ (scheme, address,
// server name, verification settings).
func (ps *Pools) Get(key, addr string, tlsConfig *tls.Config) *Pool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p, ok := ps.pools[key]; ok {
		return p
	}
	p := NewPool(addr, tlsConfig, ps.opts)
	ps.pools[key] = p
	return p
}

// Retain closes and forgets every pool whose key is not in keep (called
// after a new snapshot is in force).
func (ps *Pools) Retain(keep map[string]bool) {
	ps.mu.Lock()
	var gone []*Pool
	for k, p := range ps.pools {
		if !keep[k] {
			gone = append(gone, p)
			delete(ps.pools, k)
		}
	}
	ps.mu.Unlock()
	for _, p := range gone {
		p.Close()
	}
}

// Close stops the sweeper and closes every pool.
func (ps *Pools) Close() {
	close(ps.stop)
	<-ps.done
	ps.Retain(nil)
}

func (ps *Pools) sweepLoop() {
	defer close(ps.done)
	t := time.NewTicker(ps.opts.IdleTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-ps.stop:
			return
		case now := <-t.C:
			ps.mu.Lock()
			all := make([]*Pool, 0, len(ps.pools))
			for _, p := range ps.pools {
				all = append(all, p)
			}
			ps.mu.Unlock()
			for _, p := range all {
				p.sweep(now)
			}
		}
	}
}
