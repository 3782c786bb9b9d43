package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The own HTTP/1.x server path: one goroutine per connection reads a
// request head into a pooled buffer, parses it in place (h1parse.go) into
// the connection's reused *http.Request, calls the handler on that
// goroutine and writes the answer through h1Writer (h1writer.go). Nothing
// is handed to another goroutine and no context is made per request. An
// idle plain-TCP connection holds no buffer: it waits for readability and
// takes a buffer from the pool only when there is something to read.

const (
	readBufSize = 4 << 10
	// maxDrain is how much of a body the handler left unread is read and
	// dropped to keep the connection (net/http's maxPostHandlerReadBytes).
	maxDrain = 256 << 10
)

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

type connState int32

const (
	stateIdle connState = iota // waiting for a head, nothing buffered
	stateActive
)

type h1Conn struct {
	srv   *h1Server
	ln    *h1Listener
	nc    net.Conn
	raw   syscall.RawConn // nil for TLS
	tls   *tls.ConnectionState
	state atomic.Int32

	bufp *[]byte // the read buffer while held
	buf  []byte
	r, w int // unread bytes are buf[r:w]
	scan int // bytes of buf[r:w] searched for the head's end

	req      *http.Request
	hdr      http.Header
	remote   string
	parser   h1Parser
	head     h1Head
	lastPost bool

	cl    clBody
	ch    chunkedBody
	cont  continueReader
	body  io.ReadCloser // the request's own body reader (cl, ch or NoBody)
	rw    h1Writer
	err   error // a read error of the connection, sticky
	hijak bool

	// idleUntil is the read deadline set for the idle wait; deadlineSet
	// says someone (a handler, a body read) set another one since.
	idleUntil   time.Time
	deadlineSet bool
	readFn      func(fd uintptr) bool
	rn          int
	rerr        error
}

func newH1Conn(s *h1Server, nc net.Conn, ctx context.Context) *h1Conn {
	c := &h1Conn{srv: s, nc: nc, hdr: make(http.Header)}
	if tc, ok := nc.(*net.TCPConn); ok {
		c.raw, _ = tc.SyscallConn()
	}
	if tc, ok := nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		c.tls = &st
	}
	c.req = (&http.Request{}).WithContext(ctx)
	c.remote = nc.RemoteAddr().String()
	c.rw.c = c
	c.rw.hdr = make(http.Header)
	c.cl.c, c.ch.c, c.cont.c = c, c, c
	c.readFn = c.rawRead
	return c
}

func (c *h1Conn) serve() {
	defer c.srv.done(c)
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.errorLog.Printf("http: panic serving %v: %v\n%s", c.nc.RemoteAddr(), p, buf)
			}
			if !c.hijak {
				c.rw.flushCommitted()
				c.nc.Close()
			}
		}
	}()
	for first := true; ; first = false {
		if !c.readHead(first) {
			break
		}
		if c.hijak {
			return
		}
		if !c.serveOne() {
			break
		}
	}
	if !c.hijak {
		c.closeGracefully()
	}
}

// readHead reads until a whole head is buffered and parses it. It returns
// false when the connection is to be closed (and has answered, if a
// request deserved an answer).
func (c *h1Conn) readHead(first bool) bool {
	if c.r == c.w {
		c.state.Store(int32(stateIdle))
		if c.srv.closing.Load() {
			return false
		}
		c.releaseBuf()
		if !c.idleDeadline() || !c.waitData() {
			return false
		}
	}
	c.state.Store(int32(stateActive))
	// After a POST, up to 4 CR or LF bytes before the head are skipped, as
	// they arrive: RFC 9112 2.2 tolerance for old clients, as net/http has it.
	skip := 0
	if c.lastPost {
		skip = 4
	}
	limit := c.srv.limits.MaxHeaderBytes + 4096
	headerDeadline := false
	c.scan = 0
	for {
		for ; skip > 0 && c.r < c.w; skip-- {
			if b := c.buf[c.r]; b != '\r' && b != '\n' {
				skip = 0
				break
			}
			c.r++
		}
		if end := c.headEnd(); end > 0 {
			if end > limit {
				c.refuse(http.StatusRequestHeaderFieldsTooLarge)
				return false
			}
			b := c.buf[c.r : c.r+end]
			if first && len(b) >= len(h2cPreface)-6 && string(b[:16]) == h2cPreface[:16] {
				c.srv.handOff(c, c.buf[c.r:c.w])
				return true
			}
			c.r += end
			return c.parse(b)
		}
		if c.w-c.r >= limit {
			c.refuse(http.StatusRequestHeaderFieldsTooLarge)
			return false
		}
		if !headerDeadline && c.srv.limits.ReadHeaderTimeout > 0 {
			headerDeadline = true
			c.setReadDeadline(time.Now().Add(c.srv.limits.ReadHeaderTimeout))
		}
		if err := c.fill(limit); err != nil {
			// A client that ends its stream inside a head gets 400; one that
			// sends it too slowly, or whose connection fails, is closed
			// without an answer, as net/http does.
			if err == io.EOF && c.r < c.w {
				c.refuse(http.StatusBadRequest)
			}
			return false
		}
	}
}

const h2cPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// headEnd returns the length of the head buffered at buf[r:], blank line
// included, or 0.
func (c *h1Conn) headEnd() int {
	b := c.buf[c.r:c.w]
	for i := max(c.scan-2, 0); i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
	c.scan = len(b)
	return 0
}

// parse fills the request from a head and checks it; b is the head in the
// read buffer.
func (c *h1Conn) parse(b []byte) bool {
	if hasBareCR(b) {
		c.refuse(http.StatusBadRequest)
		return false
	}
	r := c.req
	resetRequest(r)
	clear(c.hdr)
	r.Header = c.hdr
	a := arenas.Get().(*arena)
	c.parser.parse(a, a.copyString(b), r, &c.head)
	arenas.Put(a)
	if c.head.status != 0 {
		c.refuse(c.head.status)
		return false
	}
	c.lastPost = r.Method == http.MethodPost
	r.RemoteAddr = c.remote
	r.TLS = c.tls
	switch n := c.head.contentLength; {
	case n == 0:
		c.body = http.NoBody
	case n > 0:
		c.cl.remain, c.cl.err = n, nil
		c.body = &c.cl
	default:
		c.ch.reset()
		c.body = &c.ch
	}
	r.Body = c.body
	if c.head.continue100 {
		c.cont.sent = false
		r.Body = &c.cont
	}
	return true
}

// serveOne runs the handler on the parsed request and finishes the
// exchange; it returns whether the connection serves another request.
func (c *h1Conn) serveOne() bool {
	s := c.srv
	s.stats.Busy.Add(1)
	c.rw.reset(c.req, c.head.close || s.closing.Load())
	s.handler.ServeHTTP(&c.rw, c.req)
	s.stats.Busy.Add(-1)
	if c.hijak {
		return false
	}
	if !c.rw.finish() {
		return false
	}
	if c.rw.closeAfter || c.head.close || c.err != nil {
		return false
	}
	return c.drainBody()
}

// drainBody reads what the handler left of the request body, up to
// maxDrain, so that the connection can serve the next request.
func (c *h1Conn) drainBody() bool {
	if c.body == http.NoBody {
		return true
	}
	if c.head.continue100 && !c.cont.sent {
		// The client holds its body back until 100 Continue.
		return false
	}
	var budget int64 = maxDrain
	switch b := c.body.(type) {
	case *clBody:
		if b.remain > budget || b.err != nil && b.err != io.EOF {
			return b.remain == 0 && b.err == io.EOF
		}
	case *chunkedBody:
		if b.err != nil {
			return b.err == io.EOF
		}
	}
	var scratch [512]byte
	for budget > 0 {
		n, err := c.body.Read(scratch[:])
		budget -= int64(n)
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// refuse answers a request the server will not serve, in Kong's error
// format, and closes after the client had a moment to read it.
func (c *h1Conn) refuse(status int) {
	c.nc.SetWriteDeadline(time.Now().Add(rejectWriteTimeout))
	c.nc.Write(refusals[status])
}

// closeGracefully closes the write side first and reads what the client is
// still sending for a moment: closing with unread data makes TCP send a
// reset that can destroy the answer.
func (c *h1Conn) closeGracefully() {
	c.releaseBuf()
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		c.nc.SetReadDeadline(time.Now().Add(rejectLinger))
		var scratch [512]byte
		for n := 0; n < rejectDrainBytes; {
			k, err := c.nc.Read(scratch[:])
			n += k
			if err != nil {
				break
			}
		}
	}
	c.nc.Close()
}

// idleDeadline sets the keep-alive idle timeout before the wait for the
// next head. A deadline set in the last second is kept: a read deadline
// costs a timer update, and the idle timeout is coarse.
func (c *h1Conn) idleDeadline() bool {
	d := c.srv.limits.IdleTimeout
	if d <= 0 {
		d = c.srv.limits.ReadHeaderTimeout
	}
	if d <= 0 {
		if c.deadlineSet {
			c.deadlineSet = false
			c.nc.SetReadDeadline(time.Time{})
		}
		return true
	}
	now := time.Now()
	if !c.deadlineSet && c.idleUntil.Sub(now) > d-time.Second {
		return true
	}
	c.idleUntil = now.Add(d)
	c.deadlineSet = false
	return c.nc.SetReadDeadline(c.idleUntil) == nil
}

func (c *h1Conn) setReadDeadline(t time.Time) error {
	c.deadlineSet = true
	return c.nc.SetReadDeadline(t)
}

// waitData waits until the connection has bytes and reads them into a
// pooled buffer; on plain TCP without holding a buffer while it waits.
func (c *h1Conn) waitData() bool {
	if c.raw == nil {
		c.takeBuf()
		n, err := c.nc.Read(c.buf)
		c.r, c.w = 0, n
		if n == 0 {
			c.noteErr(err)
			return false
		}
		return true
	}
	c.rn, c.rerr = 0, nil
	if err := c.raw.Read(c.readFn); err != nil {
		c.noteErr(err)
		return false
	}
	if c.rn <= 0 {
		c.noteErr(c.rerr)
		return false
	}
	c.r, c.w = 0, c.rn
	return true
}

// rawRead is called by the poller when the socket may be readable: it
// reads into a buffer from the pool, which it returns if nothing came.
func (c *h1Conn) rawRead(fd uintptr) bool {
	c.takeBuf()
	for {
		n, err := syscall.Read(int(fd), c.buf)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			c.releaseBuf()
			return false
		}
		c.rn, c.rerr = n, err
		if n == 0 && err == nil {
			c.rerr = io.EOF
		}
		return true
	}
}

func (c *h1Conn) noteErr(err error) {
	if err == nil {
		err = io.EOF
	}
	if c.err == nil {
		c.err = err
	}
}

func (c *h1Conn) takeBuf() {
	if c.bufp == nil {
		c.bufp = readBufs.Get().(*[]byte)
		c.buf = *c.bufp
	}
}

func (c *h1Conn) releaseBuf() {
	if c.bufp != nil && c.r == c.w {
		if len(c.buf) == readBufSize {
			readBufs.Put(c.bufp)
		}
		c.bufp, c.buf, c.r, c.w = nil, nil, 0, 0
	}
}

// fill reads more into the buffer, growing it up to limit bytes unread.
func (c *h1Conn) fill(limit int) error {
	if c.err != nil {
		return c.err
	}
	c.takeBuf()
	if c.r > 0 && c.w == len(c.buf) {
		c.scan -= c.r
		copy(c.buf, c.buf[c.r:c.w])
		c.w -= c.r
		c.r = 0
	}
	if c.w == len(c.buf) {
		nb := make([]byte, min(2*len(c.buf), limit+readBufSize))
		copy(nb, c.buf[c.r:c.w])
		if len(c.buf) == readBufSize {
			readBufs.Put(c.bufp)
		}
		c.w -= c.r
		c.scan -= c.r
		c.r = 0
		c.buf = nb
		c.bufp = &c.buf
	}
	n, err := c.nc.Read(c.buf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	c.noteErr(err)
	return c.err
}

// readBody reads request body bytes: buffered ones first, then straight
// into p.
func (c *h1Conn) readBody(p []byte) (int, error) {
	if c.r < c.w {
		n := copy(p, c.buf[c.r:c.w])
		c.r += n
		return n, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.nc.Read(p)
	if n == 0 {
		c.noteErr(err)
		return 0, c.err
	}
	return n, nil
}

// byte1 reads one byte of chunked framing.
func (c *h1Conn) byte1() (byte, error) {
	if c.r == c.w {
		c.r, c.w = 0, 0
		if err := c.fill(readBufSize); err != nil {
			return 0, err
		}
	}
	b := c.buf[c.r]
	c.r++
	return b, nil
}

// hijack hands the connection and what is buffered to the handler.
func (c *h1Conn) hijack() (net.Conn, *bufio.ReadWriter, error) {
	if c.hijak {
		return nil, nil, http.ErrHijacked
	}
	c.hijak = true
	c.srv.hijacked(c)
	var rd io.Reader = c.nc
	if c.r < c.w {
		rd = io.MultiReader(&onceReader{b: append([]byte(nil), c.buf[c.r:c.w]...)}, c.nc)
	}
	c.r, c.w = 0, 0
	c.releaseBuf()
	c.rw.flushCommitted()
	return c.nc, bufio.NewReadWriter(bufio.NewReader(rd), bufio.NewWriter(c.nc)), nil
}

type onceReader struct{ b []byte }

func (o *onceReader) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, o.b)
	o.b = o.b[n:]
	return n, nil
}

func hasBareCR(b []byte) bool {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\r')
		if j < 0 {
			return false
		}
		i += j + 1
		if i == len(b) || b[i] != '\n' {
			return true
		}
	}
	return false
}

// resetRequest clears what a previous request left in r, keeping its
// context (the connection's).
func resetRequest(r *http.Request) {
	r.Method, r.URL, r.Proto, r.ProtoMajor, r.ProtoMinor = "", nil, "", 0, 0
	r.Header, r.Body, r.GetBody, r.ContentLength, r.TransferEncoding = nil, nil, nil, 0, nil
	r.Close, r.Host, r.Form, r.PostForm, r.MultipartForm, r.Trailer = false, "", nil, nil, nil, nil
	r.RemoteAddr, r.RequestURI, r.TLS, r.Cancel, r.Response, r.Pattern = "", "", nil, nil, nil, ""
}

// refusals are the whole answers to refused requests.
var refusals = map[int][]byte{
	http.StatusBadRequest:                  refusal(400, "Bad Request", "Bad request"),
	http.StatusExpectationFailed:           refusal(417, "Expectation Failed", "Expectation failed"),
	http.StatusRequestHeaderFieldsTooLarge: refusal(431, "Request Header Fields Too Large", "Request header fields too large"),
	http.StatusNotImplemented:              refusal(501, "Not Implemented", "Not implemented"),
	http.StatusHTTPVersionNotSupported:     refusal(505, "HTTP Version Not Supported", "HTTP version not supported"),
}

func refusal(code int, reason, message string) []byte {
	body := `{"message":"` + message + `"}`
	return []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + reason + "\r\n" +
		"Content-Type: application/json; charset=utf-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Connection: close\r\n\r\n" + body)
}
