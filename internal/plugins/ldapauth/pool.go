package ldapauth

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
)

const (
	// maxConns bounds the binds an instance runs at once, and so its
	// connections to the directory: requests past it wait for a slot,
	// up to the configured timeout.
	maxConns = 32
	// maxRead bounds what one use of a connection may read from the
	// server: a bind response is a few dozen bytes, and the BER decoder
	// would otherwise grow its buffer to whatever length a server
	// announces.
	maxRead = 64 << 10
)

// errBusy is returned when no connection slot freed within the timeout.
var errBusy = errors.New("ldap-auth: all connections to the directory are busy")

// pool binds against one LDAP server over a bounded set of connections,
// keeping idle ones for keepalive (Kong's cosocket pool; a StartTLS
// connection is upgraded once, when it is made, as Kong does).
type pool struct {
	addr      string
	ldaps     bool
	startTLS  bool
	tls       *tls.Config
	timeout   time.Duration
	keepalive time.Duration // 0: idle connections do not expire
	now       func() time.Time

	slots chan struct{}

	mu     sync.Mutex
	idle   []idleConn // most recently used last
	closed bool
}

type idleConn struct {
	c     *conn
	since time.Time
}

// conn is one connection to the directory and its read budget.
type conn struct {
	l   *ldap.Conn
	raw *limitConn
}

func newPool(addr, host string, ldaps, startTLS, verify bool, timeout, keepalive time.Duration) *pool {
	p := &pool{
		addr: addr, ldaps: ldaps, startTLS: startTLS, timeout: timeout, keepalive: keepalive,
		now: time.Now, slots: make(chan struct{}, maxConns),
	}
	if ldaps || startTLS {
		// Kong's sslhandshake(true, ldap_host, verify_ldap_host): the host
		// is the server name; the certificate is checked only when asked.
		p.tls = &tls.Config{ServerName: host, InsecureSkipVerify: !verify, MinVersion: tls.VersionTLS12}
	}
	return p
}

// bind asks the server whether dn/password bind. ok is the server's
// verdict; resultCode is its LDAP result code when it refused (0 when it
// accepted); err says the server could not be asked (no connection,
// timeout, a malformed answer).
func (p *pool) bind(ctx context.Context, dn, password string) (ok bool, resultCode uint16, err error) {
	wait := time.NewTimer(p.timeout)
	select {
	case p.slots <- struct{}{}:
		wait.Stop()
	case <-wait.C:
		return false, 0, errBusy
	case <-ctx.Done():
		wait.Stop()
		return false, 0, ctx.Err()
	}
	defer func() { <-p.slots }()

	c, reused := p.take()
	for {
		if c == nil {
			if c, err = p.dial(ctx); err != nil {
				return false, 0, err
			}
		}
		c.raw.budget.Store(maxRead)
		err = c.l.Bind(dn, password)
		var lerr *ldap.Error
		switch {
		case err == nil:
			p.put(c)
			return true, 0, nil
		case errors.As(err, &lerr) && lerr.ResultCode < ldap.ErrorNetwork:
			// The server answered: its refusal is the verdict.
			p.put(c)
			return false, lerr.ResultCode, nil
		}
		c.l.Close()
		if !reused {
			return false, 0, err
		}
		// A kept connection the server has since closed: one fresh try.
		c, reused = nil, false
	}
}

// dial connects within the timeout, with TLS from the start for ldaps
// and upgraded by StartTLS when asked.
func (p *pool) dial(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	d := net.Dialer{}
	nc, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	raw := &limitConn{Conn: nc}
	raw.budget.Store(maxRead)
	var transport net.Conn = raw
	if p.ldaps {
		tc := tls.Client(raw, p.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		transport = tc
	}
	l := ldap.NewConn(transport, p.ldaps)
	l.Start()
	l.SetTimeout(p.timeout)
	if p.startTLS {
		// StartTLS runs its handshake without a deadline of its own.
		nc.SetDeadline(time.Now().Add(p.timeout))
		err := l.StartTLS(p.tls)
		nc.SetDeadline(time.Time{})
		if err != nil {
			l.Close()
			return nil, err
		}
	}
	return &conn{l: l, raw: raw}, nil
}

// take returns the most recently used idle connection still fresh, and
// whether it is one; stale ones are closed.
func (p *pool) take() (*conn, bool) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := len(p.idle); n > 0; n = len(p.idle) {
		ic := p.idle[n-1]
		p.idle = p.idle[:n-1]
		if !ic.c.l.IsClosing() && (p.keepalive == 0 || now.Sub(ic.since) < p.keepalive) {
			return ic.c, true
		}
		go ic.c.l.Close()
	}
	return nil, false
}

// put keeps c for the next bind, or closes it once the pool is closed.
func (p *pool) put(c *conn) {
	p.mu.Lock()
	if p.closed || c.l.IsClosing() {
		p.mu.Unlock()
		c.l.Close()
		return
	}
	p.idle = append(p.idle, idleConn{c: c, since: p.now()})
	p.mu.Unlock()
}

// close closes the idle connections; those in use are closed when put back.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, ic := range idle {
		ic.c.l.Close()
	}
}

// limitConn fails reads once a use of the connection has read its budget.
type limitConn struct {
	net.Conn
	budget atomic.Int64
}

var errTooLong = errors.New("ldap-auth: the directory's answer is too long")

func (c *limitConn) Read(b []byte) (int, error) {
	left := c.budget.Load()
	if left <= 0 {
		return 0, errTooLong
	}
	if int64(len(b)) > left {
		b = b[:left]
	}
	n, err := c.Conn.Read(b)
	c.budget.Add(-int64(n))
	return n, err
}
