package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/clock"
)

// PoolOptions tune every connection pool.
type PoolOptions struct {
	// MaxIdle is the number of idle keep-alive connections kept per target.
	MaxIdle int
	// IdleTimeout closes connections idle for longer (Kong's
	// upstream_keepalive_idle_timeout, 60 s).
	IdleTimeout time.Duration
}

// DefaultPoolOptions are Kong's upstream keep-alive defaults, with a larger
// pool since Go connections are cheap.
var DefaultPoolOptions = PoolOptions{MaxIdle: 512, IdleTimeout: 60 * time.Second}

// Conn is one upstream connection with its buffers.
type Conn struct {
	net.Conn
	R *bufio.Reader
	W *bufio.Writer
	// Reused is true when the connection came from the idle pool; a request
	// that fails on it before any response byte may be retried on a new one.
	Reused bool
	// Abort cuts the connection's I/O at once (a deadline in the past):
	// one func per connection, so that registering it as the abort of a
	// request whose client may go away makes no closure.
	Abort   func()
	aborted atomic.Bool
	idleAt  time.Time
	pool    *Pool
}

// RenewReadDeadline sets the read deadline to t, unless Abort ran: an
// abort that comes while the deadline is renewed is not undone by it.
func (c *Conn) RenewReadDeadline(t time.Time) {
	c.SetReadDeadline(t)
	if c.aborted.Load() {
		c.SetReadDeadline(time.Unix(1, 0))
	}
}

// Release gives a connection whose last response was read completely back
// to its pool.
func (c *Conn) Release() { c.pool.put(c) }

// Pool keeps idle connections to one address. The idle list is LIFO so the
// warmest connection is reused first and cold ones age out.
type Pool struct {
	Addr      string
	tlsConfig *tls.Config
	opts      PoolOptions
	mu        sync.Mutex
	idle      []*Conn
	closed    bool
	dialer    net.Dialer
	active    atomic.Int64
}

// NewPool makes a pool for addr (host:port). tlsConfig nil means plain TCP.
func NewPool(addr string, tlsConfig *tls.Config, opts PoolOptions) *Pool {
	if opts.MaxIdle <= 0 {
		opts.MaxIdle = DefaultPoolOptions.MaxIdle
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultPoolOptions.IdleTimeout
	}
	p := &Pool{Addr: addr, tlsConfig: tlsConfig, opts: opts}
	p.dialer.KeepAlive = 30 * time.Second
	return p
}

// Active is the number of connections handed out and not yet returned.
func (p *Pool) Active() int64 { return p.active.Load() }

// Get returns an idle connection or dials a new one within connectTimeout.
func (p *Pool) Get(ctx context.Context, connectTimeout time.Duration) (*Conn, error) {
	return p.GetFresh(ctx, connectTimeout, 0)
}

// GetFresh is Get that only reuses a connection idle for less than maxIdle
// (0: the pool's idle timeout). A request that must not be resent (a POST)
// asks for a recently used connection: one idle for long may be closed by
// the upstream at the moment it is written to, and the request would be
// lost with no safe way to resend it.
func (p *Pool) GetFresh(ctx context.Context, connectTimeout, maxIdle time.Duration) (*Conn, error) {
	limit := p.opts.IdleTimeout
	if maxIdle > 0 && maxIdle < limit {
		limit = maxIdle
	}
	now := clock.Now()
	p.mu.Lock()
	for n := len(p.idle); n > 0; n = len(p.idle) {
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if now.Sub(c.idleAt) < limit {
			p.mu.Unlock()
			c.Reused = true
			p.active.Add(1)
			return c, nil
		}
		p.mu.Unlock()
		c.Conn.Close()
		p.mu.Lock()
	}
	p.mu.Unlock()
	return p.Dial(ctx, connectTimeout)
}

// Dial opens a new connection, bypassing the idle list.
func (p *Pool) Dial(ctx context.Context, connectTimeout time.Duration) (*Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	nc, err := p.dialer.DialContext(dctx, "tcp", p.Addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if p.tlsConfig != nil {
		tlsConn := tls.Client(nc, p.tlsConfig)
		if err := tlsConn.HandshakeContext(dctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tlsConn
	}
	c := &Conn{Conn: nc, pool: p}
	c.Abort = func() {
		c.aborted.Store(true)
		c.SetDeadline(time.Unix(1, 0))
	}
	c.R = bufio.NewReaderSize(nc, 8<<10)
	c.W = bufio.NewWriterSize(nc, 4<<10)
	p.active.Add(1)
	return c, nil
}

// Discard closes a connection that cannot be reused.
func (c *Conn) Discard() {
	c.pool.active.Add(-1)
	c.Conn.Close()
}

func (p *Pool) put(c *Conn) {
	p.active.Add(-1)
	if c.R.Buffered() > 0 || c.aborted.Load() {
		// The upstream sent bytes nobody asked for, and the stream is out
		// of sync; or the connection's deadline is spent.
		c.Conn.Close()
		return
	}
	c.idleAt = clock.Now()
	c.Reused = false
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.opts.MaxIdle {
		p.mu.Unlock()
		c.Conn.Close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// sweep closes connections idle past the timeout, so a pool that went quiet
// does not hold sockets forever.
func (p *Pool) sweep(now time.Time) {
	var stale []*Conn
	p.mu.Lock()
	keep := p.idle[:0]
	for _, c := range p.idle {
		if now.Sub(c.idleAt) >= p.opts.IdleTimeout {
			stale = append(stale, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	for _, c := range stale {
		c.Conn.Close()
	}
}

// Close closes the idle connections and makes the pool keep no more.
// Connections in use are closed when they are released.
func (p *Pool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.closed = true
	p.mu.Unlock()
	for _, c := range idle {
		c.Conn.Close()
	}
}
