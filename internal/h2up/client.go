// Package h2up is a lean HTTP/2 client for the calls a gateway sends to
// gRPC upstreams most: a request whose whole body is in hand, sent as one
// socket write (HEADERS, CONTINUATION and DATA frames together), answered
// on a stream read by one read loop per connection, with no goroutine per
// call. net/http's HTTP/2 client spends a goroutine, two socket writes and
// a twice-enumerated, re-validated header encoding on every call; for a
// small unary gRPC call that is most of a gateway's cost (see
// docs/ARCHITECTURE.md). Whatever this client does not handle (a body
// longer than the peer's initial stream window, request trailers,
// connection-specific request headers) it refuses with ErrUnsupported
// before anything is sent, so the caller can use net/http instead.
//
// It implements the protocol it relies on: the connection preface and
// SETTINGS (and their ACK), PING ACK, WINDOW_UPDATE for what is read,
// GOAWAY, RST_STREAM, CONTINUATION, the peer's max concurrent streams and
// frame size, and a bound on response header lists; it advertises no
// server push.
package h2up

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/turnpikegw/turnpike/internal/record"
)

// Config is how a Client reaches its upstreams.
type Config struct {
	// Dial opens the TCP connection to a target address.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLS, when set, makes connections TLS with ALPN "h2"; nil is
	// cleartext HTTP/2 with prior knowledge (h2c). An empty ServerName is
	// the target's host, as net/http does.
	TLS *tls.Config
	// ConnectTimeout bounds the dial, the TLS handshake and the wait for
	// the server's first SETTINGS.
	ConnectTimeout time.Duration
	// WriteTimeout closes a connection whose write stalls that long (0:
	// no bound).
	WriteTimeout time.Duration
	// MaxHeaderBytes bounds a response's header list and its trailers
	// (0: 1 MiB).
	MaxHeaderBytes int64
	// IdleTimeout closes a connection that carried no stream that long
	// (0: 60 s).
	IdleTimeout time.Duration
}

// Request is one call. Header holds the regular fields in net/http's
// canonical form; Body is sent whole with END_STREAM.
type Request struct {
	Addr      string // host:port of the target
	Method    string
	Scheme    string // "http" or "https"
	Authority string
	Path      string // path and query, as sent in :path
	Header    http.Header
	Body      []byte
	// HeadTimeout bounds the wait for the response head (0: none).
	HeadTimeout time.Duration
}

// ErrUnsupported is RoundTrip's answer for a request this client leaves
// to another: nothing of it was sent.
var ErrUnsupported = errors.New("h2up: request not handled by the lean client")

// errRefused marks a stream the server did not process (GOAWAY past it, or
// REFUSED_STREAM): it is resent on another connection.
var errRefused = errors.New("h2up: stream refused by the server")

// DialError is a failure to set up a connection (dial, TLS handshake,
// the server's first SETTINGS): nothing of the request reached the
// upstream, so it may be retried elsewhere.
type DialError struct{ Err error }

func (e *DialError) Error() string { return "h2up: connecting: " + e.Err.Error() }
func (e *DialError) Unwrap() error { return e.Err }

// Client keeps connections to any number of targets. Its zero value is
// not usable; use New.
type Client struct {
	cfg   Config
	mu    sync.Mutex
	pools map[string]*pool
}

// pool is a target's connections and the dial under way, which requests
// arriving meanwhile wait for instead of dialling their own.
type pool struct {
	conns   []*conn
	dialing *dialing
}

// New returns a client with cfg.
func New(cfg Config) *Client {
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 1 << 20
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.TLS != nil {
		cfg.TLS = cfg.TLS.Clone()
		cfg.TLS.NextProtos = []string{"h2"}
	}
	if cfg.Dial == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		cfg.Dial = d.DialContext
	}
	return &Client{cfg: cfg, pools: map[string]*pool{}}
}

// maxRefusedResends bounds the resends of a request the server refused.
const maxRefusedResends = 2

// RoundTrip sends r and returns the response once its head arrived. The
// body reads until the stream ends (its trailer is in Response.Trailer
// then) and must be closed; ctx ends the stream, and its reads, early.
func (c *Client) RoundTrip(ctx context.Context, r *Request) (*http.Response, error) {
	if err := checkHeader(r.Header); err != nil {
		return nil, err
	}
	var deadline <-chan time.Time
	var end time.Time
	if r.HeadTimeout > 0 {
		end = time.Now().Add(r.HeadTimeout)
		t := time.NewTimer(r.HeadTimeout)
		defer t.Stop()
		deadline = t.C
	}
	for i := 0; ; i++ {
		cn, err := c.conn(ctx, r.Addr)
		if err != nil {
			return nil, err
		}
		st, err := cn.send(ctx, r)
		if err == errRefused && i < maxRefusedResends {
			continue
		}
		if err != nil {
			return nil, err
		}
		resp, err := st.awaitHead(deadline)
		if err != nil && record.Expired(end) {
			// The wait for the head ran out, whether or not its timer
			// was seen first: a server enforcing the same deadline
			// (gRPC's grpc-timeout) resets the stream as it ends.
			return nil, context.DeadlineExceeded
		}
		if err == errRefused && i < maxRefusedResends {
			continue
		}
		return resp, err
	}
}

// CloseIdle closes the connections that carry no stream.
func (c *Client) CloseIdle() {
	c.mu.Lock()
	var idle []*conn
	for _, p := range c.pools {
		for _, cn := range p.conns {
			if cn.idle() {
				idle = append(idle, cn)
			}
		}
	}
	c.mu.Unlock()
	for _, cn := range idle {
		cn.close(errClosedIdle)
	}
}

var errClosedIdle = errors.New("h2up: idle connection closed")

// conn returns a connection to addr with a stream slot reserved on it,
// dialling one when none has room.
func (c *Client) conn(ctx context.Context, addr string) (*conn, error) {
	for {
		c.mu.Lock()
		p := c.pools[addr]
		if p == nil {
			p = &pool{}
			c.pools[addr] = p
		}
		live := p.conns[:0]
		var got *conn
		for _, cn := range p.conns {
			if cn.dead() {
				continue
			}
			live = append(live, cn)
			if got == nil && cn.reserve() {
				got = cn
			}
		}
		clear(p.conns[len(live):])
		p.conns = live
		if got != nil {
			c.mu.Unlock()
			return got, nil
		}
		if d := p.dialing; d != nil {
			c.mu.Unlock()
			select {
			case <-d.done:
				if d.err != nil && !errors.Is(d.err, context.Canceled) {
					// The dial this call waited for failed (not because its
					// own caller left): the same answer, rather than a dial
					// of its own after it.
					return nil, d.err
				}
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		d := &dialing{done: make(chan struct{})}
		p.dialing = d
		c.mu.Unlock()
		cn, err := c.dial(ctx, addr)
		c.mu.Lock()
		p.dialing = nil
		if err == nil {
			p.conns = append(p.conns, cn)
		}
		d.err = err
		c.mu.Unlock()
		close(d.done)
		if err == nil && !cn.reserve() {
			// The server allows no stream yet: net/http waits for one.
			return nil, ErrUnsupported
		}
		return cn, err
	}
}

// dialing is a dial under way to one address; err is set before done is
// closed.
type dialing struct {
	done chan struct{}
	err  error
}

// dial connects to addr, sends the preface and waits for the server's
// SETTINGS, all within ConnectTimeout.
func (c *Client) dial(ctx context.Context, addr string) (*conn, error) {
	if c.cfg.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.ConnectTimeout)
		defer cancel()
	}
	nc, err := c.cfg.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, &DialError{err}
	}
	if c.cfg.TLS != nil {
		if nc, err = c.handshake(ctx, nc, addr); err != nil {
			return nil, &DialError{err}
		}
	}
	cn := newConn(c, nc, addr)
	if err := cn.start(ctx); err != nil {
		cn.close(err)
		return nil, &DialError{err}
	}
	return cn, nil
}

func (c *Client) handshake(ctx context.Context, nc net.Conn, addr string) (net.Conn, error) {
	cfg := c.cfg.TLS
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		} else {
			cfg.ServerName = addr
		}
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		tc.Close()
		return nil, errors.New("the server did not agree to HTTP/2 (ALPN " + p + ")")
	}
	return tc, nil
}

// forget drops a closed connection from its pool.
func (c *Client) forget(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pools[cn.addr]
	if p == nil {
		return
	}
	for i, x := range p.conns {
		if x == cn {
			p.conns = append(p.conns[:i], p.conns[i+1:]...)
			break
		}
	}
	if len(p.conns) == 0 && p.dialing == nil {
		delete(c.pools, cn.addr)
	}
}

// checkHeader refuses what net/http treats specially in a request (and
// would reject or rewrite), so that those requests keep its behaviour.
func checkHeader(h http.Header) error {
	for _, k := range [...]string{"Connection", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Keep-Alive"} {
		if _, ok := h[k]; ok {
			return ErrUnsupported
		}
	}
	if te, ok := h["Te"]; ok && (len(te) != 1 || te[0] != "trailers") {
		return ErrUnsupported
	}
	return nil
}
