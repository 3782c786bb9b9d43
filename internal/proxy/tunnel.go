package proxy

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// tunnelTransport proxies a protocol upgrade (WebSocket): the handshake
// goes upstream like any request, over a connection of its own; on 101
// both connections are spliced until one side closes or neither sends
// anything for the idle timeout, which is the service's read_timeout (so
// `read_timeout: 86400000` is NGINX's `proxy_read_timeout 86400`). A
// handshake that reached the upstream is not sent again.
type tunnelTransport struct{}

func (tunnelTransport) prepare(h *Handler, x *exchange) bool {
	c := &x.st.Ctx
	x.host = upstreamHost(c, x.st.route, x.svc)
	if !validRequestLine(c.Method, c.Path, c.RawQuery, x.host) {
		h.invalidRequestLine(x.w, x.st)
		return false
	}
	return true
}

func (tunnelTransport) roundTrip(h *Handler, x *exchange, a *attempt, ct time.Duration) (int, retryFailure, error) {
	c := &x.st.Ctx
	conn, err := a.target.Pool.Dial(x.st.Req.Context(), ct)
	if err != nil {
		return 0, failConnect, err
	}
	a.connected()
	conn.SetDeadline(time.Now().Add(x.svc.ReadTimeout))
	writeHead(conn.W, c.Method, c.Path, c.RawQuery, x.host, x.st.Req.Header, 0, x.upgrade)
	hdr := x.w.Header()
	var head upstreamHead
	if err = conn.W.Flush(); err == nil {
		head, err = readHead(conn.R, hdr, headRequest{websocket: true, maxBytes: h.opts.MaxResponseHeaderBytes})
	}
	if err != nil {
		conn.Discard()
		clear(hdr)
		return 0, failureKind(err), err
	}
	a.head()
	x.conn, x.head = conn, head
	return head.status, 0, nil
}

func (tunnelTransport) discard(h *Handler, x *exchange) { x.conn.Discard() }

func (tunnelTransport) respond(h *Handler, x *exchange, a *attempt, status int) (int64, error) {
	defer x.conn.Discard()
	if !x.head.upgrade {
		// The upstream declined; relay its answer as a plain response,
		// framed as the upstream framed it.
		body := &x.st.body
		initBody(body, x.conn, x.head, x.svc.ReadTimeout, time.Now())
		body.resp = &x.st.Resp
		// The deadline in force is the handshake's: renew it on the first read.
		body.renewAt = time.Now()
		return body.read, h.respond(x, a, status, body, x.head.contentLength < 0)
	}
	a.upgraded()
	return h.splice(x), nil
}

// splice answers 101 and relays both directions until the tunnel ends;
// it returns the bytes sent to the client.
func (h *Handler) splice(x *exchange) int64 {
	st, w, conn := x.st, x.w, x.conn
	st.Resp.Status = x.head.status
	st.Resp.FromUpstream = true
	h.headerFilters(st)
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		st.rec.Error = "hijack: " + err.Error()
		return 0
	}
	defer client.Close()
	hdr := w.Header()
	hdr["Connection"] = []string{"Upgrade"}
	hdr["Upgrade"] = []string{x.upgrade}
	hdr[h.opts.RequestIDHeader] = []string{st.RequestID}
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	hdr.Write(brw)
	brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		return 0
	}
	idle := x.svc.ReadTimeout
	conn.SetDeadline(time.Time{})
	var wg sync.WaitGroup
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var down int64
	wg.Add(2)
	go func() {
		defer wg.Done()
		splice(conn.Conn, client, brw.Reader, make([]byte, 32<<10), idle, &last)
	}()
	go func() {
		defer wg.Done()
		// The exchange's pooled buffer, held for the tunnel's life anyway
		// (forward returns it after this): one buffer fewer to allocate.
		down = splice(client, conn.Conn, conn.R, x.buf, idle, &last)
	}()
	wg.Wait()
	w.n += down
	return down
}

// splice copies src (read through its buffered reader, into buf) to dst
// until EOF, an error, or until neither direction has moved a byte for
// idle; then it closes both connections so the other direction ends too.
func splice(dst, src net.Conn, br *bufio.Reader, buf []byte, idle time.Duration, last *atomic.Int64) int64 {
	defer dst.Close()
	defer src.Close()
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
