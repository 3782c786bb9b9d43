package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/turnpikegw/turnpike/internal/router"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// errInvalidServiceRequest is a plugin's request whose method, path,
// query or Host would split the request line written upstream.
var errInvalidServiceRequest = errors.New("invalid upstream request line or Host (control characters)")

// RoundTripService sends a plugin's own request (req.URL: path and query)
// to a target of the http or https service svc, as forward sends a
// client's: the balancer's pick (avoiding the previous target on a
// retry), the service's timeouts, retries under the same rules and
// budget (retry.go), the pooled connections with the service's TLS, and
// each attempt reported to its target (in flight, latency, passive
// health). Retries on a response status are the client path's alone: the
// caller sees the status. The attempt that answered is the response's
// Request.URL.Host; its body, which the caller must close, holds the
// connection and the target's in-flight count until then. Reads of the
// body end with req's context (its end cuts the connection) and wait at
// most the service's read_timeout each; Close may be called while a
// Read waits, and ends it.
func (h *Handler) RoundTripService(svc *snapshot.Service, req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	path = router.UpstreamPath(svc.Path, path, "", false)
	if !validRequestLine(req.Method, path, req.URL.RawQuery, svc.HostHeader) {
		return nil, errInvalidServiceRequest
	}
	cl := req.ContentLength
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		cl = 0
	case cl == 0:
		// As net/http reads a client request: 0 with a Body is an
		// unknown length, sent chunked, not an empty body.
		cl = -1
	}
	rt := retrier{h: h, svc: svc, idem: idempotent(req.Method), replay: cl == 0}
	rt.useBudget(svc)
	if d, ok := ctx.Deadline(); ok {
		rt.deadline = d
	}
	sr := serviceRequest{req: req, svc: svc, path: path, cl: cl, rt: &rt}
	pick := upstream.PickRequest{Req: req, Path: req.URL.Path}
	var prev *upstream.Target
	for tries := 1; ; tries++ {
		pick.Prev = prev
		target, err := svc.Balancer.Pick(&pick)
		if err != nil {
			return nil, err
		}
		ct := rt.connectTimeout()
		if ct <= 0 {
			return nil, os.ErrDeadlineExceeded
		}
		prev = target
		resp, f, err := h.serviceAttempt(ctx, &sr, target, ct)
		if err == nil {
			return resp, nil
		}
		if d, ok := rt.next(ctx, f, tries); ok && sleepCtx(ctx, d) {
			continue
		}
		return nil, err
	}
}

// serviceRequest is what the attempts of one RoundTripService share.
type serviceRequest struct {
	req  *http.Request
	svc  *snapshot.Service
	path string
	cl   int64 // the body's length, -1 when unknown
	rt   *retrier
}

// serviceAttempt makes one attempt on target: connect, write the request,
// read the response head. On failure it has let go of the connection and
// reported the outcome to the target, and says how it failed.
func (h *Handler) serviceAttempt(ctx context.Context, sr *serviceRequest, target *upstream.Target, ct time.Duration) (*http.Response, retryFailure, error) {
	req, svc, rt := sr.req, sr.svc, sr.rt
	target.Begin()
	start := time.Now()
	hdr := make(http.Header, 8)
	up, f, err := h1Attempt(ctx, rt, sr.cl, target, ct, start, func(conn *upstream.Conn) (upstreamHead, error) {
		return h.exchangeService(conn, sr, hdr)
	})
	if err != nil {
		target.End(failureOutcome(ctx, err))
		return nil, f, err
	}
	latency := time.Since(start)
	u := *req.URL
	u.Scheme, u.Host = svc.Scheme, target.Addr
	out := *req
	out.URL, out.Host = &u, svc.HostHeader
	resp := &http.Response{
		Status: strconv.Itoa(up.head.status) + " " + http.StatusText(up.head.status), StatusCode: up.head.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, ContentLength: up.head.contentLength, Request: &out,
	}
	body := &serviceBody{resp: resp, target: target, abort: up.abort, ctx: ctx, latency: latency}
	now := time.Now()
	initBody(&body.r, up.conn, up.head, svc.ReadTimeout, now)
	if !rt.deadline.IsZero() {
		// The read deadline may be the context's: from here the body is
		// bounded by read_timeout between reads (and by the context).
		body.r.renewAt = now
	}
	resp.Body = body
	return resp, 0, nil
}

// exchangeService writes the request and reads the response head into
// hdr, as exchangeH1 does for a client's request.
func (h *Handler) exchangeService(conn *upstream.Conn, sr *serviceRequest, hdr http.Header) (upstreamHead, error) {
	req := sr.req
	writeHead(conn.W, req.Method, sr.path, req.URL.RawQuery, sr.svc.HostHeader, req.Header, sr.cl, "")
	var err error
	if sr.cl != 0 {
		bufp := h.bufPool.Get().(*[]byte)
		err = writeBody(conn.W, req.Body, sr.cl, *bufp)
		h.bufPool.Put(bufp)
		conn.RenewReadDeadline(sr.rt.capDeadline(time.Now().Add(sr.svc.ReadTimeout)))
	} else {
		err = conn.W.Flush()
	}
	hr := headRequest{noBody: req.Method == http.MethodHead, maxBytes: h.opts.MaxResponseHeaderBytes}
	if err != nil {
		return upstreamHead{}, err
	}
	return readHead(conn.R, hdr, hr)
}

// serviceBody is the body of a RoundTripService response. Close ends the
// attempt: the connection back to its pool when the body was read to its
// end, and the outcome to the target. Close may come from another
// goroutine while a Read waits (a caller's context callback): it then
// only closes the connection's socket, and the Read, on its way out,
// ends the attempt, so that the connection is never let go under it.
type serviceBody struct {
	r       bodyReader
	resp    *http.Response
	target  *upstream.Target
	abort   abortReg
	ctx     context.Context
	latency time.Duration
	mu      sync.Mutex
	err     error // the body's first failure
	reading bool
	closed  bool
}

var errBodyClosed = errors.New("read on a closed upstream response body")

func (b *serviceBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, errBodyClosed
	}
	b.reading = true
	b.mu.Unlock()
	n, err := b.r.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reading = false
	switch {
	case b.closed:
		// Close cut this read short: the caller let go, which is no
		// failure of the target's, and the connection is closed.
		b.r.reusable = false
		b.end()
		if err != io.EOF {
			err = errBodyClosed
		}
	case err == io.EOF:
		b.resp.Trailer = b.r.trailer
	case err != nil && b.err == nil:
		b.err = err
	}
	return n, err
}

func (b *serviceBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.reading {
		// Closing the socket, not a deadline in the past, which the
		// Read's renewal of the read deadline could undo.
		b.r.conn.Conn.Close()
		return nil
	}
	b.end()
	return nil
}

// end lets go of the connection and reports the attempt. b.mu is held
// and no Read is under way.
func (b *serviceBody) end() {
	if !b.abort.stop() {
		// The context ended and the abort ran: the connection's deadline
		// is spent.
		b.r.reusable = false
	}
	b.r.finish()
	if b.err != nil {
		b.target.End(failureOutcome(b.ctx, b.err))
	} else {
		b.target.End(upstream.Outcome{Status: b.resp.StatusCode, Latency: b.latency})
	}
}
