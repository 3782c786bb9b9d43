//go:build linux

package server

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Parking idle connections without a goroutine. A plain-TCP connection
// idle for probeIdle gives up its goroutine and waits in an epoll set of
// the server's own (one-shot, level-triggered); one goroutine waits on
// that set and, when the client sends again or goes away, starts a
// goroutine that serves the connection as before (run(true)). An idle
// connection then holds no goroutine stack, which is most of what it
// held (bench/idle.sh). Go's own poller keeps the socket registered as
// well; a descriptor may be in any number of epoll sets.
//
// The watchdog ends the parked connections whose idle timeout passed
// (sweepParked) and shutdown wakes them all (unparkAll): either way the
// connection is resumed on a goroutine, which finds its deadline passed or
// the server closing and closes it as an idle connection is closed.

type parker struct {
	epfd int
	wake int // an eventfd in the set: written to stop the wait

	mu    sync.Mutex
	conns []*h1Conn // by slot; parked connections' h1Conn.park is slot+1
	free  []int32
	dead  bool // the wait failed: nothing more is parked
}

// wakeSlot is the slot number the eventfd's events carry.
const wakeSlot = -1

func newParker() *parker {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeSlot}
	if unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev) != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil
	}
	return &parker{epfd: epfd, wake: wake}
}

// park hands c's wait to the parker; false when it cannot (not plain TCP,
// no epoll, the server closing): the caller waits on a goroutine.
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
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead {
		return false
	}
	var slot int32
	if n := len(p.free); n > 0 {
		slot, p.free = p.free[n-1], p.free[:n-1]
	} else {
		slot = int32(len(p.conns))
		p.conns = append(p.conns, nil)
	}
	var err error
	if cerr := c.raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: slot}
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	}); cerr != nil || err != nil {
		p.free = append(p.free, slot)
		return false
	}
	p.conns[slot] = c
	c.park = slot + 1
	return true
}

// take removes c from the set; the caller holds p.mu and resumes c.
func (p *parker) take(c *h1Conn) {
	slot := c.park - 1
	c.raw.Control(func(fd uintptr) { unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	p.conns[slot] = nil
	p.free = append(p.free, slot)
	c.park = 0
}

// parked waits on the set until shutdown, resuming the connections the
// kernel reports readable (data, the client's close or an error).
func (s *h1Server) parked(p *parker) {
	defer unix.Close(p.wake)
	defer unix.Close(p.epfd)
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			// The set is unusable: resume everything parked, and park no
			// more (park sees no parker).
			s.errorLog.Printf("turnpike: idle connection poller: %v", err)
			p.mu.Lock()
			p.dead = true
			p.mu.Unlock()
			s.unparkAll()
			return
		}
		p.mu.Lock()
		for _, ev := range events[:n] {
			if ev.Fd == wakeSlot {
				p.mu.Unlock()
				return
			}
			if c := p.conns[ev.Fd]; c != nil {
				p.take(c)
				s.resume(c)
			}
		}
		p.mu.Unlock()
	}
}

// sweepParked resumes the parked connections whose idle timeout passed.
func (s *h1Server) sweepParked(now int64) {
	p := s.parker.Load()
	if p == nil {
		return
	}
	p.mu.Lock()
	for _, c := range p.conns {
		if c != nil && !c.idleUntil.IsZero() && c.idleUntil.UnixNano() <= now {
			p.take(c)
			s.resume(c)
		}
	}
	p.mu.Unlock()
}

// unparkAll resumes every parked connection.
func (s *h1Server) unparkAll() {
	p := s.parker.Load()
	if p == nil {
		return
	}
	p.mu.Lock()
	for _, c := range p.conns {
		if c != nil {
			p.take(c)
			s.resume(c)
		}
	}
	p.mu.Unlock()
}

// stopParker ends the parker's wait, once nothing is parked.
func (s *h1Server) stopParker() {
	if p := s.parker.Load(); p != nil {
		one := [8]byte{1}
		unix.Write(p.wake, one[:])
	}
}
