package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// respond runs the header and body filters and streams the body of a's
// response to the client. The status comes from the caller, not from the
// record, which names no answer before the attempt is marked responded.
// Bodies of unknown length are flushed whenever the upstream has nothing
// more buffered, so server-sent events and long polls are not held.
//
// The status and header go to net/http only once the first read of the
// body has returned: net/http sends nothing before the first body bytes
// anyway, so this costs no latency, and a body that fails before its
// first byte (a bad first chunk size, EOF inside a Content-Length body) is
// answered with a gateway error instead of a connection closed on an
// empty reply. That error is returned, for the caller's bookkeeping; it
// is nil when the response went to the client, whole or cut short.
func (h *Handler) respond(x *exchange, a *attempt, status int, body io.Reader, stream bool) error {
	st, w := x.st, x.w
	c := &st.Ctx
	c.Resp.Status = status
	c.Resp.FromUpstream = true
	if h.fallback(w, st) {
		// The upstream's body is left unread: its connection is not
		// reused.
		return nil
	}
	h.headerFilters(st)
	h.responseHeaders(st, a, w.Header())
	src := h.bodyFilters(st, body)
	if st.Req.Method == http.MethodHead {
		w.WriteHeader(c.Resp.Status)
		return nil
	}
	return h.stream(x, src, body, stream)
}

// responseHeaders sets the gateway's headers on the response of a.
func (h *Handler) responseHeaders(st *reqState, a *attempt, hdr http.Header) {
	c := &st.Ctx
	if ck := st.pick.SetCookie; ck != nil {
		// A cookie-hashing balancer chose for a client without the cookie:
		// hand it out so the client sticks to that target.
		hdr.Add("Set-Cookie", ck.String())
	}
	vals := &st.respVals // the four values below, in the request state
	if via := hdr["Via"]; len(via) > 0 {
		vals[0] = joinComma(via) + ", " + h.via
	} else {
		vals[0] = h.via
	}
	hdr["Via"] = vals[0:1:1]
	vals[1] = c.RequestID
	hdr[h.opts.RequestIDHeader] = vals[1:2:2]
	upMs := a.rec().Head.Milliseconds()
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
}

// stream copies src (the filtered body) to the client; body is the
// upstream's own reader, asked whether more is buffered.
func (h *Handler) stream(x *exchange, src, body io.Reader, stream bool) error {
	st, w, buf := x.st, x.w, x.buf
	c := &st.Ctx
	hdr := w.Header()
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
				rc.SetWriteDeadline(time.Now().Add(x.svc.ReadTimeout))
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				st.rec.Error = "client write: " + werr.Error()
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
			// The whole body is in hand: send it now rather than after the
			// handler's bookkeeping (pool release, log phase, access log),
			// which then runs while the client reads. With the length
			// declared this is still the one write net/http would have
			// made when the handler returned. A body with a trailer must
			// go out too: both HTTP/1 servers give a body the handler
			// finished unflushed within 2 KiB a length, and with it no
			// trailer, when the last read that flushed had the end of the
			// body still to come (an empty body, a last chunk split
			// across reads).
			if (!stream && len(hdr["Content-Length"]) > 0) || (len(c.Resp.Trailer) > 0 && st.Req.ProtoAtLeast(1, 1)) {
				if ferr := flushClient(w); ferr != nil {
					st.rec.Error = "client write: " + ferr.Error()
				}
			}
			return nil
		}
		if err != nil {
			st.rec.Error = "upstream body: " + err.Error()
			if grpcResponse(st.grpc, hdr) {
				endGRPC(hdr, err)
				return nil
			}
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
