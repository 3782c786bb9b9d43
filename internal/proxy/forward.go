package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"syscall"
	"time"

	"github.com/turnpikegw/turnpike/internal/clock"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// aLongTimeAgo is a deadline that makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// errClientBody marks a failure to read the client's request body, which
// is the client's fault (400/408), not the upstream's.
type errClientBody struct{ err error }

func (e *errClientBody) Error() string { return "reading client body: " + e.err.Error() }
func (e *errClientBody) Unwrap() error { return e.err }

type clientBody struct{ r io.Reader }

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &errClientBody{err}
	}
	return n, err
}

// h1Transport is the own HTTP/1.1 client over pooled connections.
type h1Transport struct{}

// prepare checks the request line and readies the body: buffered when it
// is small and the request may be repeated after it reached the upstream,
// streamed otherwise.
func (h1Transport) prepare(h *Handler, x *exchange) bool {
	st, svc := x.st, x.svc
	r := st.Req
	c := &st.Ctx
	x.host = upstreamHost(c, st.route, svc)
	if !validRequestLine(c.Method, c.Path, c.RawQuery, x.host) {
		h.invalidRequestLine(x.w, st)
		return false
	}
	x.cl = r.ContentLength
	if r.Body == nil || r.Body == http.NoBody {
		x.cl = 0
	}
	x.rt.idem, x.rt.replay = idempotent(c.Method), x.cl == 0
	// A plugin's target spends the budget of the service it stands in for.
	x.rt.useBudget(st.route.Service)
	if x.cl != 0 {
		if x.rt.idem && svc.Retries > 0 && h.opts.RetryBufferBytes > 0 {
			var err error
			x.replay, x.src, x.cl, err = h.bufferBody(r.Body, x.cl, &x.bodyp)
			if err != nil {
				h.upstreamFailed(x.w, st, err)
				return false
			}
			x.rt.replay = x.replay != nil
		} else {
			x.src = &clientBody{r.Body}
		}
	}
	if h.opts.RequestTimeout > 0 {
		x.rt.deadline = clock.Now().Add(h.opts.RequestTimeout)
	}
	return true
}

func (h1Transport) roundTrip(h *Handler, x *exchange, a *attempt, ct time.Duration) (int, retryFailure, error) {
	ctx := x.st.Req.Context()
	up, f, err := h1Attempt(ctx, &x.rt, x.cl, a.target, ct, a.start, func(conn *upstream.Conn) (upstreamHead, error) {
		a.connected()
		return h.exchangeH1(conn, x, a)
	})
	if err != nil {
		clear(x.w.Header())
		return 0, f, err
	}
	a.head()
	x.conn, x.head, x.abort = up.conn, up.head, up.abort
	return up.head.status, 0, nil
}

// h1Answer is an HTTP/1.1 attempt's response head on its connection;
// abort is the abort registered on the connection.
type h1Answer struct {
	conn  *upstream.Conn
	head  upstreamHead
	abort abortReg
}

// h1Attempt is what a client's HTTP/1.1 attempt and a plugin's service
// call share: a connection to target (a fresh one unless the request is
// idempotent), its deadlines, the abort when ctx ends, and exchange,
// which writes the request (cl: its body's length) and reads the head
// once the connection is in hand. On failure the connection is gone and
// the failure's kind says what may be retried.
func h1Attempt(ctx context.Context, rt *retrier, cl int64, target *upstream.Target, ct time.Duration,
	start time.Time, exchange func(*upstream.Conn) (upstreamHead, error)) (h1Answer, retryFailure, error) {
	var conn *upstream.Conn
	var err error
	if rt.idem {
		conn, err = target.Pool.Get(ctx, ct)
	} else {
		conn, err = target.Pool.GetFresh(ctx, ct, freshIdle)
	}
	if err != nil {
		// Nothing reached the upstream: another target may do.
		return h1Answer{}, failConnect, err
	}
	// The deadlines are set before the abort is registered, so that an
	// abort that fires at once is not overwritten. One registration per
	// attempt covers the exchange and the body: a caller that goes away
	// cuts the upstream wait at once.
	if cl == 0 {
		// A bodiless request is one small write: the read timeout covers it.
		conn.SetDeadline(rt.capDeadline(start.Add(rt.svc.ReadTimeout)))
	} else {
		conn.SetWriteDeadline(rt.capDeadline(start.Add(rt.svc.WriteTimeout)))
	}
	abort := registerAbort(ctx, conn.Abort)
	head, err := exchange(conn)
	if err != nil {
		abort.stop()
		conn.Discard()
		// A kept-alive connection the upstream closed while it sat idle
		// fails before any response byte; resend when nothing of the
		// request's body was consumed. This predates retries and is not
		// limited by the budget.
		if conn.Reused && rt.idem && cl == 0 && nothingReceived(err) {
			return h1Answer{}, failStale, err
		}
		return h1Answer{}, failureKind(err), err
	}
	return h1Answer{conn: conn, head: head, abort: abort}, 0, nil
}

// abortHook is a context that runs one abort when it ends without the
// allocations of context.AfterFunc: the own HTTP/1 server's connection
// context (internal/server/h1ctx.go), one slot per connection.
type abortHook interface {
	OnDone(abort func()) (token uint64, ok bool)
	StopOnDone(token uint64) bool
}

// abortReg is an abort registered on a context: through its hook,
// through context.AfterFunc (after), or not at all (a context that can
// never end).
type abortReg struct {
	hook  abortHook
	token uint64
	after func() bool
}

// registerAbort has abort run when ctx ends.
func registerAbort(ctx context.Context, abort func()) abortReg {
	if ctx.Done() == nil {
		// A context that can never end (a server that makes none per
		// request) needs no abort, nor the allocations of registering one.
		return abortReg{}
	}
	if h, ok := ctx.(abortHook); ok {
		if token, ok := h.OnDone(abort); ok {
			return abortReg{hook: h, token: token}
		}
	}
	return abortReg{after: context.AfterFunc(ctx, abort)}
}

// stop ends the registration. As context.AfterFunc's stop, true means
// the abort has not run and now will not.
func (r abortReg) stop() bool {
	switch {
	case r.hook != nil:
		return r.hook.StopOnDone(r.token)
	case r.after != nil:
		return r.after()
	}
	return true
}

func (h1Transport) discard(h *Handler, x *exchange) {
	x.discardResponse()
}

func (h1Transport) respond(h *Handler, x *exchange, a *attempt, status int) (int64, error) {
	now := clock.Now()
	body := &x.st.body
	initBody(body, x.conn, x.head, x.svc.ReadTimeout, now)
	body.resp = &x.st.Resp
	if !x.rt.deadline.IsZero() {
		// The read deadline may be the request's: from here the body is
		// bounded by read_timeout between reads, renewed on the first read.
		body.renewAt = now
	}
	err := h.respond(x, a, status, body, x.head.contentLength < 0)
	if !x.abort.stop() {
		// The client went away and the abort already ran (or is running):
		// the connection's deadline is spent, so it must not be reused.
		body.reusable = false
	}
	body.finish()
	return body.read, err
}

// initBody prepares the reader of a response body that follows head.
func initBody(body *bodyReader, conn *upstream.Conn, head upstreamHead, readTimeout time.Duration, now time.Time) {
	*body = bodyReader{conn: conn, remaining: head.contentLength, reusable: !head.close, trailerBudget: head.budget,
		timeout: readTimeout, renewAt: now.Add(readTimeout / 4)}
	switch {
	case head.chunked:
		body.chunked = httputil.NewChunkedReader(conn.R)
	case head.contentLength < 0:
		body.untilEOF = true
		body.reusable = false
	case head.contentLength == 0:
		body.done = true
	}
}

// discardResponse disposes of a response that is retried instead of
// passed on: a small body is read off so that the connection can serve
// again, anything else closes it.
func (x *exchange) discardResponse() {
	conn, head, readTimeout := x.conn, x.head, x.svc.ReadTimeout
	body := &x.st.body
	now := clock.Now()
	initBody(body, conn, head, readTimeout, now)
	if head.chunked || (head.contentLength > 0 && head.contentLength <= drainLimit) {
		// A short wait: the body of an error page follows its head at once.
		conn.RenewReadDeadline(now.Add(min(readTimeout, drainTimeout)))
		body.renewAt = now.Add(time.Hour)
		for n := 0; n <= drainLimit; {
			m, err := body.Read(x.buf)
			n += m
			if err != nil {
				break
			}
		}
	}
	if !x.abort.stop() {
		body.reusable = false
	}
	body.finish()
	*body = bodyReader{}
}

// exchangeH1 writes the request and reads the response head.
// The caller has set the deadlines and registered the client-disconnect
// abort on conn.
func (h *Handler) exchangeH1(conn *upstream.Conn, x *exchange, a *attempt) (upstreamHead, error) {
	c := &x.st.Ctx
	hdr := x.w.Header()
	writeHead(conn.W, c.Method, c.Path, c.RawQuery, x.host, x.st.Req.Header, x.cl, "")
	var err error
	if x.cl != 0 {
		if x.replay != nil {
			if _, err = conn.W.Write(x.replay); err == nil {
				err = conn.W.Flush()
			}
		} else {
			err = writeBody(conn.W, x.src, x.cl, x.buf)
		}
		// Not undoing an abort that ran while the body was written.
		conn.RenewReadDeadline(x.rt.capDeadline(clock.Now().Add(x.svc.ReadTimeout)))
	} else {
		err = conn.W.Flush()
	}
	hr := headRequest{noBody: c.Method == http.MethodHead, maxBytes: h.opts.MaxResponseHeaderBytes, vals: x.st.headVals[:]}
	if err != nil {
		var cb *errClientBody
		if errors.As(err, &cb) {
			return upstreamHead{}, err
		}
		// The upstream may have answered early (413, 401) and closed;
		// read that answer if it is there.
		head, rerr := readHead(conn.R, hdr, hr)
		if rerr == nil {
			head.close = true
			return head, nil
		}
		return upstreamHead{}, err
	}
	return readHead(conn.R, hdr, hr)
}

// upstreamFailed renders an error for a failed upstream attempt.
func (h *Handler) upstreamFailed(w *countingWriter, st *reqState, err error) {
	st.rec.Error = err.Error()
	var pe *plugin.Exit
	if errors.As(err, &pe) {
		// A plugin's body reader refused the body as it streamed (a
		// size limit): its answer, before anything of the upstream's.
		h.exit(w, st, pe)
		return
	}
	var cb *errClientBody
	clientFault := errors.As(err, &cb)
	if !clientFault && st.Req.Context().Err() != nil {
		// The client went away; nobody is left to answer (nginx logs 499),
		// and the connection is cut rather than given a made-up status.
		st.Resp.Status = 499
		st.abort = true
		return
	}
	switch {
	case clientFault:
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			h.exit(w, st, plugin.NewExit(http.StatusRequestEntityTooLarge, msgTooLarge))
		case isTimeout(err):
			h.exit(w, st, plugin.NewExit(http.StatusRequestTimeout, msgRequestTimeout))
		default:
			h.exit(w, st, plugin.NewExit(http.StatusBadRequest, msgBadRequest))
		}
	case isTimeout(err):
		h.upstreamError(w, st, plugin.NewExit(http.StatusGatewayTimeout, msgTimeout))
	default:
		// Refused, reset, or an unreadable response (errBadResponse).
		h.upstreamError(w, st, plugin.NewExit(http.StatusBadGateway, msgBadGateway))
	}
}

// upstreamError answers e for an upstream that failed or had no target,
// unless a Fallback plugin answers in its place.
func (h *Handler) upstreamError(w *countingWriter, st *reqState, e *plugin.Exit) {
	st.Resp.Status = e.Status
	st.Resp.FromUpstream = false
	if !h.fallback(w, st) {
		h.exit(w, st, e)
	}
}

// freshIdle is how long a pooled connection may have been idle and still
// carry a request that must not be resent.
const freshIdle = 2 * time.Second

// invalidRequestLine refuses to write a request line or Host that a plugin
// filled with bytes that would split the request upstream.
func (h *Handler) invalidRequestLine(w *countingWriter, st *reqState) {
	st.rec.Error = "invalid upstream request line or Host (control characters)"
	h.opts.Logger.Error("refusing to send an invalid request line upstream", "request_id", st.RequestID)
	h.exit(w, st, plugin.NewExit(http.StatusInternalServerError, msgUnexpected))
}

// failureOutcome classifies a failed attempt for passive health checks. An
// attempt cut short because the client went away, or by the client's own
// body (over the size limit, stalled, refused by a plugin), says nothing
// about the target, so it is reported as neutral: a client must not be
// able to get targets ejected.
func failureOutcome(ctx context.Context, err error) upstream.Outcome {
	var cb *errClientBody
	var pe *plugin.Exit
	if ctx.Err() == context.Canceled || errors.As(err, &cb) || errors.As(err, &pe) {
		return upstream.Outcome{}
	}
	if isTimeout(err) {
		return upstream.Outcome{Timeout: true}
	}
	return upstream.Outcome{TCPFailure: true}
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// nothingReceived reports an error that shows the upstream closed the
// connection before sending any part of a response.
func nothingReceived(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// retarget is the service a plugin's target sends the request to: the
// route's alternate for it, with the target's path, unless the target
// asks to fall back and the alternate has no healthy target. A target the
// route did not compile (not one its plugins declared) changes nothing.
func retarget(c *plugin.Ctx, route *snapshot.Route, svc *snapshot.Service) *snapshot.Service {
	t := c.Target
	alt := route.Targets[t]
	if alt == nil || t.Fallback && !alt.Available() {
		return svc
	}
	if t.Path != "" {
		c.Path = t.Path
	}
	return alt
}
