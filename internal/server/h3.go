package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Flow-control windows of a QUIC connection: what one client can make the
// gateway buffer before the handler reads it (quic-go's defaults, 6 and
// 15 MiB, let a few hundred connections hold gigabytes).
const (
	h3StreamWindow = 1 << 20
	h3ConnWindow   = 4 << 20
)

// h3HandshakeTimeout bounds a QUIC handshake; a shorter ReadHeaderTimeout
// wins, as it bounds the TCP handshake.
const h3HandshakeTimeout = 10 * time.Second

// h3NoError is HTTP/3's H3_NO_ERROR, the code of a graceful close.
const h3NoError = quic.ApplicationErrorCode(0x100)

// h3Server serves HTTP/3 on the UDP socket of a TLS listener's port.
type h3Server struct {
	srv   *http3.Server
	pc    net.PacketConn
	stats *Stats

	mu    sync.Mutex
	conns map[*h3Conn]struct{}
}

// h3Conn is one QUIC connection: the guard counts its requests in flight,
// so that Stats.Busy holds for HTTP/3 too and a drain can close it once
// it is idle.
type h3Conn struct {
	qc       *quic.Conn
	stats    *Stats
	inflight atomic.Int32
	started  atomic.Uint32
	// Under h3Server.mu, for the drain: started when last looked at, and
	// how many looks in a row found the connection quiet.
	seen  uint32
	quiet int
	// Only the idle watch's timers touch these, one after the other.
	idleSeen  uint32
	idleAfter time.Duration
}

// watchIdle closes the connection once a whole idleAfter passed with no
// request begun and none in flight. quic-go's own idle timer stops while
// any stream is open, and it has no header timeout: without this, streams
// whose HEADERS never come would hold a connection (and a goroutine each,
// up to MaxIncomingStreams) for as long as the client sends pings.
func (c *h3Conn) watchIdle() {
	if c.qc.Context().Err() != nil {
		return
	}
	started := c.started.Load()
	if c.inflight.Load() == 0 && started == c.idleSeen {
		c.qc.CloseWithError(h3NoError, "idle")
		return
	}
	c.idleSeen = started
	time.AfterFunc(c.idleAfter, c.watchIdle)
}

func (c *h3Conn) begin() {
	c.started.Add(1)
	if c.inflight.Add(1) == 1 {
		c.stats.Busy.Add(1)
	}
}

func (c *h3Conn) end() {
	if c.inflight.Add(-1) == 0 {
		c.stats.Busy.Add(-1)
	}
}

// listenH3 binds UDP on the port number the TCP listener got, so that
// `host:0` works too and Alt-Svc can name one port for both.
func listenH3(tcpAddr net.Addr, host string, handler http.Handler, limits Limits, tlsSrc TLS, stats *Stats, logger *slog.Logger) (*h3Server, error) {
	_, port, _ := net.SplitHostPort(tcpAddr.String())
	pc, err := net.ListenPacket("udp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, err
	}
	hs := &h3Server{pc: pc, stats: stats, conns: make(map[*h3Conn]struct{})}
	handshake := h3HandshakeTimeout
	if limits.ReadHeaderTimeout > 0 {
		handshake = min(handshake, limits.ReadHeaderTimeout)
	}
	qconf := &quic.Config{
		HandshakeIdleTimeout:       handshake,
		MaxIdleTimeout:             limits.IdleTimeout,
		MaxIncomingStreams:         int64(limits.MaxConcurrentStreams),
		MaxStreamReceiveWindow:     h3StreamWindow,
		MaxConnectionReceiveWindow: h3ConnWindow,
		// A request waiting on a slow upstream sends no packets; the pings
		// keep its connection from idling out. A connection without
		// requests is closed by the HTTP/3 idle timeout below, one whose
		// client vanished by MaxIdleTimeout (pings unanswered).
		KeepAlivePeriod: limits.IdleTimeout / 2,
		// 0-RTT requests can be replayed by anyone who captured them, and
		// upstreams cannot tell.
		Allow0RTT: false,
	}
	hs.srv = &http3.Server{
		Handler:        handler,
		TLSConfig:      tlsConfig(tlsSrc),
		QUICConfig:     qconf,
		MaxHeaderBytes: limits.MaxHeaderBytes,
		IdleTimeout:    limits.IdleTimeout,
		ConnContext:    hs.connContext,
	}
	// quic-go logs every request at debug level, and builds the call's
	// arguments (allocations) even when the level is off.
	if logger.Enabled(context.Background(), slog.LevelDebug) {
		hs.srv.Logger = logger
	}
	return hs, nil
}

// connContext runs once per connection, after its handshake: QUIC is
// always TLS 1.3.
func (hs *h3Server) connContext(ctx context.Context, qc *quic.Conn) context.Context {
	c := &h3Conn{qc: qc, stats: hs.stats, idleAfter: hs.srv.IdleTimeout}
	if c.idleAfter > 0 {
		time.AfterFunc(c.idleAfter, c.watchIdle)
	}
	hs.stats.Accepted.Add(1)
	hs.stats.Active.Add(1)
	hs.stats.TLS.TLS13.Add(1)
	hs.mu.Lock()
	hs.conns[c] = struct{}{}
	hs.mu.Unlock()
	context.AfterFunc(qc.Context(), func() {
		hs.mu.Lock()
		delete(hs.conns, c)
		hs.mu.Unlock()
		hs.stats.Active.Add(-1)
	})
	return context.WithValue(ctx, connKey{}, c)
}

func (hs *h3Server) serve() error {
	err := hs.srv.Serve(hs.pc)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// A drain looks for connections gone idle every h3DrainPoll and closes
// one found quiet (no request in flight, none begun) h3DrainQuiet times
// in a row: a handler that returned may still have its response queued
// in quic-go, which a close would discard.
const (
	h3DrainPoll  = 100 * time.Millisecond
	h3DrainQuiet = 10
)

// shutdown sends GOAWAY, then closes each connection a while after its
// requests are done: quic-go waits for the clients to close them, which a client
// keeping an idle connection would make last until ctx ends (net/http
// closes idle connections itself). When ctx ends, whatever is left is
// closed.
func (hs *h3Server) shutdown(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- hs.srv.Shutdown(ctx) }()
	tick := time.NewTicker(h3DrainPoll)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			hs.pc.Close()
			return err
		case <-tick.C:
			hs.closeIdle()
		}
	}
}

func (hs *h3Server) closeIdle() {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for c := range hs.conns {
		started := c.started.Load()
		if c.inflight.Load() != 0 || started != c.seen {
			c.seen, c.quiet = started, 0
			continue
		}
		if c.quiet++; c.quiet >= h3DrainQuiet {
			c.qc.CloseWithError(h3NoError, "")
		}
	}
}

// altSvc is the Alt-Svc value announcing HTTP/3 on port, built once per
// listener so that setting it costs a request no allocation.
func altSvc(port string) []string {
	return []string{`h3=":` + port + `"; ma=86400`}
}
