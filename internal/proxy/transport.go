package proxy

import (
	"context"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// transport carries a request's attempts to upstream targets one way:
// the own HTTP/1.1 client (h1Transport), HTTP/2 through net/http
// (h2Transport) or a WebSocket tunnel (tunnelTransport). The retry loop
// (forward) is written once over it, so every transport gets the same
// retry rules (retry.go) within what its prepare allows.
type transport interface {
	// prepare readies the request before the first attempt and sets what
	// may be retried (x.rt); false when it answered the request itself.
	prepare(h *Handler, x *exchange) bool
	// roundTrip makes attempt a: it connects, sends the request and reads
	// the response head into the client response's header. ct bounds the
	// connect (the service's connect_timeout, less when the request's
	// deadline is nearer); HTTP/2 ignores it, as net/http dials with the
	// service's connect_timeout alone. On failure it has let go of the
	// attempt's connection and cleared that header, and says how the
	// attempt failed.
	roundTrip(h *Handler, x *exchange, a *attempt, ct time.Duration) (status int, f retryFailure, err error)
	// discard disposes of a response that is retried instead of passed
	// on. Only a transport whose prepare allows retries of a request that
	// was sent (x.rt.idem and x.rt.replay) is ever asked: today HTTP/1.1.
	discard(h *Handler, x *exchange)
	// respond passes the response of attempt a, with status, on to the
	// client and returns the body bytes read from the upstream. The error is a failure of the body
	// before anything of it went out (then the client got a gateway
	// error); a response cut short later is no error of the attempt. A
	// response body's trailer is in c.Resp.Trailer when it returns.
	respond(h *Handler, x *exchange, a *attempt, status int) (int64, error)
}

// exchange is one request's way through the retry loop, pooled with its
// reqState.
type exchange struct {
	w    *countingWriter
	st   *reqState         // its Req and route are the request's
	svc  *snapshot.Service // st.svc: the route's service or a plugin's target
	rt   retrier
	buf  []byte
	host string // the upstream Host (HTTP/1.1 and tunnels)

	// The request body (HTTP/1.1): replay when buffered, else src; cl is
	// its length, -1 when unknown.
	cl     int64
	src    io.Reader
	replay []byte
	bodyp  *[]byte // the pooled buffer under replay

	// The attempt's response: an HTTP/1.1 or tunnel connection with its
	// head (abort is the client-disconnect abort registered on conn), or
	// an HTTP/2 response (cancel ends its stream).
	conn   *upstream.Conn
	head   upstreamHead
	abort  abortReg
	resp   *http.Response
	cancel context.CancelFunc

	a       attempt // the attempt under way
	upgrade string  // the protocol a tunnel asks for
	h2body  *h2Body
	counted h2Response
	// A request body the lean HTTP/2 client read (in buf), whether the
	// request is one it takes, and whether that was looked at yet.
	leanReq          []byte
	leanOK, leanDone bool
}

// forward proxies the request (st.Req, to st.svc) over t,
// retrying on other targets when that is safe, and passes the response on.
func (h *Handler) forward(w *countingWriter, st *reqState, t transport) {
	x := &st.x
	x.w, x.st, x.svc = w, st, st.svc
	x.rt = retrier{h: h, svc: x.svc}
	bufp := h.bufPool.Get().(*[]byte)
	defer h.bufPool.Put(bufp)
	x.buf = *bufp
	defer x.release(h)
	if !t.prepare(h, x) {
		return
	}
	a, status, ok := h.attempts(x, t)
	if !ok {
		return
	}
	a.responded(status)
	n, err := t.respond(h, x, a, status)
	a.done(st.Req.Context(), err, n)
	if err == nil {
		hdr := w.Header()
		for k, vs := range st.Resp.Trailer {
			hdr[http.TrailerPrefix+k] = vs
		}
	}
}

// release returns the buffered request body's pooled buffer.
func (x *exchange) release(h *Handler) { h.putBody(x.bodyp) }

// attempts is the retry loop: it returns the attempt whose response is to
// be passed on (with its status), or false when the request was answered
// with an error.
func (h *Handler) attempts(x *exchange, t transport) (*attempt, int, bool) {
	st, svc, w := x.st, x.svc, x.w
	ctx := x.st.Req.Context()
	var prev *upstream.Target
	for {
		cookie := st.pick.SetCookie
		target, err := svc.Balancer.Pick(h.pickRequest(st, prev))
		if cookie != nil && st.pick.SetCookie == nil {
			// The cookie handed out by the first pick stays the client's.
			st.pick.SetCookie = cookie
		}
		if err != nil {
			h.noPeer(w, st, svc, err)
			return nil, 0, false
		}
		ct := x.rt.connectTimeout()
		if ct <= 0 {
			h.upstreamFailed(w, st, os.ErrDeadlineExceeded)
			return nil, 0, false
		}
		prev = target
		a := st.begin(target)
		status, f, err := t.roundTrip(h, x, a, ct)
		if err == nil {
			if !h.retryStatus.has(status) {
				return a, status, true
			}
			d, ok := x.rt.allow(ctx, failStatus)
			if !ok {
				return a, status, true
			}
			// Retry on another target: the response never reaches the
			// client.
			a.dropped(status)
			t.discard(h, x)
			clear(w.Header())
			if sleepCtx(ctx, d) {
				continue
			}
			h.upstreamFailed(w, st, ctx.Err())
			return nil, 0, false
		}
		a.fail(ctx, err, f)
		if d, ok := x.rt.next(ctx, f, len(st.rec.Attempts)); ok && sleepCtx(ctx, d) {
			continue
		}
		h.upstreamFailed(w, st, err)
		return nil, 0, false
	}
}
