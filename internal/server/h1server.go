package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// h1Server serves the HTTP/1.x connections of one listener with the own
// server path (h1conn.go) and hands the others to net/http, which serves
// them through h1Listener: h2 connections a TLS listener negotiated and
// plain connections that open with the h2c preface.
type h1Server struct {
	handler  http.Handler
	limits   Limits
	stats    *Stats
	errorLog *log.Logger
	h2       h2Limits
	stop     chan struct{} // closed when shutdown is done
	stopOnce sync.Once

	closing  atomic.Bool
	watching sync.Once // the watchdog (h1watch.go) runs
	mu       sync.Mutex
	conns    map[*h1Conn]struct{}
	wg       sync.WaitGroup

	// Connections whose wait moved (parked, or to a fresh goroutine)
	// since the last reclaim; the count at the watchdog's last tick, and
	// when that reclaim was (the watchdog's own, h1watch.go).
	moved       atomic.Int64
	movedSeen   int64
	lastReclaim time.Time

	// The idle connections' wait without a goroutine (h1park_linux.go);
	// live is len(conns), the connections on goroutines (busy or
	// waiting, not parked), above crowdedWaits of which a connection's
	// first wait probes for probeCrowded (tests lower it).
	parkOnce     sync.Once
	parker       atomic.Pointer[parker]
	live         atomic.Int64
	crowdedWaits int64
}

// h1Listener is what net/http's server accepts from: the connections the
// own path handed off. Its accept loop runs on the listener below.
type h1Listener struct {
	net.Listener
	srv     *h1Server
	start   sync.Once
	handoff chan net.Conn
	done    chan struct{}
	stopped chan struct{}
	err     error
	once    sync.Once
}

func newH1Listener(ln net.Listener, s *h1Server) *h1Listener {
	return &h1Listener{Listener: ln, srv: s, handoff: make(chan net.Conn),
		done: make(chan struct{}), stopped: make(chan struct{})}
}

func (l *h1Listener) Accept() (net.Conn, error) {
	l.start.Do(func() { l.srv.wg.Go(l.acceptLoop) })
	select {
	case c := <-l.handoff:
		return c, nil
	case <-l.stopped:
		return nil, l.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *h1Listener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.done) })
	return err
}

func (l *h1Listener) acceptLoop() {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || !errors.Is(err, net.ErrClosed) && l.isOpen() {
				// Out of file descriptors and the like: back off as
				// net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.srv.errorLog.Printf("http: Accept error: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			l.err = err
			close(l.stopped)
			return
		}
		delay = 0
		switch tc := c.(type) {
		case *tlsSniffConn:
			// HTTP/1.x over TLS, counted by the tlsListener.
			l.srv.serve(tc.Conn, l, false)
		case *tls.Conn, *h2TLSConn:
			l.give(c)
		default:
			l.srv.stats.Accepted.Add(1)
			l.srv.stats.Active.Add(1)
			l.srv.serve(c, l, true)
		}
	}
}

func (l *h1Listener) isOpen() bool {
	select {
	case <-l.done:
		return false
	default:
		return true
	}
}

// give passes a connection to net/http's server.
func (l *h1Listener) give(c net.Conn) {
	select {
	case l.handoff <- c:
	case <-l.done:
		c.Close()
		l.srv.stats.Active.Add(-1)
	}
}

func newH1Server(handler http.Handler, limits Limits, stats *Stats, h2 h2Limits, errorLog *log.Logger) *h1Server {
	return &h1Server{handler: handler, limits: limits, stats: stats, h2: h2, errorLog: errorLog,
		stop: make(chan struct{}), conns: make(map[*h1Conn]struct{}), crowdedWaits: crowdedWaits}
}

func (s *h1Server) serve(nc net.Conn, l *h1Listener, plain bool) {
	c := newH1Conn(s, nc, context.WithValue(context.Background(), http.LocalAddrContextKey, nc.LocalAddr()))
	s.watching.Do(func() { s.wg.Go(s.watchdog) })
	c.ln = l
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		s.stats.Active.Add(-1)
		return
	}
	s.conns[c] = struct{}{}
	s.live.Store(int64(len(s.conns)))
	s.mu.Unlock()
	s.wg.Go(c.serve)
}

// resume serves c, idle for probeIdle, on a fresh goroutine.
func (s *h1Server) resume(c *h1Conn) { s.wg.Go(func() { c.run(true) }) }

// handOff gives a plain connection that opened with the h2c preface to
// net/http (through the sniffing conn, as before this path existed), with
// the bytes already read.
func (s *h1Server) handOff(c *h1Conn, read []byte) {
	c.hijak = true
	c.ctx.cancel()
	s.forget(c)
	sc := &tcpSniffConn{}
	sc.init(&prefixConn{Conn: c.nc, pre: append([]byte(nil), read...)}, s.h2)
	sc.counted = true
	c.r, c.w = 0, 0
	c.releaseBuf()
	c.ln.give(sc)
}

// hijacked forgets a connection a handler took over.
func (s *h1Server) hijacked(c *h1Conn) {
	s.forget(c)
	s.stats.Active.Add(-1)
}

func (s *h1Server) forget(c *h1Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.live.Store(int64(len(s.conns)))
	s.mu.Unlock()
}

// done is called when a connection's goroutine ends.
func (s *h1Server) done(c *h1Conn) {
	if c.hijak {
		return
	}
	c.ctx.cancel()
	s.forget(c)
	s.stats.Active.Add(-1)
}

// shutdown closes idle connections, lets the others finish the request in
// progress (answered with Connection: close) until ctx ends, then closes
// what is left.
func (s *h1Server) shutdown(ctx context.Context) error {
	s.closing.Store(true)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		// Parked connections are resumed, to close as idle ones; none is
		// parked once closing is set.
		s.unparkAll()
		s.mu.Lock()
		n := len(s.conns)
		for c := range s.conns {
			if connState(c.state.Load()) == stateIdle {
				// A read deadline in the past ends the idle wait.
				c.nc.SetReadDeadline(aLongTimeAgo)
			}
		}
		s.mu.Unlock()
		if n == 0 {
			s.stopParker()
			s.stopOnce.Do(func() { close(s.stop) })
			return nil
		}
		select {
		case <-ctx.Done():
			s.stopParker()
			s.mu.Lock()
			for c := range s.conns {
				c.nc.Close()
			}
			s.mu.Unlock()
			s.stopOnce.Do(func() { close(s.stop) })
			return ctx.Err()
		case <-tick.C:
		}
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// prefixConn replays bytes already read before the connection's own.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
