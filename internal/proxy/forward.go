package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"syscall"
	"time"

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

// forwardH1 proxies one request over a pooled HTTP/1.1 connection,
// retrying on another target when that is safe (retry.go).
func (h *Handler) forwardH1(w *countingWriter, r *http.Request, st *reqState, route *snapshot.Route, svc *snapshot.Service) {
	c := &st.Ctx
	host := upstreamHost(c, route, svc)
	if !validRequestLine(c.Method, c.Path, c.RawQuery, host) {
		h.invalidRequestLine(w, st)
		return
	}
	cl := r.ContentLength
	if r.Body == nil || r.Body == http.NoBody {
		cl = 0
	}
	bufp := h.bufPool.Get().(*[]byte)
	defer h.bufPool.Put(bufp)
	buf := *bufp
	hdr := w.Header()
	ctx := r.Context()

	rt := retrier{h: h, svc: svc, idem: idempotent(c.Method), replay: cl == 0}
	if svc.Retries > 0 {
		rt.budget = h.budgets.get(svc)
		rt.budget.earn()
	}
	// The body: buffered when it is small and the request may be repeated
	// after it reached the upstream, streamed otherwise.
	var (
		replay []byte
		src    io.Reader
	)
	if cl != 0 {
		if rt.idem && svc.Retries > 0 && h.opts.RetryBufferBytes > 0 {
			var bp *[]byte
			var err error
			replay, src, cl, err = h.bufferBody(r.Body, cl, &bp)
			defer h.putBody(bp)
			if err != nil {
				h.upstreamFailed(w, st, err)
				return
			}
			rt.replay = replay != nil
		} else {
			src = &clientBody{r.Body}
		}
	}
	if h.opts.RequestTimeout > 0 {
		rt.deadline = time.Now().Add(h.opts.RequestTimeout)
	}

	var (
		conn   *upstream.Conn
		head   upstreamHead
		target *upstream.Target
		err    error
		start  time.Time
		stop   func() bool
		tries  int
	)
	for {
		cookie := st.pick.SetCookie
		target, err = svc.Balancer.Pick(h.pickRequest(st, target))
		if cookie != nil && st.pick.SetCookie == nil {
			// The cookie handed out by the first pick stays the client's.
			st.pick.SetCookie = cookie
		}
		if err != nil {
			h.noPeer(w, st, svc, err)
			return
		}
		ct := rt.connectTimeout()
		if ct <= 0 {
			h.upstreamFailed(w, st, os.ErrDeadlineExceeded)
			return
		}
		tries++
		st.upstream = target.Addr
		start = time.Now()
		target.Begin()
		if rt.idem {
			conn, err = target.Pool.Get(ctx, ct)
		} else {
			conn, err = target.Pool.GetFresh(ctx, ct, freshIdle)
		}
		if err != nil {
			target.End(failureOutcome(ctx, err))
			st.addTry(target, time.Since(start), 0, tryConnect)
			c.Upstream = failedResult(target, err, tries)
			// Nothing reached the upstream: another target may do.
			if d, ok := rt.allow(ctx, failConnect); ok && sleepCtx(ctx, d) {
				continue
			}
			h.upstreamFailed(w, st, err)
			return
		}
		// The deadlines are set before the abort is registered, so that an
		// abort that fires at once is not overwritten. One registration per
		// attempt covers the exchange and the body: a client that goes away
		// cuts the upstream wait at once.
		if cl == 0 {
			// A bodiless request is one small write: the read timeout covers it.
			conn.SetDeadline(rt.capDeadline(start.Add(svc.ReadTimeout)))
		} else {
			conn.SetWriteDeadline(rt.capDeadline(start.Add(svc.WriteTimeout)))
		}
		uc := conn
		stop = context.AfterFunc(ctx, func() { uc.SetDeadline(aLongTimeAgo) })
		head, err = h.exchange(ctx, conn, r, c, host, cl, src, replay, hdr, buf, &rt)
		if err == nil {
			if !h.retryStatus.has(head.status) {
				break
			}
			d, ok := rt.allow(ctx, failStatus)
			if !ok {
				break
			}
			// Retry on another target: the response is drained (or its
			// connection closed) and never reaches the client.
			lat := time.Since(start)
			target.End(upstream.Outcome{Status: head.status, Latency: lat})
			st.addTry(target, lat, head.status, tryStatus)
			c.Upstream = plugin.UpstreamResult{Addr: target.Addr, Status: head.status, Latency: lat, Tries: tries}
			h.discardResponse(st, conn, head, stop, buf, svc.ReadTimeout)
			clear(hdr)
			if sleepCtx(ctx, d) {
				continue
			}
			h.upstreamFailed(w, st, ctx.Err())
			return
		}
		stop()
		conn.Discard()
		clear(hdr)
		kind, outcome := failureKind(err)
		target.End(failureOutcome(ctx, err))
		st.addTry(target, time.Since(start), 0, outcome)
		c.Upstream = failedResult(target, err, tries)
		// A kept-alive connection the upstream closed while it sat idle
		// fails before any response byte; resend when nothing of the
		// client's body was consumed. This predates retries and is not
		// limited by the budget.
		if conn.Reused && rt.idem && cl == 0 && nothingReceived(err) && tries <= svc.Retries+1 && ctx.Err() == nil {
			continue
		}
		if d, ok := rt.allow(ctx, kind); ok && sleepCtx(ctx, d) {
			continue
		}
		h.upstreamFailed(w, st, err)
		return
	}
	now := time.Now()
	st.upLatency = now.Sub(start)
	st.upStatus = head.status
	st.addTry(target, st.upLatency, head.status, tryResponse)
	c.Upstream = plugin.UpstreamResult{Addr: target.Addr, Status: head.status, Latency: st.upLatency, Tries: tries}

	body := &st.body
	initBody(body, conn, head, svc.ReadTimeout, now)
	if !rt.deadline.IsZero() {
		// The read deadline may be the request's: from here the body is
		// bounded by read_timeout between reads, renewed on the first read.
		body.renewAt = now
	}
	berr := h.respond(w, st, route, head.status, body, head.contentLength < 0, buf, svc.ReadTimeout)
	if !stop() {
		// The client went away and the abort already ran (or is running):
		// the connection's deadline is spent, so it must not be reused.
		body.reusable = false
	}
	body.finish()
	if berr != nil {
		target.End(failureOutcome(ctx, berr))
		st.tries[len(st.tries)-1].Outcome = tryError
		c.Upstream = failedResult(target, berr, tries)
		return
	}
	target.End(upstream.Outcome{Status: head.status, Latency: st.upLatency})
	if body.trailer != nil {
		for k, vs := range body.trailer {
			hdr[http.TrailerPrefix+k] = vs
		}
	}
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
func (h *Handler) discardResponse(st *reqState, conn *upstream.Conn, head upstreamHead, stop func() bool, buf []byte, readTimeout time.Duration) {
	body := &st.body
	now := time.Now()
	initBody(body, conn, head, readTimeout, now)
	if head.chunked || (head.contentLength > 0 && head.contentLength <= drainLimit) {
		// A short wait: the body of an error page follows its head at once.
		conn.SetReadDeadline(now.Add(min(readTimeout, drainTimeout)))
		body.renewAt = now.Add(time.Hour)
		for n := 0; n <= drainLimit; {
			m, err := body.Read(buf)
			n += m
			if err != nil {
				break
			}
		}
	}
	if !stop() {
		body.reusable = false
	}
	body.finish()
	*body = bodyReader{}
}

// exchange writes the request and reads the response head.
// The caller has set the deadlines and registered the client-disconnect
// abort on conn. The body is replay when that is not nil, else src.
func (h *Handler) exchange(ctx context.Context, conn *upstream.Conn, r *http.Request, c *plugin.Ctx, host string,
	cl int64, src io.Reader, replay []byte, hdr http.Header, buf []byte, rt *retrier) (upstreamHead, error) {
	writeHead(conn.W, c.Method, c.Path, c.RawQuery, host, r.Header, cl, "")
	var err error
	if cl != 0 {
		if replay != nil {
			if _, err = conn.W.Write(replay); err == nil {
				err = conn.W.Flush()
			}
		} else {
			err = writeBody(conn.W, src, cl, buf)
		}
		conn.SetReadDeadline(rt.capDeadline(time.Now().Add(rt.svc.ReadTimeout)))
		if ctx.Err() != nil {
			// The abort may have run before the line above undid it.
			conn.SetReadDeadline(aLongTimeAgo)
		}
	} else {
		err = conn.W.Flush()
	}
	if err != nil {
		var cb *errClientBody
		if errors.As(err, &cb) {
			return upstreamHead{}, err
		}
		// The upstream may have answered early (413, 401) and closed;
		// read that answer if it is there.
		head, rerr := readHead(conn.R, hdr, headRequest{noBody: c.Method == http.MethodHead, maxBytes: h.opts.MaxResponseHeaderBytes})
		if rerr == nil {
			head.close = true
			return head, nil
		}
		return upstreamHead{}, err
	}
	return readHead(conn.R, hdr, headRequest{noBody: c.Method == http.MethodHead, maxBytes: h.opts.MaxResponseHeaderBytes})
}

// respond runs the header and body filters and streams the body to the
// client. Bodies of unknown length are flushed whenever the upstream has
// nothing more buffered, so server-sent events and long polls are not held.
//
// The status and header go to net/http only once the first read of the
// body has returned: net/http sends nothing before the first body bytes
// anyway, so this costs no latency, and a body that fails before its
// first byte (a bad first chunk size, EOF inside a Content-Length body) is
// answered with a gateway error instead of a connection closed on an
// empty reply. That error is returned, for the caller's bookkeeping; it
// is nil when the response went to the client, whole or cut short.
func (h *Handler) respond(w *countingWriter, st *reqState, route *snapshot.Route, status int, body io.Reader,
	stream bool, buf []byte, readTimeout time.Duration) error {
	c := &st.Ctx
	c.Resp.Status = status
	c.Resp.FromUpstream = true
	h.headerFilters(st, route)
	hdr := w.Header()
	if ck := st.pick.SetCookie; ck != nil {
		// A cookie-hashing balancer chose for a client without the cookie:
		// hand it out so the client sticks to that target.
		hdr.Add("Set-Cookie", ck.String())
	}
	vals := new([4]string) // one allocation for the four values below
	if via := hdr["Via"]; len(via) > 0 {
		vals[0] = joinComma(via) + ", " + h.via
	} else {
		vals[0] = h.via
	}
	hdr["Via"] = vals[0:1:1]
	vals[1] = c.RequestID
	hdr[h.opts.RequestIDHeader] = vals[1:2:2]
	upMs := st.upLatency.Milliseconds()
	vals[2] = strconv.FormatInt(upMs, 10)
	hdr["X-Turnpike-Upstream-Latency"] = vals[2:3:3]
	vals[3] = strconv.FormatInt(max(time.Since(c.StartedAt).Milliseconds()-upMs, 0), 10)
	hdr["X-Turnpike-Proxy-Latency"] = vals[3:4:4]
	if _, ok := hdr["Content-Type"]; !ok {
		// Kong and NGINX add no type to a response that has none; net/http
		// would sniff the body and call an uploaded page text/html, even
		// with X-Content-Type-Options: nosniff. A present but nil entry is
		// net/http's way to send none.
		hdr["Content-Type"] = nil
	}
	var src io.Reader = body
	for i := range route.Chain.Body {
		if inst := route.Chain.Body[i].Resolve(c); inst != nil {
			src = inst.(plugin.BodyFilter).BodyFilter(c, src)
		}
	}
	if st.Req.Method == http.MethodHead {
		w.WriteHeader(c.Resp.Status)
		return nil
	}
	var rc *http.ResponseController
	for first := true; ; first = false {
		n, err := src.Read(buf)
		if first {
			if n == 0 && err != nil && err != io.EOF {
				err = fmt.Errorf("upstream body: %w", err)
				clear(hdr)
				st.filtered = false
				c.Resp.FromUpstream = false
				h.upstreamFailed(w, st, err)
				return err
			}
			w.WriteHeader(c.Resp.Status)
		}
		if n > 0 {
			if !first {
				// Past the first write the kernel buffer may be full: a
				// client that stops reading must not hold us forever.
				if rc == nil {
					rc = http.NewResponseController(w)
				}
				rc.SetWriteDeadline(time.Now().Add(readTimeout))
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				st.errText = "client write: " + werr.Error()
				return nil
			}
			if stream {
				if br, ok := body.(*bodyReader); !ok || br.conn == nil || br.conn.R.Buffered() == 0 {
					if rc == nil {
						rc = http.NewResponseController(w)
					}
					rc.Flush()
				}
			}
		}
		if err == io.EOF {
			if !stream && len(hdr["Content-Length"]) > 0 {
				// The whole body is in hand: send it now rather than after
				// the handler's bookkeeping (pool release, log phase, access
				// log), which then runs while the client reads. With the
				// length declared this is still the one write net/http
				// would have made when the handler returned.
				if ferr := flushClient(w); ferr != nil {
					st.errText = "client write: " + ferr.Error()
				}
			}
			return nil
		}
		if err != nil {
			st.errText = "upstream body: " + err.Error()
			// The client response must be cut, so that a truncated body
			// cannot pass for a complete one. What was read goes out
			// first (net/http would drop what it holds), so the client
			// sees where the body broke off, when its framing shows the
			// cut: a declared length or chunked, not a close-delimited
			// HTTP/1.0 body.
			if len(hdr["Content-Length"]) > 0 || st.Req.ProtoAtLeast(1, 1) {
				flushClient(w)
			}
			st.abort = true
			return nil
		}
	}
}

// flushClient sends what the client response has buffered. It asks the
// net/http writer directly, which http.NewResponseController would find
// too, at the cost of an allocation per request.
func flushClient(w *countingWriter) error {
	switch f := w.ResponseWriter.(type) {
	case interface{ FlushError() error }:
		return f.FlushError()
	case http.Flusher:
		f.Flush()
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// upstreamFailed renders an error for a failed upstream attempt.
func (h *Handler) upstreamFailed(w *countingWriter, st *reqState, err error) {
	st.errText = err.Error()
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
		h.exit(w, st, plugin.NewExit(http.StatusGatewayTimeout, msgTimeout))
	default:
		// Refused, reset, or an unreadable response (errBadResponse).
		h.exit(w, st, plugin.NewExit(http.StatusBadGateway, msgBadGateway))
	}
}

// freshIdle is how long a pooled connection may have been idle and still
// carry a request that must not be resent.
const freshIdle = 2 * time.Second

// invalidRequestLine refuses to write a request line or Host that a plugin
// filled with bytes that would split the request upstream.
func (h *Handler) invalidRequestLine(w *countingWriter, st *reqState) {
	st.errText = "invalid upstream request line or Host (control characters)"
	h.opts.Logger.Error("refusing to send an invalid request line upstream", "request_id", st.RequestID)
	h.exit(w, st, plugin.NewExit(http.StatusInternalServerError, msgUnexpected))
}

// failedResult describes a failed attempt for log-phase plugins.
func failedResult(t *upstream.Target, err error, tries int) plugin.UpstreamResult {
	return plugin.UpstreamResult{Addr: t.Addr, Failed: true, TimedOut: isTimeout(err), Tries: tries}
}

// failureOutcome classifies a failed attempt for passive health checks. An
// attempt cut short because the client went away says nothing about the
// target, so it is reported as neutral rather than as a timeout.
func failureOutcome(ctx context.Context, err error) upstream.Outcome {
	if ctx.Err() == context.Canceled {
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
