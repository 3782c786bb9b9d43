package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// sniffConn feeds every byte net/http reads from an HTTP/1.x connection to
// the smuggling detector (see smuggle.go). Writes pass straight through.
// When the connection turns out to be h2c, the HTTP/2 guard (h2guard.go)
// takes over both directions.
type sniffConn struct {
	net.Conn
	d detector
	// off is set when the connection is hijacked (WebSocket tunnels): the
	// bytes after that are not HTTP/1 and nobody asks about them.
	off atomic.Bool
	// served counts the HTTP/1 requests handed to the handler; only the
	// connection's serving goroutine touches it.
	served int64
	// h2 is set once the detector saw the h2c preface.
	h2 atomic.Bool
	g  h2Guard
	// busy: counted in Stats.Busy (server.go).
	busy atomic.Bool
	// counted: the own HTTP/1 path counted the connection at accept and
	// handed it over (h1server.go).
	counted bool
}

func (c *sniffConn) init(nc net.Conn, h2 h2Limits) {
	c.Conn = nc
	c.d.init()
	c.g.init(h2, h2cPrefaceSeen)
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n == 0 || c.off.Load() {
		return n, err
	}
	q := p[:n]
	if !c.h2.Load() {
		k := c.d.feed(q)
		if c.d.state != stH2 {
			return n, err
		}
		c.h2.Store(true)
		q = q[k:]
	}
	if e := c.g.check(c.Conn, q); e != nil {
		return 0, e
	}
	return n, err
}

func (c *sniffConn) Write(p []byte) (int, error) {
	if c.h2.Load() {
		return c.g.write(c.Conn, p)
	}
	return c.Conn.Write(p)
}

// CloseWrite keeps net/http's graceful close (FIN, or TLS close_notify,
// before the final close) working through the wrapper.
func (c *sniffConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// tcpSniffConn wraps a plain TCP connection. It keeps io.ReaderFrom so that
// net/http still uses sendfile/splice for response bodies.
type tcpSniffConn struct{ sniffConn }

func (c *tcpSniffConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// tlsSniffConn wraps a *tls.Conn that negotiated HTTP/1.x. net/http fills
// Request.TLS from ConnectionState for a conn that is not a *tls.Conn, so
// handlers (the proxy routes on r.TLS.ServerName) see what they saw before.
// It has no ReadFrom, as *tls.Conn has none.
type tlsSniffConn struct{ sniffConn }

func (c *tlsSniffConn) ConnectionState() tls.ConnectionState {
	return c.Conn.(*tls.Conn).ConnectionState()
}

func sniffOf(c net.Conn) *sniffConn {
	switch c := c.(type) {
	case *tcpSniffConn:
		return &c.sniffConn
	case *tlsSniffConn:
		return &c.sniffConn
	}
	return nil
}

// fromTLSListener reports whether c came from a tlsListener, which does its
// own connection accounting (it sees connections before their handshake).
func fromTLSListener(c net.Conn) bool {
	switch c := c.(type) {
	case *tls.Conn, *tlsSniffConn, *h2TLSConn:
		return true
	case *tcpSniffConn:
		return c.counted
	}
	return false
}

type connKey struct{}

// connContext puts the sniffing conn, or the h2 TLS conn, into the
// connection's context, where the guard finds it for each request.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if sc := sniffOf(c); sc != nil {
		return context.WithValue(ctx, connKey{}, sc)
	}
	if hc, ok := c.(*h2TLSConn); ok {
		return context.WithValue(ctx, connKey{}, hc)
	}
	return ctx
}

// sniffListener wraps the connections of a plain listener.
type sniffListener struct {
	net.Listener
	h2 h2Limits
}

func (l sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &tcpSniffConn{}
	sc.init(c, l.h2)
	return sc, nil
}

// tlsListener does the TLS handshake itself so that it can tell HTTP/1.1
// from h2 before net/http sees the connection: net/http serves HTTP/2 and
// fills Request.TLS only for a *tls.Conn, and a *tls.Conn cannot be wrapped
// to see its plaintext. So h2 connections are handed over as the *tls.Conn
// (net/http's own HTTP/2 server, settings and shutdown are unchanged) and
// HTTP/1.x ones wrapped in a tlsSniffConn. Handshakes run one goroutine per
// connection, as they did inside net/http, with the same timeout.
type tlsListener struct {
	net.Listener // the TCP listener
	config       *tls.Config
	timeout      time.Duration
	h2           h2Limits
	stats        *Stats
	errorLog     *log.Logger

	start     sync.Once
	ready     chan net.Conn
	errc      chan error
	done      chan struct{}
	stopped   chan struct{} // the accept loop ended with err
	err       error
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	pending map[net.Conn]struct{} // connections in their handshake
}

func newTLSListener(ln net.Listener, config *tls.Config, timeout time.Duration, h2 h2Limits, stats *Stats, errorLog *log.Logger) *tlsListener {
	return &tlsListener{
		Listener: ln, config: config, timeout: timeout, h2: h2, stats: stats, errorLog: errorLog,
		ready: make(chan net.Conn), errc: make(chan error), done: make(chan struct{}),
		stopped: make(chan struct{}), pending: make(map[net.Conn]struct{}),
	}
}

// Accept starts the accept loop lazily, so that http.Server has finished
// its HTTP/2 set-up of the shared tls.Config before the first handshake.
func (l *tlsListener) Accept() (net.Conn, error) {
	l.start.Do(func() {
		l.wg.Add(1)
		go l.acceptLoop()
	})
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errc:
		return nil, err
	case <-l.stopped:
		return nil, l.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *tlsListener) acceptLoop() {
	defer l.wg.Done()
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				l.err = err
				close(l.stopped)
				return
			}
			// Let http.Server see it: it backs off on temporary errors.
			select {
			case l.errc <- err:
				continue
			case <-l.done:
				return
			}
		}
		l.stats.Accepted.Add(1)
		l.stats.Active.Add(1)
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			l.drop(raw)
			continue
		}
		l.pending[raw] = struct{}{}
		l.mu.Unlock()
		l.wg.Add(1)
		go l.handshake(raw)
	}
}

func (l *tlsListener) drop(c net.Conn) {
	c.Close()
	l.stats.Active.Add(-1)
}

func (l *tlsListener) handshake(raw net.Conn) {
	defer l.wg.Done()
	tc := tls.Server(raw, l.config)
	if l.timeout > 0 {
		raw.SetDeadline(time.Now().Add(l.timeout))
	}
	err := tc.Handshake()
	l.mu.Lock()
	delete(l.pending, raw)
	l.mu.Unlock()
	if err != nil {
		// As net/http does: a client speaking plain HTTP gets a readable 400.
		var re tls.RecordHeaderError
		reason := err.Error()
		if errors.As(err, &re) && re.Conn != nil && recordLooksLikeHTTP(re.RecordHeader) {
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			reason = "client sent an HTTP request to an HTTPS server"
		}
		l.errorLog.Printf("http: TLS handshake error from %s: %v", raw.RemoteAddr(), reason)
		l.stats.TLS.Errors.Add(1)
		l.drop(raw)
		return
	}
	if l.timeout > 0 {
		raw.SetDeadline(time.Time{})
	}
	var c net.Conn = tc
	st := tc.ConnectionState()
	switch st.Version {
	case tls.VersionTLS13:
		l.stats.TLS.TLS13.Add(1)
	case tls.VersionTLS12:
		l.stats.TLS.TLS12.Add(1)
	default:
		l.stats.TLS.Legacy.Add(1)
	}
	switch {
	case st.NegotiatedProtocol != "h2":
		sc := &tlsSniffConn{}
		sc.init(tc, h2Limits{})
		c = sc
	case h2Cipher(st):
		hc := &h2TLSConn{Conn: tc, state: st}
		hc.g.init(l.h2, 0)
		c = hc
	}
	select {
	case l.ready <- c:
	case <-l.done:
		l.drop(c)
	}
}

// Close stops accepting, aborts handshakes in progress and waits for the
// listener's goroutines.
func (l *tlsListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() {
		close(l.done)
		l.mu.Lock()
		l.closed = true
		for c := range l.pending {
			c.Close()
		}
		l.mu.Unlock()
	})
	l.wg.Wait()
	return err
}

func recordLooksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// badRequest is the whole answer to a smuggling-shaped request, in Kong's
// error format.
var badRequest = refusal(http.StatusBadRequest, "Bad Request", "Bad request")

// badRequestBody answers an HTTP/2 request net/http let through but an
// HTTP/1 request line could not carry.
var badRequestBody = []byte(`{"message":"Bad request"}`)

// validH2Request reports whether an HTTP/2 request's method and target
// could have come in an HTTP/1 request line, as the proxy writes them
// upstream. net/http's HTTP/2 server checks neither for what its HTTP/1
// parser refuses: a method that is not a token, a :path with a space (it
// refuses control bytes in :path itself).
func validH2Request(method, target string) bool {
	if method == "" {
		return false
	}
	for i := 0; i < len(method); i++ {
		if !isTokenByte(method[i]) {
			return false
		}
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// Bounds on closing a rejected connection: long enough for the client to
// read the answer before a full close could reset it, short enough that a
// client cannot hold the goroutine.
const (
	rejectWriteTimeout = 5 * time.Second
	rejectLinger       = 500 * time.Millisecond
	rejectDrainBytes   = 64 << 10
)

// guard runs in front of the listener's handler: an HTTP/1 request whose
// head the detector marked is answered 400 and its connection closed; the
// handler never runs. It also stands in for net/http's "OPTIONS *" handler,
// which is disabled because it would answer requests the guard never sees
// and so put the guard's request count out of step with the detector's.
//
// On a TLS listener that also serves HTTP/3 it announces that (altSvc),
// before the handler, which may replace the header with an upstream's.
type guard struct {
	next   http.Handler
	altSvc []string
}

func (g guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.altSvc != nil {
		w.Header()["Alt-Svc"] = g.altSvc
	}
	switch c := r.Context().Value(connKey{}).(type) {
	case *sniffConn:
		// Only HTTP/1 response writers can hijack; h2c streams on a
		// sniffed connection carry no Transfer-Encoding and are not counted.
		if hj, ok := w.(http.Hijacker); ok {
			n := c.served
			c.served++
			if n >= c.d.bad.Load() {
				reject(hj)
				return
			}
		}
	case *h2TLSConn:
		r.TLS = &c.state
	case *h3Conn:
		c.begin()
		defer c.end()
		// quic-go turns an extended CONNECT's :protocol into r.Proto; the
		// gateway tunnels nothing over HTTP/3.
		if r.Method == http.MethodConnect {
			answerBadRequest(w)
			return
		}
	}
	if r.ProtoMajor >= 2 && !validH2Request(r.Method, r.RequestURI) {
		answerBadRequest(w)
		return
	}
	if r.Method == http.MethodOptions && r.RequestURI == "*" {
		// What net/http's globalOptionsHandler does.
		w.Header().Set("Content-Length", "0")
		if r.ContentLength != 0 {
			io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 4<<10))
		}
		return
	}
	g.next.ServeHTTP(w, r)
}

func answerBadRequest(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	w.Write(badRequestBody)
}

// reject answers on the raw connection rather than through net/http, which
// would first read up to 256 KiB of the (attacker's) body to keep the
// connection alive.
func reject(hj http.Hijacker) {
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(rejectWriteTimeout))
	if _, err := c.Write(badRequest); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	// Read what the client is still sending for a moment: closing with
	// unread data makes TCP send a reset that can destroy the answer.
	c.SetReadDeadline(time.Now().Add(rejectLinger))
	io.CopyN(io.Discard, c, rejectDrainBytes)
}
