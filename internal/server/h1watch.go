package server

import (
	"runtime/debug"
	"time"
)

// Noticing a client that went away while its request is served.
//
// net/http reads from the connection in the background during every
// request, so that a request's context ends when its client goes; the
// proxy then stops waiting for the upstream at once. That read costs a
// system call or two per request. The own path starts it only for a
// request that is still being served after one or two ticks of a
// server-wide watchdog (watchTick) and whose body is read whole, which
// costs nothing for the requests answered sooner. The connection's context
// is the requests' context; it ends when the watch sees the client go (or
// the connection close), as the connection is then of no further use.

const watchTick = 500 * time.Millisecond

// Watch states of a connection (h1Conn.ws).
const (
	wsNone      int32 = iota // no request, or its body is not read whole
	wsWatchable              // in a request whose body is read whole
	wsWatching               // the background read runs
	wsStopping               // endWatch waits for the background read
)

// bodyRead is called by the serving goroutine once the request body is
// read whole (at once for a request without one).
func (c *h1Conn) bodyRead() { c.ws.CompareAndSwap(wsNone, wsWatchable) }

// watchdog starts the background read of connections whose request has
// been watchable for a whole tick, until the server shuts down.
func (s *h1Server) watchdog() {
	t := time.NewTicker(watchTick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.sweepParked(now)
		}
		s.reclaim()
		s.mu.Lock()
		for c := range s.conns {
			seq := c.seq.Load()
			if c.ws.Load() == wsWatchable && seq == c.watchSeen && c.ws.CompareAndSwap(wsWatchable, wsWatching) {
				c.watchWG.Add(1)
				s.wg.Go(c.watch)
			}
			c.watchSeen = seq
		}
		s.mu.Unlock()
	}
}

// Giving idle connections' memory back to the system. A connection idle
// for probeIdle is parked (or waits on a fresh goroutine with the
// smallest stack); the stack its requests grew (16 KiB through the proxy)
// is freed, but the runtime keeps freed stacks until a GC, and a gateway
// that went quiet after a burst runs none for two minutes (the forced GC),
// so its resident set keeps the burst's peak. Once at least reclaimMoves
// connections moved and then none for a whole tick (the burst is over), at
// most once every reclaimEvery, the watchdog has the runtime collect and
// return the free memory (debug.FreeOSMemory, on its own goroutine).
// Measured with bench/idle.sh before parking: 10,000 idle connections held
// 5.5 KB of RSS each, against 9.6-10.5 KB without it. Connections that
// keep moving (clients that come back every few seconds) keep the runtime
// allocating, so its own GCs and scavenger return that memory.
const (
	reclaimMoves = 1024
	reclaimEvery = 10 * time.Second
)

func (s *h1Server) reclaim() {
	n := s.moved.Load()
	quiet := n == s.movedSeen
	s.movedSeen = n
	if n < reclaimMoves || !quiet || time.Since(s.lastReclaim) < reclaimEvery {
		return
	}
	s.moved.Add(-n)
	s.movedSeen = 0
	s.lastReclaim = time.Now()
	s.wg.Go(debug.FreeOSMemory)
}

// watch reads from the client while its request is served. A byte that
// comes is the next request's: endWatch puts it back. The end of the
// connection ends the requests' context.
func (c *h1Conn) watch() {
	defer c.watchWG.Done()
	// The idle wait's deadline may still be in force; the request has
	// none (its body is read, so the handler sets none either).
	c.nc.SetReadDeadline(time.Time{})
	if c.ws.Load() != wsWatching {
		return // endWatch came first; its deadline may have been undone
	}
	n, err := c.nc.Read(c.watchByte[:])
	if n == 0 && err != nil && !isTimeout(err) {
		c.gone = err
		c.ctx.cancel()
	}
	c.watchN = n
}

// endWatch ends the background read, if one runs, when the request is
// over; false: the client went away.
func (c *h1Conn) endWatch() bool {
	if c.ws.CompareAndSwap(wsWatchable, wsNone) || c.ws.Load() == wsNone {
		return true
	}
	c.ws.Store(wsStopping)
	c.nc.SetReadDeadline(aLongTimeAgo)
	c.watchWG.Wait()
	c.ws.Store(wsNone)
	c.deadlineSet = true // idleWait sets the deadline again
	if c.gone != nil {
		c.noteErr(c.gone)
		return false
	}
	if c.watchN > 0 {
		c.watchN = 0
		c.appendByte(c.watchByte[0])
	}
	return true
}

// appendByte adds a byte read past the buffered ones.
func (c *h1Conn) appendByte(b byte) {
	c.takeBuf()
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
	if c.w == len(c.buf) {
		nb := make([]byte, 2*len(c.buf))
		c.w = copy(nb, c.buf[c.r:c.w])
		c.r = 0
		if len(c.buf) == readBufSize {
			readBufs.Put(c.bufp)
		}
		c.buf = nb
		c.bufp = &c.buf
	}
	c.buf[c.w] = b
	c.w++
}
