package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/h2up"
	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/transcode"
)

// h2Client keeps track of the HTTP/2 transports of grpc/grpcs services.
// Each service brings its own (snapshot.Service.H2: its TLS settings,
// connect_timeout and write_timeout, shared between services with equal
// settings and carried over by reloads that leave them unchanged), and
// beside it a lean client (h2up) with the same settings, which carries
// the requests whose whole body is in hand.
type h2Client struct {
	// seen holds every service transport that carried a request (as
	// *http.Transport keys, their lean clients as values), so that close
	// reaches them and a reload's replaced ones lose their idle
	// connections early; mu serialises the sweeps.
	seen sync.Map
	mu   sync.Mutex
}

func newH2Client() *h2Client { return &h2Client{} }

func (c *h2Client) close() {
	c.seen.Range(func(k, v any) bool {
		closeIdle(k, v)
		return true
	})
}

func closeIdle(tr, lean any) {
	tr.(*http.Transport).CloseIdleConnections()
	lean.(*h2up.Client).CloseIdle()
}

// h2Transport returns the transport for svc. The first time a service
// transport is seen (after startup, or after a reload that replaced one),
// the idle connections of the transports the snapshot in force no longer
// uses are closed. A transport still used by requests of an older
// snapshot keeps its busy connections, and whatever is left idle ends
// with its IdleConnTimeout anyway.
func (h *Handler) h2Transport(svc *snapshot.Service) (*http.Transport, *h2up.Client) {
	tr := svc.H2
	c := h.h2
	if v, ok := c.seen.Load(tr); ok {
		return tr, v.(*h2up.Client)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.seen.Load(tr); ok {
		return tr, v.(*h2up.Client)
	}
	lc := newLean(tr, svc)
	c.seen.Store(tr, lc)
	inUse := map[*http.Transport]bool{tr: true}
	if snap := h.snap.Load(); snap != nil {
		for _, s := range snap.Services {
			if s.H2 != nil {
				inUse[s.H2] = true
			}
		}
	}
	c.seen.Range(func(k, v any) bool {
		if old := k.(*http.Transport); !inUse[old] {
			c.seen.Delete(old)
			closeIdle(old, v)
		}
		return true
	})
	return tr, lc
}

// h2Transport carries gRPC (HTTP/2) requests through the service's
// net/http transport. A request body is a stream that cannot be
// replayed, so only a connection that could not be made is retried.
type h2Transport struct{}

// prepare sets what every attempt sends alike. The body is lent to each
// attempt through an h2Body, which a failed connection cannot close and
// which marks a failed read of it as the client's fault.
func (h2Transport) prepare(h *Handler, x *exchange) bool {
	r := x.st.Req
	if r.ProtoMajor == 2 && r.Header.Get("Content-Type") != "" {
		r.Header["Te"] = []string{"trailers"}
	}
	// Credentials for the gateway itself never go upstream, and the
	// gateway answers Expect itself (as the HTTP/1.1 path does).
	delete(r.Header, "Proxy-Authorization")
	delete(r.Header, "Expect")
	if r.Body != nil && r.Body != http.NoBody {
		// Not pooled with x: the transport may read or close it after
		// the handler returned.
		x.h2body = &h2Body{rc: r.Body}
	}
	return true
}

// roundTrip sends the request and waits for the response head, for at
// most the service's read_timeout; a gRPC stream may then run as long as
// both sides keep it open. The target counts the request in flight until
// the stream ends. A request whose whole body can be in hand goes through
// the lean client; the others, and those it leaves, through net/http.
func (h2Transport) roundTrip(h *Handler, x *exchange, a *attempt, _ time.Duration) (int, retryFailure, error) {
	tr, lc := h.h2Transport(x.svc)
	resp, handled, err := h.leanRoundTrip(x, a, lc)
	x.cancel = noCancel
	if !handled {
		resp, x.cancel, err = netRoundTrip(x, a, tr)
	}
	if err != nil {
		if h2DialFailed(err) {
			return 0, failConnect, err
		}
		return 0, failureKind(err), err
	}
	a.head()
	x.resp = resp
	hdr := x.w.Header()
	for k, vs := range resp.Header {
		if isHopByHop(k) {
			continue
		}
		hdr[k] = vs
	}
	if resp.ContentLength >= 0 && resp.Header.Get("Content-Length") == "" && len(resp.Trailer) == 0 {
		hdr.Del("Content-Length")
	}
	return resp.StatusCode, 0, nil
}

// netRoundTrip makes attempt a through net/http's transport tr.
func netRoundTrip(x *exchange, a *attempt, tr *http.Transport) (*http.Response, context.CancelFunc, error) {
	r, svc := x.st.Req, x.svc
	c := &x.st.Ctx
	scheme := "http"
	if svc.Scheme == "https" {
		scheme = "https"
	}
	ctx, cancel := context.WithCancel(r.Context())
	wait := headTimeout(r.Header, svc.ReadTimeout)
	end := time.Now().Add(wait)
	headTimer := time.AfterFunc(wait, cancel)
	out := &http.Request{
		Method:        c.Method,
		URL:           &url.URL{Scheme: scheme, Host: a.target.Addr, Opaque: c.Path, RawQuery: c.RawQuery},
		Header:        r.Header,
		Body:          r.Body,
		ContentLength: r.ContentLength,
		Host:          upstreamHost(c, x.st.route, svc),
		Trailer:       r.Trailer,
	}
	switch {
	case x.leanReq != nil:
		out.Body = x.leanFallback()
	case x.h2body != nil:
		out.Body = x.h2body
	}
	out = out.WithContext(ctx)
	resp, err := tr.RoundTrip(out)
	if !headTimer.Stop() && err == nil {
		// The head arrived as read_timeout ran out: the stream is already
		// cancelled.
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		// A failure once the wait ran out is a timeout, whether or not
		// the timer's cancel ran first: a server enforcing the same
		// deadline (gRPC's grpc-timeout) resets the stream as it ends.
		if (ctx.Err() != nil || record.Expired(end)) && r.Context().Err() == nil {
			err = context.DeadlineExceeded
		}
		cancel()
		return nil, nil, err
	}
	return resp, cancel, nil
}

// headTimeout is how long to wait for the response head: read_timeout,
// or less when the client's gRPC deadline (grpc-timeout) comes first, so
// the gateway answers DEADLINE_EXCEEDED itself rather than wait on an
// upstream that may reset the stream instead of answering.
func headTimeout(h http.Header, readTimeout time.Duration) time.Duration {
	if v := h["Grpc-Timeout"]; len(v) == 1 {
		if d, ok := transcode.ParseTimeout(v[0]); ok && d < readTimeout {
			return d
		}
	}
	return readTimeout
}

func (h2Transport) discard(h *Handler, x *exchange) {
	x.resp.Body.Close()
	x.cancel()
}

func (h2Transport) respond(h *Handler, x *exchange, a *attempt, status int) (int64, error) {
	defer x.cancel()
	defer x.resp.Body.Close()
	x.counted = h2Response{x: x}
	if err := h.respond(x, a, status, &x.counted, true); err != nil {
		return x.counted.n, err
	}
	return x.counted.n, nil
}

// h2Response reads an HTTP/2 response body, counting its bytes, and puts
// its trailer in c.Resp.Trailer as the end is read, before the body
// filters see io.EOF (a gRPC transcoder turns the status in it into its
// own answer).
type h2Response struct {
	x *exchange
	n int64
}

func (b *h2Response) Read(p []byte) (int, error) {
	n, err := b.x.resp.Body.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		tr := b.x.resp.Trailer
		for k := range tr {
			if forbiddenTrailer(k) {
				delete(tr, k)
			}
		}
		b.x.st.Resp.Trailer = tr
	}
	return n, err
}

// h2Body lends the client's request body to HTTP/2 attempts. net/http
// closes a request's body when the connection cannot be made; the body
// is kept open for the next attempt then, as nothing of it was read. A
// read that fails is the client's (errClientBody, as on the HTTP/1.1
// path): a body over the size limit is a 413, a client that stalls a 408,
// and neither counts against the target.
type h2Body struct {
	rc   io.ReadCloser
	read atomic.Bool
}

func (b *h2Body) Read(p []byte) (int, error) {
	b.read.Store(true)
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = &errClientBody{err}
	}
	return n, err
}

func (b *h2Body) Close() error {
	if !b.read.Load() {
		return nil
	}
	return b.rc.Close()
}

// h2DialFailed reports an error of the connection set-up (dial or TLS
// handshake), before anything of the request reached the upstream.
func h2DialFailed(err error) bool {
	var de *h2up.DialError
	if errors.As(err, &de) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	var cve *tls.CertificateVerificationError
	var rhe tls.RecordHeaderError
	var ae tls.AlertError
	return errors.As(err, &cve) || errors.As(err, &rhe) || errors.As(err, &ae)
}

var _ io.Reader = (*bodyReader)(nil)
