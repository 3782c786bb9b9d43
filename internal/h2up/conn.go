package h2up

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Flow-control windows this client grants: a stream may have streamWindow
// bytes of DATA unread, a connection connWindow in all, which bounds what
// a connection can make the gateway hold.
const (
	streamWindow = 1 << 20
	connWindow   = 4 << 20
	// maxStreamsCap bounds the streams of one connection even when the
	// server allows more.
	maxStreamsCap = 1000
	// frameSize is the largest frame this client reads (the protocol's
	// default; it advertises no other).
	frameSize = 16 << 10
)

// conn is one HTTP/2 connection. Writes (whole requests, control frames)
// go out under wmu; mu guards the stream table, the windows and the
// settings the read loop applies.
type conn struct {
	c    *Client
	addr string
	nc   net.Conn
	rd   *http2.Framer

	wmu   sync.Mutex
	wbuf  []byte
	wr    *http2.Framer // writes into wbuf
	henc  *hpack.Encoder
	hbuf  []byte
	lower map[string]string // canonical header name -> its lowercase form

	mu         sync.Mutex
	streams    map[uint32]*stream
	nextID     uint32
	reserved   int // stream slots taken, streams open included
	maxStreams int
	sendWindow int64 // connection-level window for request DATA
	initWindow int64 // the server's initial stream window
	maxFrame   int
	maxHdrList uint32 // the server's MAX_HEADER_LIST_SIZE (0: none)
	recvWindow int64  // what the server may still send on the connection
	unacked    int64  // bytes read (or dropped) not yet given back to the server
	goAway     bool
	err        error // set once the connection is closed
	idleSince  time.Time
	idleTimer  *time.Timer

	settings chan struct{} // closed by the server's first SETTINGS
	closed   chan struct{} // closed by close
	gotFirst bool
	canon    map[string]string // lowercase response header name -> canonical (read loop only)
}

func newConn(c *Client, nc net.Conn, addr string) *conn {
	cn := &conn{c: c, addr: addr, nc: nc, streams: map[uint32]*stream{}, nextID: 1, maxStreams: maxStreamsCap,
		sendWindow: 65535, recvWindow: connWindow, initWindow: 65535, maxFrame: frameSize, settings: make(chan struct{}), closed: make(chan struct{}),
		lower: map[string]string{}, canon: map[string]string{}}
	cn.rd = http2.NewFramer(nil, bufio.NewReaderSize(nc, 32<<10))
	cn.rd.SetMaxReadFrameSize(frameSize)
	cn.rd.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	cn.rd.MaxHeaderListSize = uint32(min(c.cfg.MaxHeaderBytes, math.MaxUint32))
	cn.wr = http2.NewFramer((*frameSink)(cn), nil)
	cn.henc = hpack.NewEncoder((*blockSink)(cn))
	return cn
}

// frameSink and blockSink gather frames and a header block in memory, so
// that a whole request leaves in one write.
type frameSink conn

func (w *frameSink) Write(p []byte) (int, error) { w.wbuf = append(w.wbuf, p...); return len(p), nil }

type blockSink conn

func (h *blockSink) Write(p []byte) (int, error) { h.hbuf = append(h.hbuf, p...); return len(p), nil }

// start sends the preface with this client's settings and waits for the
// server's SETTINGS (or ctx).
func (cn *conn) start(ctx context.Context) error {
	cn.wbuf = append(cn.wbuf, http2.ClientPreface...)
	cn.wr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: cn.rd.MaxHeaderListSize},
	)
	cn.wr.WriteWindowUpdate(0, connWindow-65535)
	if err := cn.flush(); err != nil {
		return err
	}
	go cn.readLoop()
	select {
	case <-cn.settings:
		return nil
	case <-cn.closed:
		// The server hung up (or sent garbage) before its SETTINGS.
		cn.mu.Lock()
		err := cn.err
		cn.mu.Unlock()
		return fmt.Errorf("before the server's SETTINGS: %w", err)
	case <-ctx.Done():
		return fmt.Errorf("waiting for the server's SETTINGS: %w", ctx.Err())
	}
}

// flush writes wbuf out; wmu is held (or the connection is not shared
// yet).
func (cn *conn) flush() error {
	if t := cn.c.cfg.WriteTimeout; t > 0 {
		cn.nc.SetWriteDeadline(time.Now().Add(t))
	}
	_, err := cn.nc.Write(cn.wbuf)
	cn.wbuf = cn.wbuf[:0]
	if err != nil {
		cn.close(err)
	}
	return err
}

// reserve takes a stream slot if the connection has one.
func (cn *conn) reserve() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.err != nil || cn.goAway || cn.reserved >= cn.maxStreams || int64(cn.nextID)+2*int64(cn.reserved+1) >= math.MaxInt32 {
		return false
	}
	cn.reserved++
	return true
}

// release gives back a stream slot; the connection that carries no stream
// any more starts its idle time.
func (cn *conn) release() {
	cn.mu.Lock()
	cn.reserved--
	idle := cn.reserved == 0
	if idle {
		cn.idleSince = time.Now()
		if cn.idleTimer == nil {
			cn.idleTimer = time.AfterFunc(cn.c.cfg.IdleTimeout, cn.idleCheck)
		} else {
			cn.idleTimer.Reset(cn.c.cfg.IdleTimeout)
		}
	}
	drained := idle && cn.goAway
	cn.mu.Unlock()
	if drained {
		cn.close(errGoAway)
	}
}

var errGoAway = errors.New("h2up: server sent GOAWAY")

func (cn *conn) idleCheck() {
	cn.mu.Lock()
	idle := cn.reserved == 0 && time.Since(cn.idleSince) >= cn.c.cfg.IdleTimeout
	cn.mu.Unlock()
	if idle {
		cn.close(errClosedIdle)
	}
}

func (cn *conn) idle() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.reserved == 0
}

func (cn *conn) dead() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.err != nil || cn.goAway
}

// close ends the connection and every stream on it with err.
func (cn *conn) close(err error) {
	cn.mu.Lock()
	if cn.err != nil {
		cn.mu.Unlock()
		return
	}
	cn.err = err
	close(cn.closed)
	streams := cn.streams
	cn.streams = map[uint32]*stream{}
	if cn.idleTimer != nil {
		cn.idleTimer.Stop()
	}
	cn.mu.Unlock()
	cn.nc.Close()
	for _, st := range streams {
		st.fail(fmt.Errorf("h2up: connection lost: %w", err), false)
	}
	cn.c.forget(cn)
}

// send writes the whole request on a new stream (the slot is reserved)
// and returns the stream.
func (cn *conn) send(ctx context.Context, r *Request) (*stream, error) {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	n := int64(len(r.Body))
	cn.mu.Lock()
	if cn.goAway || cn.err == errClosedIdle {
		// GOAWAY, or the idle close, came after the slot was reserved:
		// nothing was sent, another connection takes the request.
		cn.mu.Unlock()
		cn.release()
		return nil, errRefused
	}
	if cn.err != nil || n > cn.initWindow || n > cn.sendWindow {
		err := cn.err
		cn.mu.Unlock()
		cn.release()
		if err == nil {
			err = ErrUnsupported
		}
		return nil, err
	}
	maxFrame, maxList := cn.maxFrame, cn.maxHdrList
	cn.mu.Unlock()
	if err := cn.encodeHeader(r, maxList); err != nil {
		cn.release()
		return nil, err
	}
	cn.mu.Lock()
	if cn.goAway || cn.err != nil {
		// The block just encoded is never sent: the connection takes no
		// new stream any more, so its encoder is not used again.
		err := cn.err
		if cn.goAway || err == errClosedIdle {
			err = errRefused
		}
		cn.mu.Unlock()
		cn.release()
		return nil, err
	}
	id := cn.nextID
	cn.nextID += 2
	cn.sendWindow -= n
	st := newStream(cn, id, ctx)
	cn.streams[id] = st
	cn.mu.Unlock()
	cn.writeFrames(id, r.Body, maxFrame)
	if err := cn.flush(); err != nil {
		st.finish()
		return nil, err
	}
	return st, nil
}

// writeFrames puts the header block (in hbuf) and the body into wbuf as
// HEADERS, CONTINUATION and DATA frames of at most maxFrame bytes.
func (cn *conn) writeFrames(id uint32, body []byte, maxFrame int) {
	block := cn.hbuf
	first := true
	for first || len(block) > 0 {
		frag := block[:min(len(block), maxFrame)]
		block = block[len(frag):]
		if first {
			cn.wr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag,
				EndStream: len(body) == 0, EndHeaders: len(block) == 0})
			first = false
		} else {
			cn.wr.WriteContinuation(id, len(block) == 0, frag)
		}
	}
	for len(body) > 0 {
		chunk := body[:min(len(body), maxFrame)]
		body = body[len(chunk):]
		cn.wr.WriteData(id, len(body) == 0, chunk)
	}
}

// encodeHeader HPACK-encodes r's header block into hbuf, as net/http
// would send it. Everything is checked before the first field is encoded:
// the encoder's table is the connection's, and a block given up halfway
// would leave it out of step with the server's (a request that could do
// that could break the other streams of its connection).
func (cn *conn) encodeHeader(r *Request, maxList uint32) error {
	const pseudo = len(":authority") + len(":method") + len(":path") + len(":scheme") + 4*32
	size := uint64(pseudo + len(r.Authority) + len(r.Method) + len(r.Path) + len(r.Scheme) + 64)
	for k, vs := range r.Header {
		if _, ok := cn.lower[k]; !ok && !httpguts.ValidHeaderFieldName(k) {
			return ErrUnsupported
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return ErrUnsupported
			}
			size += uint64(len(k) + len(v) + 32)
		}
	}
	if maxList > 0 && size > uint64(maxList) {
		return ErrUnsupported
	}
	cn.hbuf = cn.hbuf[:0]
	field := func(name, value string) { cn.henc.WriteField(hpack.HeaderField{Name: name, Value: value}) }
	field(":authority", r.Authority)
	field(":method", r.Method)
	field(":path", r.Path)
	field(":scheme", r.Scheme)
	for k, vs := range r.Header {
		if k == "Host" || k == "Content-Length" {
			continue
		}
		name, ok := cn.lower[k]
		if !ok {
			name = strings.ToLower(k)
			if len(cn.lower) < 512 {
				cn.lower[k] = name
			}
		}
		for _, v := range vs {
			if k == "User-Agent" && v == "" {
				continue
			}
			field(name, v)
		}
	}
	if _, ok := r.Header["User-Agent"]; !ok {
		field("user-agent", "Go-http-client/2.0")
	}
	if len(r.Body) > 0 {
		field("content-length", strconv.Itoa(len(r.Body)))
	}
	return nil
}

// writeControl sends a control frame built by fn.
func (cn *conn) writeControl(fn func(fr *http2.Framer)) {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	fn(cn.wr)
	cn.flush()
}

// giveBack returns n read bytes of stream st (0: none of a stream's) to
// the server's windows once enough gathered to be worth a frame.
func (cn *conn) giveBack(st *stream, n int64) {
	cn.mu.Lock()
	cn.unacked += n
	conn := cn.unacked
	if conn >= connWindow/4 {
		cn.unacked = 0
		cn.recvWindow += conn
	} else {
		conn = 0
	}
	var strm int64
	if st != nil {
		strm = st.ackable(n)
	}
	cn.mu.Unlock()
	if conn == 0 && strm == 0 {
		return
	}
	cn.writeControl(func(fr *http2.Framer) {
		if conn > 0 {
			fr.WriteWindowUpdate(0, uint32(conn))
		}
		if strm > 0 {
			fr.WriteWindowUpdate(st.id, uint32(strm))
		}
	})
}
