package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Limits are the edge timeouts and sizes, hardened by default for
// untrusted clients (see the design guide's edge defaults).
type Limits struct {
	ReadHeaderTimeout    time.Duration
	IdleTimeout          time.Duration
	MaxHeaderBytes       int
	MaxConcurrentStreams int
	// OwnHTTP1 serves HTTP/1.x with the gateway's own server path
	// (h1conn.go) rather than net/http's; h2 and h2c connections still go
	// to net/http.
	OwnHTTP1 bool
	// MaxResets ends an HTTP/2 connection (GOAWAY ENHANCE_YOUR_CALM) whose
	// client resets, or makes the server reset, more than this many streams
	// within a window of twice as many streams it opens (rapid reset,
	// MadeYouReset); 0: no limit.
	MaxResets int
}

// DefaultLimits mirror NGINX/Traefik/Envoy practice.
var DefaultLimits = Limits{
	ReadHeaderTimeout:    60 * time.Second,
	IdleTimeout:          75 * time.Second,
	MaxHeaderBytes:       64 << 10,
	MaxConcurrentStreams: 128,
	MaxResets:            500,
}

// Stats count connections across a server's listeners.
type Stats struct {
	Accepted atomic.Uint64
	Active   atomic.Int64
	// Busy are the open connections with a request in progress (NGINX's
	// reading and writing); the others are idle or yet to send one.
	Busy atomic.Int64
	TLS  TLSStats
}

// TLSStats count the handshakes of a server's TLS listeners: completed
// ones by protocol version (Legacy: TLS 1.0 and 1.1, which only the old
// and custom policies accept) and failed ones.
type TLSStats struct {
	TLS12, TLS13, Legacy atomic.Uint64
	Errors               atomic.Uint64
}

// TLS is what TLS listeners take, at every handshake, from the
// configuration in force.
type TLS struct {
	// Certificate picks the server certificate (by SNI).
	Certificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// ClientCert, when set, says whether a handshake for a server name
	// asks the client for a certificate, and the CAs the request names
	// (nil: none). It only asks: a client without a certificate completes
	// the handshake, and nothing is verified here (mtls-auth verifies the
	// certificate on the routes that need one).
	ClientCert func(serverName string) (ask bool, cas *x509.CertPool)
	// VerifyClients, when set, makes every handshake require a client
	// certificate that these CAs verify (the admin listener's mTLS); it
	// excludes ClientCert.
	VerifyClients *x509.CertPool
	// Policy is the protocol versions and cipher suites served (the zero
	// Policy: TLS 1.2 and 1.3, Go's default suites).
	Policy Policy
}

// Server runs one set of listeners with one handler factory.
type Server struct {
	name    string
	logger  *slog.Logger
	limits  Limits
	servers []*http.Server
	lns     []net.Listener
	h3      []*h3Server
	h1      []*h1Server
	Stats   Stats
	wg      sync.WaitGroup
}

// HandlerFor builds the handler of one listener from its scheme and port.
type HandlerFor func(scheme, port string) http.Handler

// New binds every address now, so that a port conflict is reported at
// start-up rather than later.
func New(name string, listens []Listen, handler HandlerFor, limits Limits, tlsSrc TLS, logger *slog.Logger) (*Server, error) {
	s := &Server{name: name, logger: logger, limits: limits}
	for _, l := range listens {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("%s listener: %w", name, err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		scheme := "http"
		if l.TLS {
			scheme = "https"
		}
		g := guard{next: handler(scheme, port)}
		if l.H3 && tlsSrc.Policy.MaxVersion != 0 && tlsSrc.Policy.MaxVersion < tls.VersionTLS13 {
			ln.Close()
			s.closeListeners()
			return nil, fmt.Errorf("%s listener %s: http3 needs TLS 1.3, which --ssl-protocols leaves out", name, l.Addr)
		}
		if l.H3 {
			host, _, _ := net.SplitHostPort(l.Addr)
			h3, err := listenH3(ln.Addr(), host, g, limits, tlsSrc, &s.Stats, logger)
			if err != nil {
				ln.Close()
				s.closeListeners()
				return nil, fmt.Errorf("%s listener %s (udp, http3): %w", name, l.Addr, err)
			}
			s.h3 = append(s.h3, h3)
			g.altSvc = altSvc(port)
		}
		hs := &http.Server{
			Handler:           g,
			ReadHeaderTimeout: limits.ReadHeaderTimeout,
			IdleTimeout:       limits.IdleTimeout,
			MaxHeaderBytes:    limits.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
			ConnState:         s.connState,
			ConnContext:       connContext,
			// Frames of HTTP/2's default size, as NGINX reads them: net/http's
			// default, 1 MiB, lets each client make it hold 1 MiB frames.
			HTTP2:     &http.HTTP2Config{MaxConcurrentStreams: limits.MaxConcurrentStreams, MaxReadFrameSize: 16 << 10},
			Protocols: new(http.Protocols),
			// guard answers "OPTIONS *" itself; see guard.
			DisableGeneralOptionsHandler: true,
		}
		hs.Protocols.SetHTTP1(true)
		h2 := h2Limits{maxResets: limits.MaxResets, maxStreams: limits.MaxConcurrentStreams}
		if l.TLS {
			hs.Protocols.SetHTTP2(true)
			// h2 over TLS reaches net/http as an h2TLSConn, served the h2c
			// way (see h2guard.go); HTTP/1 TLS conns carry a ConnectionState,
			// for which net/http never looks for the h2c preface.
			hs.Protocols.SetUnencryptedHTTP2(true)
			hs.TLSConfig = tlsConfig(tlsSrc)
			// The handshake timeout net/http would use (the smallest of its
			// read/write timeouts; only ReadHeaderTimeout is set here).
			ln = newTLSListener(ln, hs.TLSConfig, limits.ReadHeaderTimeout, h2, &s.Stats, hs.ErrorLog)
		} else if !limits.OwnHTTP1 {
			ln = sniffListener{ln, h2}
		}
		if limits.OwnHTTP1 {
			h1 := newH1Server(g, limits, &s.Stats, h2, hs.ErrorLog)
			s.h1 = append(s.h1, h1)
			ln = newH1Listener(ln, h1)
		}
		if l.H2C {
			hs.Protocols.SetUnencryptedHTTP2(true)
		}
		s.servers = append(s.servers, hs)
		s.lns = append(s.lns, ln)
	}
	return s, nil
}

// tlsConfig is a TLS listener's config. With ClientCert set, a handshake
// whose server name it picks switches to a twin config that asks for a
// client certificate. A resumed session keeps the certificates of its
// first handshake, so a session begun without the request must not resume
// where a certificate is asked for (it would arrive without one), nor the
// other way round. crypto/tls seals the tickets of a config returned by
// GetConfigForClient with the original config's keys; the twin seals and
// opens its own with keys of its own (WrapSession, UnwrapSession).
func tlsConfig(src TLS) *tls.Config {
	conf := &tls.Config{
		GetCertificate: src.Certificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	src.Policy.apply(conf)
	if src.VerifyClients != nil {
		conf.ClientAuth, conf.ClientCAs = tls.RequireAndVerifyClientCert, src.VerifyClients
		return conf
	}
	if src.ClientCert == nil {
		return conf
	}
	// tickets only holds the twin's ticket keys, rotated as tls does.
	tickets := &tls.Config{}
	asking := &tls.Config{
		MinVersion:     conf.MinVersion,
		MaxVersion:     conf.MaxVersion,
		CipherSuites:   conf.CipherSuites,
		GetCertificate: conf.GetCertificate,
		NextProtos:     conf.NextProtos,
		ClientAuth:     tls.RequestClientCert,
		WrapSession:    tickets.EncryptTicket,
		UnwrapSession:  tickets.DecryptTicket,
	}
	conf.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		ask, cas := src.ClientCert(hello.ServerName)
		switch {
		case !ask:
			return nil, nil
		case cas == nil:
			return asking, nil
		}
		named := asking.Clone()
		named.ClientCAs = cas
		return named, nil
	}
	return conf
}

// Addrs are the bound addresses, in the order given.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.lns))
	for i, ln := range s.lns {
		out[i] = ln.Addr()
	}
	return out
}

// Serve serves every listener until Shutdown.
func (s *Server) Serve() {
	for _, h3 := range s.h3 {
		s.wg.Go(func() {
			if err := h3.serve(); err != nil {
				s.logger.Error("listener stopped", "server", s.name, "addr", h3.pc.LocalAddr().String(), "protocol", "http3", "error", err)
			}
		})
	}
	for i, hs := range s.servers {
		s.wg.Add(1)
		go func(hs *http.Server, ln net.Listener) {
			defer s.wg.Done()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.logger.Error("listener stopped", "server", s.name, "addr", ln.Addr().String(), "error", err)
			}
		}(hs, s.lns[i])
	}
}

// Shutdown stops accepting, lets in-flight requests finish until ctx ends,
// closes idle keep-alive connections (HTTP/2 clients get GOAWAY), then
// closes whatever is left.
func (s *Server) Shutdown(ctx context.Context) error {
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for _, h3 := range s.h3 {
		wg.Go(func() {
			if err := h3.shutdown(ctx); err != nil {
				fail(err)
			}
		})
	}
	for _, h1 := range s.h1 {
		wg.Go(func() {
			if err := h1.shutdown(ctx); err != nil {
				fail(err)
			}
		})
	}
	for _, hs := range s.servers {
		wg.Add(1)
		go func(hs *http.Server) {
			defer wg.Done()
			if err := hs.Shutdown(ctx); err != nil {
				hs.Close()
				fail(err)
			}
		}(hs)
	}
	wg.Wait()
	s.wg.Wait()
	return first
}

func (s *Server) closeListeners() {
	for _, ln := range s.lns {
		ln.Close()
	}
	for _, h3 := range s.h3 {
		h3.pc.Close()
	}
}

func (s *Server) connState(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		if !fromTLSListener(c) { // counted at accept, before the handshake
			s.Stats.Accepted.Add(1)
			s.Stats.Active.Add(1)
		}
	case http.StateActive:
		if b := busyFlag(c); b != nil && b.CompareAndSwap(false, true) {
			s.Stats.Busy.Add(1)
		}
	case http.StateIdle:
		s.notBusy(c)
	case http.StateHijacked:
		if sc := sniffOf(c); sc != nil {
			sc.off.Store(true)
		}
		s.notBusy(c)
		s.Stats.Active.Add(-1)
	case http.StateClosed:
		s.notBusy(c)
		s.Stats.Active.Add(-1)
	}
}

func (s *Server) notBusy(c net.Conn) {
	if b := busyFlag(c); b != nil && b.CompareAndSwap(true, false) {
		s.Stats.Busy.Add(-1)
	}
}

// busyFlag is where a connection notes that it is counted in Stats.Busy
// (nil for a conn of no listener of ours).
func busyFlag(c net.Conn) *atomic.Bool {
	if sc := sniffOf(c); sc != nil {
		return &sc.busy
	}
	if hc, ok := c.(*h2TLSConn); ok {
		return &hc.busy
	}
	return nil
}
