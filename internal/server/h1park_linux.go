//go:build linux

package server

import (
	"context"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Parking idle connections without a goroutine. A plain-TCP connection
// idle for probeIdle gives up its goroutine and its h1Conn, keeps only a
// parkedConn, and waits in an epoll set of the server's own (one-shot,
// level-triggered); one goroutine per listener waits on that set and,
// when the client sends again or goes away, serves the connection as
// before on a new goroutine with a new h1Conn (run(true)). The set's
// descriptor is itself in Go's poller (an epoll set is readable while it
// has events), so that goroutine waits as a socket's reader does, without
// an OS thread of its own: a resume wakes no thread but the one the poller
// wakes anyway. An idle connection then holds no goroutine stack and 100
// bytes instead of the 1.6 KB of an h1Conn with its request and context
// (bench/idle.sh). Go's own poller keeps the socket registered as
// well; a descriptor may be in any number of epoll sets.
//
// The watchdog closes the parked connections whose idle timeout passed
// (sweepParked), as an idle connection that times out is closed; shutdown
// resumes all of them (unparkAll), and the resumed connection, finding the
// server closing, closes as an idle one does at shutdown. The set's table
// is guarded by h1Server.mu, so that a connection is always either in
// s.conns or parked for shutdown's count.

type parker struct {
	epfd int      // the set, owned by file
	file *os.File // epfd in Go's poller
	wake int      // an eventfd in the set: written to stop the wait

	conns   []*parkedConn // by slot
	free    []int32
	gen     int32 // parkings so far: an event names its slot and generation
	dead    bool  // the wait failed: nothing more is parked
	stopped bool  // the wait ended and closed the descriptors
}

// parkedConn is what a parked connection keeps of its h1Conn.
type parkedConn struct {
	nc        net.Conn
	raw       syscall.RawConn
	ln        *h1Listener
	idleUntil time.Time
	served    int
	lastPost  bool
	gen       int32
}

// wakeSlot is the slot number the eventfd's events carry.
const wakeSlot = -1

func newParker() *parker {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	// Non-blocking, os.NewFile adds the descriptor to Go's poller.
	if unix.SetNonblock(epfd, true) != nil {
		unix.Close(epfd)
		return nil
	}
	file := os.NewFile(uintptr(epfd), "turnpike-idle-set")
	if file.SetReadDeadline(time.Time{}) != nil {
		// Not in Go's poller (os.ErrNoDeadline; e.g. epoll_ctl refused
		// with ENOSPC): nothing is parked, idle connections wait on
		// goroutines.
		file.Close()
		return nil
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		file.Close()
		return nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeSlot}
	if unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev) != nil {
		file.Close()
		unix.Close(wake)
		return nil
	}
	return &parker{epfd: epfd, file: file, wake: wake}
}

// park hands c's wait to the parker; false when it cannot (not plain TCP,
// no epoll, the server closing): the caller waits on a goroutine. After
// true, c is no longer the connection's and must not be used.
func (s *h1Server) park(c *h1Conn) bool {
	if c.raw == nil || s.closing.Load() {
		return false
	}
	s.parkOnce.Do(func() {
		if p := newParker(); p != nil {
			s.parker.Store(p)
			s.wg.Go(func() { s.parked(p) })
		}
	})
	p := s.parker.Load()
	if p == nil {
		return false
	}
	if !s.parkLocked(p, c) {
		return false
	}
	c.ctx.cancel()
	return true
}

// parkLocked adds c's socket to the set and moves c from s.conns to the
// set's table, under s.mu so that shutdown finds it in one or the other.
func (s *h1Server) parkLocked(p *parker, c *h1Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.dead || s.closing.Load() {
		return false
	}
	var slot int32
	if n := len(p.free); n > 0 {
		slot, p.free = p.free[n-1], p.free[:n-1]
	} else {
		slot = int32(len(p.conns))
		p.conns = append(p.conns, nil)
	}
	p.gen++
	var err error
	if cerr := c.raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: slot, Pad: p.gen}
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	}); cerr != nil || err != nil {
		p.free = append(p.free, slot)
		return false
	}
	p.conns[slot] = &parkedConn{nc: c.nc, raw: c.raw, ln: c.ln, idleUntil: c.idleUntil,
		served: c.served, lastPost: c.lastPost, gen: p.gen}
	delete(s.conns, c)
	s.live.Store(int64(len(s.conns)))
	return true
}

// take removes slot's connection from the set; the caller holds s.mu.
func (s *h1Server) take(p *parker, slot int32) *parkedConn {
	pc := p.conns[slot]
	pc.raw.Control(func(fd uintptr) { unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	p.conns[slot] = nil
	p.free = append(p.free, slot)
	return pc
}

// unpark takes slot's connection out of the set and serves it again on a
// goroutine of its own; the caller holds s.mu.
func (s *h1Server) unpark(p *parker, slot int32) {
	pc := s.take(p, slot)
	c := newH1Conn(s, pc.nc, context.WithValue(context.Background(), http.LocalAddrContextKey, pc.nc.LocalAddr()))
	c.ln, c.idleUntil, c.served, c.lastPost = pc.ln, pc.idleUntil, pc.served, pc.lastPost
	s.conns[c] = struct{}{}
	s.live.Store(int64(len(s.conns)))
	s.resume(c)
}

// parked waits on the set until shutdown, resuming the connections the
// kernel reports readable (data, the client's close or an error). It
// reads the set without waiting (epoll_wait with no timeout) until it is
// empty, then waits in Go's poller for the set to be readable again.
func (s *h1Server) parked(p *parker) {
	defer unix.Close(p.wake)
	defer p.file.Close()
	events := make([]unix.EpollEvent, 128)
	var werr error
	rc, err := p.file.SyscallConn()
	if err == nil {
		err = rc.Read(func(fd uintptr) bool {
			for {
				n, err := unix.EpollWait(int(fd), events, 0)
				switch {
				case err == unix.EINTR:
					continue
				case err != nil:
					werr = err
					return true
				case n == 0:
					return false
				case s.resumeReady(p, events[:n]):
					return true
				}
			}
		})
	}
	if err == nil {
		err = werr
	}
	if err != nil {
		// The set is unusable: resume everything parked, and park no
		// more.
		s.errorLog.Printf("turnpike: idle connection poller: %v", err)
		s.mu.Lock()
		p.dead, p.stopped = true, true
		s.mu.Unlock()
		s.unparkAll()
	}
}

// resumeReady resumes the connections of events; true when one of them is
// the eventfd's, stopping the wait.
func (s *h1Server) resumeReady(p *parker, events []unix.EpollEvent) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range events {
		if ev.Fd == wakeSlot {
			p.stopped = true
			return true
		}
		// An event from before its slot was swept and parked again is
		// the old connection's: the generation tells.
		if pc := p.conns[ev.Fd]; pc != nil && pc.gen == ev.Pad {
			s.unpark(p, ev.Fd)
		}
	}
	return false
}

// sweepParked closes the parked connections whose idle timeout passed,
// as idleWait's timeout closes a connection waiting on its goroutine.
func (s *h1Server) sweepParked(now time.Time) {
	p := s.parker.Load()
	if p == nil {
		return
	}
	var expired []net.Conn
	s.mu.Lock()
	for slot, pc := range p.conns {
		if pc != nil && !pc.idleUntil.IsZero() && !now.Before(pc.idleUntil) {
			expired = append(expired, s.take(p, int32(slot)).nc)
		}
	}
	s.mu.Unlock()
	for _, nc := range expired {
		nc.Close()
		s.stats.Active.Add(-1)
	}
}

// unparkAll resumes every parked connection.
func (s *h1Server) unparkAll() {
	p := s.parker.Load()
	if p == nil {
		return
	}
	s.mu.Lock()
	for slot, pc := range p.conns {
		if pc != nil {
			s.unpark(p, int32(slot))
		}
	}
	s.mu.Unlock()
}

// stopParker ends the parker's wait; shutdown calls it once nothing is
// parked. The wait closes the eventfd as it ends, so it is written to only
// before (s.mu orders the two).
func (s *h1Server) stopParker() {
	p := s.parker.Load()
	if p == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !p.stopped {
		one := [8]byte{1}
		unix.Write(p.wake, one[:])
	}
}
