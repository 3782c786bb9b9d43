package proxy

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// tunnel proxies a protocol upgrade (WebSocket): the handshake goes
// upstream like any request; on 101 both connections are spliced until one
// side closes or neither sends anything for the idle timeout, which is the
// service's read_timeout (so `read_timeout: 86400000` is NGINX's
// `proxy_read_timeout 86400`).
func (h *Handler) tunnel(w *countingWriter, r *http.Request, st *reqState, route *snapshot.Route, svc *snapshot.Service, upgrade string) {
	c := &st.Ctx
	host := upstreamHost(c, route, svc)
	if !validRequestLine(c.Method, c.Path, c.RawQuery, host) {
		h.invalidRequestLine(w, st)
		return
	}
	target, err := svc.Balancer.Pick(h.pickRequest(st, nil))
	if err != nil {
		h.noPeer(w, st, svc, err)
		return
	}
	st.upstream = target.Addr
	start := time.Now()
	target.Begin()
	conn, err := target.Pool.Dial(r.Context(), svc.ConnectTimeout)
	if err != nil {
		target.End(failureOutcome(r.Context(), err))
		st.addTry(target, time.Since(start), 0, tryConnect)
		c.Upstream = failedResult(target, err, 1)
		h.upstreamFailed(w, st, err)
		return
	}
	defer conn.Discard()
	conn.SetDeadline(time.Now().Add(svc.ReadTimeout))
	writeHead(conn.W, c.Method, c.Path, c.RawQuery, host, r.Header, 0, upgrade)
	hdr := w.Header()
	var head upstreamHead
	if err = conn.W.Flush(); err == nil {
		head, err = readHead(conn.R, hdr, headRequest{websocket: true, maxBytes: h.opts.MaxResponseHeaderBytes})
	}
	if err != nil {
		clear(hdr)
		target.End(failureOutcome(r.Context(), err))
		_, outcome := failureKind(err)
		st.addTry(target, time.Since(start), 0, outcome)
		c.Upstream = failedResult(target, err, 1)
		h.upstreamFailed(w, st, err)
		return
	}
	st.upLatency = time.Since(start)
	st.upStatus = head.status
	st.addTry(target, st.upLatency, head.status, tryResponse)
	c.Upstream = plugin.UpstreamResult{Addr: target.Addr, Status: head.status, Latency: st.upLatency, Tries: 1}
	handshake := upstream.Outcome{Status: head.status, Latency: st.upLatency}
	if !head.upgrade {
		// The upstream declined; relay its answer as a plain response,
		// framed as the upstream framed it.
		body := &bodyReader{}
		initBody(body, conn, head, svc.ReadTimeout, time.Now())
		// The deadline in force is the handshake's: renew it on the first read.
		body.renewAt = time.Now()
		bufp := h.bufPool.Get().(*[]byte)
		defer h.bufPool.Put(bufp)
		if err := h.respond(w, st, route, head.status, body, head.contentLength < 0, *bufp, svc.ReadTimeout); err != nil {
			target.End(failureOutcome(r.Context(), err))
			st.tries[len(st.tries)-1].Outcome = tryError
			c.Upstream = failedResult(target, err, 1)
			return
		}
		target.End(handshake)
		for k, vs := range body.trailer {
			hdr[http.TrailerPrefix+k] = vs
		}
		return
	}
	// The handshake's outcome goes to passive health and the latency
	// average now; the tunnel stays counted in flight until it closes
	// (least-connections), and its end reports nothing more.
	target.Begin()
	target.End(handshake)
	defer target.End(upstream.Outcome{})
	st.Resp.Status = head.status
	st.Resp.FromUpstream = true
	h.headerFilters(st, route)
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		st.errText = "hijack: " + err.Error()
		return
	}
	defer client.Close()
	hdr["Connection"] = []string{"Upgrade"}
	hdr["Upgrade"] = []string{upgrade}
	hdr[h.opts.RequestIDHeader] = []string{c.RequestID}
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	hdr.Write(brw)
	brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		return
	}
	idle := svc.ReadTimeout
	conn.SetDeadline(time.Time{})
	var wg sync.WaitGroup
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var down int64
	wg.Add(2)
	go func() {
		defer wg.Done()
		splice(conn.Conn, client, brw.Reader, idle, &last)
	}()
	go func() {
		defer wg.Done()
		down = splice(client, conn.Conn, conn.R, idle, &last)
	}()
	wg.Wait()
	w.n += down
}

// splice copies src (read through its buffered reader) to dst until EOF,
// an error, or until neither direction has moved a byte for idle; then it
// closes both connections so the other direction ends too.
func splice(dst, src net.Conn, br *bufio.Reader, idle time.Duration, last *atomic.Int64) int64 {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	var total int64
	for {
		src.SetReadDeadline(time.Now().Add(idle))
		n, err := br.Read(buf)
		if n > 0 {
			last.Store(time.Now().UnixNano())
			dst.SetWriteDeadline(time.Now().Add(idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return total
			}
			total += int64(n)
		}
		if err != nil {
			if isTimeout(err) && time.Since(time.Unix(0, last.Load())) < idle {
				continue // the other direction is busy: the tunnel is not idle
			}
			return total
		}
	}
}
