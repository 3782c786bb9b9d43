package server

import (
	"cmp"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/turnpikegw/turnpike/internal/clock"
)

// Reading of the own HTTP/1.x server path: the idle wait between requests,
// the pooled read buffer and the reads of heads and bodies.

// idleWait waits for the first bytes of the next head, within the idle
// timeout. The goroutine that served the last request waits at most until
// its probe deadline, then hands the wait over (headMoved). Read deadlines
// cost a timer update each, so one set in the last half second is kept:
// the probe and the idle timeout are coarse.
func (c *h1Conn) idleWait(fresh bool) headResult {
	idle := c.srv.limits.IdleTimeout
	if idle <= 0 {
		idle = c.srv.limits.ReadHeaderTimeout
	}
	now := clock.Now()
	probe := probeIdle
	if c.served <= 1 && c.raw != nil && c.srv.live.Load() > c.srv.crowdedWaits {
		probe = probeCrowded
	}
	var until time.Time
	switch {
	case fresh:
		until = c.idleUntil
	case idle > 0:
		c.idleUntil = now.Add(idle)
		until = now.Add(probe)
		if c.idleUntil.Before(until) {
			until = c.idleUntil
		}
	default:
		c.idleUntil = time.Time{}
		until = now.Add(probe)
	}
	if fresh || c.deadlineSet || c.deadline.Sub(now) < probe/2 || until.Before(c.deadline) {
		c.deadline, c.deadlineSet = until, false
		if c.nc.SetReadDeadline(until) != nil {
			return headClose
		}
	}
	err := c.waitData(fresh)
	switch {
	case err == nil:
		return headOK
	case !fresh && isTimeout(err) && !c.srv.closing.Load() && (c.idleUntil.IsZero() || time.Now().Before(c.idleUntil)):
		if c.idleUntil.IsZero() {
			c.deadline = time.Time{}
			c.nc.SetReadDeadline(time.Time{})
		}
		return headMoved
	}
	c.noteErr(err)
	return headClose
}

func (c *h1Conn) setReadDeadline(t time.Time) error {
	c.deadlineSet = true
	return c.nc.SetReadDeadline(t)
}

// waitData waits until the connection has bytes and reads them into a
// pooled buffer; on plain TCP without holding a buffer while it waits.
// Other connections (TLS) hold one while they wait on the goroutine that
// served the last request; on a fresh one (idle for the probe) they read
// a single byte first: the record layer keeps the rest of what it
// decrypted, which the head's next read takes (no 4 KiB buffer held while
// idle: about 3 KB less RSS per idle TLS connection, bench/idle.sh TLS=1).
func (c *h1Conn) waitData(fresh bool) error {
	if c.raw == nil {
		if fresh {
			n, err := c.nc.Read(c.waitByte[:])
			if n == 0 {
				return cmp.Or(err, io.EOF)
			}
			c.takeBuf()
			c.buf[0] = c.waitByte[0]
			c.r, c.w = 0, 1
			return nil
		}
		c.takeBuf()
		n, err := c.nc.Read(c.buf)
		c.r, c.w = 0, n
		if n == 0 {
			c.releaseBuf()
			return cmp.Or(err, io.EOF)
		}
		return nil
	}
	c.rn, c.rerr = 0, nil
	if err := c.raw.Read(c.readFn); err != nil {
		return err
	}
	if c.rn <= 0 {
		return cmp.Or(c.rerr, io.EOF)
	}
	c.r, c.w = 0, c.rn
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rawRead is called by the poller when the socket may be readable: it
// reads into a buffer from the pool, which it returns if nothing came.
func (c *h1Conn) rawRead(fd uintptr) bool {
	c.takeBuf()
	for {
		n, err := syscall.Read(int(fd), c.buf)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			c.releaseBuf()
			return false
		}
		c.rn, c.rerr = n, err
		if n == 0 && err == nil {
			c.rerr = io.EOF
		}
		return true
	}
}

func (c *h1Conn) noteErr(err error) {
	if err == nil {
		err = io.EOF
	}
	if c.err == nil {
		c.err = err
	}
}

func (c *h1Conn) takeBuf() {
	if c.bufp == nil {
		c.bufp = readBufs.Get().(*[]byte)
		c.buf = *c.bufp
	}
}

func (c *h1Conn) releaseBuf() {
	if c.bufp != nil && c.r == c.w {
		if len(c.buf) == readBufSize {
			readBufs.Put(c.bufp)
		}
		c.bufp, c.buf, c.r, c.w = nil, nil, 0, 0
	}
}

// fill reads more into the buffer, growing it up to limit bytes unread.
func (c *h1Conn) fill(limit int) error {
	if c.err != nil {
		return c.err
	}
	c.takeBuf()
	if c.r > 0 && c.w == len(c.buf) {
		copy(c.buf, c.buf[c.r:c.w])
		c.w -= c.r
		c.r = 0
	}
	if c.w == len(c.buf) {
		nb := make([]byte, min(2*len(c.buf), limit+readBufSize))
		copy(nb, c.buf[c.r:c.w])
		if len(c.buf) == readBufSize {
			readBufs.Put(c.bufp)
		}
		c.w -= c.r
		c.r = 0
		c.buf = nb
		c.bufp = &c.buf
	}
	n, err := c.nc.Read(c.buf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	c.noteErr(err)
	return c.err
}

// readBody reads request body bytes: buffered ones first, then straight
// into p.
func (c *h1Conn) readBody(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // a Read of nothing says nothing of the connection
	}
	if c.r < c.w {
		n := copy(p, c.buf[c.r:c.w])
		c.r += n
		return n, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	if !c.deadlineSet && !c.draining && !c.deadline.IsZero() {
		c.deadline = time.Time{}
		c.nc.SetReadDeadline(c.deadline)
	}
	n, err := c.nc.Read(p)
	if n == 0 {
		c.noteErr(err)
		return 0, c.err
	}
	return n, nil
}

// byte1 reads one byte of chunked framing.
func (c *h1Conn) byte1() (byte, error) {
	if c.r == c.w {
		c.r, c.w = 0, 0
		if err := c.fill(readBufSize); err != nil {
			return 0, err
		}
	}
	b := c.buf[c.r]
	c.r++
	return b, nil
}
