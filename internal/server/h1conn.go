package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/turnpikegw/turnpike/internal/clock"
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
	// Unless the handler set a read deadline, that drain gives up when
	// no byte came for drainTimeout or after drainMax in all: a client
	// that stalls or trickles its body does not hold the answer (and the
	// connection) for ever; the connection closes after the answer instead.
	drainTimeout = 5 * time.Second
	drainMax     = 30 * time.Second
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

	// idleUntil is when the idle wait times out; deadline is the read
	// deadline the server set last (idle wait, head), and deadlineSet says
	// someone (a handler) set another one since. A body read clears the
	// server's: a request body has no deadline but the handler's.
	idleUntil   time.Time
	deadline    time.Time
	deadlineSet bool
	draining    bool // settleBody's drain runs (under bodyMu)
	served      int  // requests served

	// The background read of a long request (h1watch.go).
	ctx *connCtx // the requests' context
	// bodyMu orders the request body's reads, which may come from
	// another goroutine than the handler's, with the server's own use of
	// the body (settleBody, the 100 Continue) as the answer goes out.
	bodyMu    sync.Mutex
	ws        atomic.Int32
	seq       atomic.Uint64 // requests begun
	watchSeen uint64        // seq at the watchdog's last tick (its own)
	watchWG   sync.WaitGroup
	watchByte [1]byte
	waitByte  [1]byte // a fresh idle wait's first byte (waitData)
	watchN    int
	gone      error
	readFn    func(fd uintptr) bool
	rn        int
	rerr      error
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
	c.ctx = newConnCtx(ctx)
	c.req = (&http.Request{}).WithContext(c.ctx)
	c.remote = nc.RemoteAddr().String()
	c.rw.c = c
	c.rw.hdr = make(http.Header)
	c.cl.c, c.ch.c, c.cont.c = c, c, c
	c.readFn = c.rawRead
	return c
}

func (c *h1Conn) serve() { c.run(false) }

// run serves requests until the connection closes, or until it has been
// idle for probeIdle (moved: the wait is parked, or another goroutine
// takes it over). fresh says this goroutine was started for such a wait.
func (c *h1Conn) run(fresh bool) {
	moved := false
	defer func() {
		if !moved {
			c.srv.done(c)
		}
	}()
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.errorLog.Printf("http: panic serving %v: %v\n%s", c.nc.RemoteAddr(), p, buf)
			}
			if !c.hijak {
				// What went out as the answer's start goes out whole (the
				// proxy flushes a response it cuts, then aborts); a head
				// written at WriteHeader but never committed lacks its
				// framing and is dropped, as net/http drops it.
				if c.rw.committed {
					c.rw.flushCommitted()
				}
				c.nc.Close()
			}
		}
	}()
	for {
		switch c.readHead(fresh) {
		case headMoved:
			c.shed()
			c.srv.moved.Add(1)
			moved = true
			if !c.srv.park(c) {
				c.srv.resume(c)
			}
			return
		case headClose:
			c.closeGracefully()
			return
		}
		fresh = false
		if c.hijak {
			return
		}
		c.served++
		if !c.serveOne() {
			if !c.hijak {
				// A hijacked connection is the handler's, whatever it
				// does with it after returning.
				c.closeGracefully()
			}
			return
		}
	}
}

// shed drops what a connection keeps for its requests before a long idle
// wait; parse makes it again when the next request comes.
func (c *h1Conn) shed() {
	resetRequest(c.req)
	c.parser.url = url.URL{}
	c.hdr, c.rw.hdr, c.parser.vals, c.ch.line = nil, nil, nil, nil
}

type headResult uint8

const (
	headOK    headResult = iota
	headClose            // close the connection (an answer, if due, is out)
	headMoved            // idle for probeIdle: park, or continue on a fresh goroutine
)

// probeIdle is how long a connection waits for its next request on the
// goroutine that served the last one. Serving a proxied request grows a
// goroutine's stack to 16 KiB, which only a garbage collection shrinks; a
// connection idle for longer is parked without a goroutine
// (h1park_linux.go) or, where it cannot be, moves its wait to a new
// goroutine, whose stack is the runtime's smallest; the old one ends.
//
// When the listener has more than crowdedWaits connections on goroutines
// (not parked; a burst of connections), the first wait of a connection
// that can be parked (before or after its first request) probes for
// probeCrowded only: the runtime never frees a goroutine's descriptor
// (~450 B) once made, so the most goroutines ever alive at once is memory
// kept for good (bench/idle.sh, 10,000 connections opened in a second:
// 2.1 KB of RSS each with a 1 s probe, 1.5 KB with this). Later waits keep
// probeIdle, so that a keep-alive client whose requests come 100 ms to 1 s
// apart is not parked and resumed on every request.
const (
	probeIdle    = time.Second
	probeCrowded = 100 * time.Millisecond
	crowdedWaits = 1024
)

// readHead reads until a whole head is buffered and parses it.
func (c *h1Conn) readHead(fresh bool) headResult {
	if c.r == c.w {
		c.state.Store(int32(stateIdle))
		if c.srv.closing.Load() {
			return headClose
		}
		c.releaseBuf()
		if !fresh {
			// Let the other connections' ready requests run first: the
			// client's next request is then more often there when this one
			// reads, and a read that finds nothing (and the wait that
			// follows) is spared. With nothing else to run this returns at
			// once.
			runtime.Gosched()
		}
		if r := c.idleWait(fresh); r != headOK {
			return r
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
				return headClose
			}
			b := c.buf[c.r : c.r+end]
			// h2c by prior knowledge is for cleartext: over TLS, h2 is chosen
			// by ALPN, and the preface is refused as any HTTP/2.0 head is.
			if c.served == 0 && c.tls == nil && len(b) >= len(h2cPreface)-6 && string(b[:16]) == h2cPreface[:16] {
				c.srv.handOff(c, c.buf[c.r:c.w])
				return headOK
			}
			c.r += end
			if !c.parse(b) {
				return headClose
			}
			return headOK
		}
		if c.w-c.r >= limit {
			c.refuse(http.StatusRequestHeaderFieldsTooLarge)
			return headClose
		}
		if !headerDeadline && c.srv.limits.ReadHeaderTimeout > 0 {
			headerDeadline = true
			c.deadline = time.Now().Add(c.srv.limits.ReadHeaderTimeout)
			c.nc.SetReadDeadline(c.deadline)
		}
		if err := c.fill(limit); err != nil {
			// A client that ends its stream inside a head gets 400; one that
			// sends it too slowly, or whose connection fails, is closed
			// without an answer, as net/http does.
			if err == io.EOF && c.r < c.w {
				c.refuse(http.StatusBadRequest)
			}
			return headClose
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
	if c.hdr == nil {
		c.hdr, c.rw.hdr = make(http.Header), make(http.Header)
	}
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
		c.cont.done, c.cont.wrote = false, false
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
	c.seq.Add(1)
	if c.body == http.NoBody {
		c.bodyRead()
	}
	s.handler.ServeHTTP(&c.rw, c.req)
	s.stats.Busy.Add(-1)
	if c.hijak {
		return false
	}
	if !c.endWatch() {
		return false
	}
	if !c.rw.finish() {
		return false
	}
	if c.rw.fullDuplex && !c.settleBody() {
		return false
	}
	// A drain at the answer's end (or just now) read the body whole and
	// made the request watchable after its watch ended: the watchdog
	// would read the next request's first byte on an idle connection.
	if !c.endWatch() {
		return false
	}
	return !c.rw.closeAfter && !c.head.close && c.err == nil
}

// settleBody makes sure the request body will not be in the way of the
// next request, as net/http does before the answer's head goes out (after
// the handler returned when it enabled full duplex): it reads and drops
// what the handler left, up to maxDrain, within drainTimeout between
// bytes and drainMax in all unless the handler set a read deadline. It
// returns false when the connection cannot be reused: the body is larger
// than that, broken, too slow, or held back by a client still waiting for
// 100 Continue.
func (c *h1Conn) settleBody() bool {
	if c.body == http.NoBody {
		return true
	}
	if c.head.continue100 && !c.stopContinue() {
		return false
	}
	// The handler may have left a read of the body under way on another
	// goroutine: the body's state is looked at, and read, under bodyMu.
	c.bodyMu.Lock()
	switch b := c.body.(type) {
	case *clBody:
		if b.err != nil || b.remain > maxDrain {
			c.bodyMu.Unlock()
			return b.remain == 0 && b.err == io.EOF
		}
	case *chunkedBody:
		if b.err != nil {
			c.bodyMu.Unlock()
			return b.err == io.EOF
		}
	}
	// The drain's deadline is the server's own (c.deadline, which the
	// next request's body read clears as any); draining keeps the drain's
	// reads from clearing it.
	own := !c.deadlineSet
	c.draining = own
	c.bodyMu.Unlock()
	var scratch [512]byte
	var start, armed time.Time
	ok := false
	for budget := maxDrain; budget > 0; {
		if own {
			now := clock.Now()
			if start.IsZero() {
				start = now
			}
			if now.Sub(armed) >= drainTimeout/5 {
				armed = now
				c.bodyMu.Lock()
				c.deadline = now.Add(drainTimeout)
				if end := start.Add(drainMax); end.Before(c.deadline) {
					c.deadline = end
				}
				c.nc.SetReadDeadline(c.deadline)
				c.bodyMu.Unlock()
			}
		}
		n, err := c.body.Read(scratch[:])
		budget -= n
		if err != nil {
			ok = err == io.EOF
			break
		}
	}
	if own {
		c.bodyMu.Lock()
		c.draining = false
		if !ok && isTimeout(c.err) {
			// The client is slow, not gone: the connection closes after
			// the answer with the linger of closeGracefully, so that the
			// unread rest does not reset the answer away.
			c.err = nil
		}
		c.bodyMu.Unlock()
	}
	return ok
}

// refuse answers a request the server will not serve, in Kong's error
// format, and closes after the client had a moment to read it.
func (c *h1Conn) refuse(status int) {
	c.nc.SetWriteDeadline(time.Now().Add(rejectWriteTimeout))
	c.nc.Write(refusals[status])
}

// closeGracefully closes the connection. When the client may still be
// sending (a refused request, a body left unread), it closes the write side
// first and reads what comes for a moment, as net/http waits: closing with
// unread data makes TCP send a reset that can destroy the answer before the
// client read it.
func (c *h1Conn) closeGracefully() {
	c.r, c.w = 0, 0
	c.releaseBuf()
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && c.err == nil {
		cw.CloseWrite()
		c.nc.SetReadDeadline(time.Now().Add(rejectLinger))
		var scratch [512]byte
		for {
			if _, err := c.nc.Read(scratch[:]); err != nil {
				break
			}
		}
	}
	c.nc.Close()
}

// hijack hands the connection and what is buffered to the handler.
func (c *h1Conn) hijack() (net.Conn, *bufio.ReadWriter, error) {
	if c.hijak {
		return nil, nil, http.ErrHijacked
	}
	c.endWatch()
	c.hijak = true
	c.srv.hijacked(c)
	var rd io.Reader = c.nc
	if c.r < c.w {
		rd = io.MultiReader(bytes.NewReader(bytes.Clone(c.buf[c.r:c.w])), c.nc)
	}
	c.r, c.w = 0, 0
	c.releaseBuf()
	c.rw.flushCommitted()
	return c.nc, bufio.NewReadWriter(bufio.NewReader(rd), bufio.NewWriter(c.nc)), nil
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
	http.StatusBadRequest:                  badRequest,
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
