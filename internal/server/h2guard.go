package server

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// HTTP/2 abuse guard.
//
// net/http's HTTP/2 server caps the handlers running on a connection, so a
// client that opens streams and resets them at once (rapid reset,
// CVE-2023-44487) cannot pile up work, but nothing ends the connection: the
// client can go on opening and cancelling requests, each of which reaches
// the proxy, for as long as it likes. NGINX and Envoy close such a
// connection; so do we. Every HTTP/2 connection's client bytes pass
// through an h2Guard, which checks the client preface and then follows the
// frame headers (9 bytes each; payloads are skipped by count, never
// parsed), counting the streams the client opens and the premature
// RST_STREAM frames it sends: those cancelling a stream the server has not
// answered yet (sent no HEADERS on). More than maxResets of them within a
// window of 2*maxResets streams ends the connection with GOAWAY
// ENHANCE_YOUR_CALM: a client that cancels more than half of what it asks
// for before getting an answer is not a client worth serving. A client
// that cancels once the response has begun (a gRPC watch it no longer
// needs, a download it gave up) has had the work done it asked for, and
// is not counted. Resets the client makes the server send count the same
// ("MadeYouReset", CVE-2025-8671): a stream error on a stream the client
// has already half-closed (a zero WINDOW_UPDATE, DATA after END_STREAM, a
// malformed request) resets a stream whose handler is still running, which
// costs the same as a client reset and which net/http does not count
// either. A reset of a stream the server had already ended is not: that is
// net/http answering DATA the client sent before it learnt of the end (an
// upload refused early).
// A run of more than maxEmptyFrames frames that carry nothing ends the
// connection too; net/http processes them one by one and never counts
// them (the empty-frames flood of CVE-2019-9518). They are DATA without
// data (padding is not data) except the one ending a stream, DATA on a
// stream the client has already ended (which net/http answers with a
// reset each time), short DATA on a stream the server has ended, PRIORITY
// (which the round-robin write scheduler ignores), SETTINGS without
// settings (net/http acknowledges each, and a
// 9-byte acknowledgement is slow to fill the buffers of a client that
// does not read them), and empty CONTINUATION or trailer HEADERS (an empty
// fragment never brings a header block nearer its size limit, so net/http
// would wait for its end forever). Only what makes progress ends the run:
// DATA with data on a stream open on both sides, or a new stream; other
// frames in between do not. PRIORITY has a run of its own, longer with
// more streams allowed: browsers reprioritise every stream of a tab when
// the tab is switched to. PING
// is left to net/http, which cuts off a client that does not read the
// answers at 10,000 queued: clients keeping a connection alive or
// measuring it send PINGs while only downloading. WINDOW_UPDATE is not
// counted either: a client downloading sends them in bulk, and each is an
// addition to net/http.
//
// The GOAWAY is written by the guard, not by net/http, which has no way to
// be told. So the guard also sits on the write side and follows the frame
// headers the server writes: the GOAWAY goes out only between two frames,
// either at once or right after the server's write in progress. There it
// also sees the server's RST_STREAM frames, which the read side takes
// into its count at the client's next frame, and which streams the server
// has answered and ended.
//
// Stream state is kept for the streamWindow most recent client streams,
// one bit each. Older streams count as answered and ended by the server
// and as still open by the client: no reset of theirs is premature, their
// DATA neither counts nor ends a run, and the server resets them only when
// provoked (net/http keeps no older stream open unless the client opened
// more than --http2-max-streams since).
//
// The GOAWAY is a connection error (RFC 9113 5.4.1): the connection is
// closed after it, and streams still in progress die with it. Its last
// stream id is the client's highest: every stream up to it may have been
// acted on, so the client must not retry them as unprocessed; none after
// it was.
//
// HTTP/2 reaches the guard two ways. h2c (prior knowledge) starts on a
// sniffConn, whose HTTP/1 detector hands over after "PRI * HTTP/2.0\r\n\r\n".
// Over TLS, net/http serves HTTP/2 itself only on a *tls.Conn, whose
// plaintext cannot be seen from outside; so the tlsListener hands an h2
// connection over wrapped in an h2TLSConn, which net/http takes for an h2c
// connection (it is no *tls.Conn and has no ConnectionState), and the
// guard handler puts the TLS state back on each request.

// clientPreface starts every HTTP/2 connection (RFC 9113 3.4).
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// h2cPrefaceSeen is how much of the preface the HTTP/1 detector reads
// before it hands over: a request head without fields.
const h2cPrefaceSeen = len("PRI * HTTP/2.0\r\n\r\n")

// maxEmptyFrames is the longest run of frames carrying nothing a client
// may send; no client has a reason to send even a few.
const maxEmptyFrames = 100

// priorityPerStream is how many PRIORITY frames in a run each stream the
// server allows at once earns, with at least maxEmptyFrames in all.
const priorityPerStream = 4

// minDataAfterEnd is the least data a DATA frame on a stream the server
// has ended must carry not to count as carrying nothing: what an uploader
// had in flight when its request was refused comes in full frames, and
// the flow-control window net/http leaves such a stream bounds it.
const minDataAfterEnd = 1024

// streamWindow is how many of the most recent client streams the guard
// keeps state for; a multiple of 64.
const streamWindow = 1024

// streamBits is one bit for each stream in the window; client stream ids
// are odd, so stream id goes to bit (id/2) % streamWindow.
type streamBits [streamWindow / 64]atomic.Uint64

func streamBit(id uint32) (int, uint64) {
	i := id / 2 % streamWindow
	return int(i / 64), 1 << (i % 64)
}

func (s *streamBits) set(id uint32) {
	w, b := streamBit(id)
	s[w].Or(b)
}

func (s *streamBits) clear(id uint32) {
	w, b := streamBit(id)
	s[w].And(^b)
}

func (s *streamBits) has(id uint32) bool {
	w, b := streamBit(id)
	return s[w].Load()&b != 0
}

// h2Limits are the limits an h2Guard enforces.
type h2Limits struct {
	maxResets  int // 0: no limit
	maxStreams int // the server's SETTINGS_MAX_CONCURRENT_STREAMS
}

const (
	frameHeaderLen = 9
	flagEndStream  = 0x1
	flagPadded     = 0x8
	frameData      = 0x0
	frameHeaders   = 0x1
	framePriority  = 0x2
	frameRSTStream = 0x3
	frameSettings  = 0x4
	flagAck        = 0x1
	frameGoAway    = 0x7
	frameCont      = 0x9
	errNo          = 0x0
	errInternal    = 0x2
	errRefused     = 0x7
	errEnhanceCalm = 0xb
)

// goAwayCalm is GOAWAY ENHANCE_YOUR_CALM without a last stream id (the
// guard fills it in) and with a reason for whoever reads the frame.
var goAwayCalm = func() []byte {
	const debug = "stream resets or empty frames flood"
	n := 8 + len(debug)
	b := []byte{byte(n >> 16), byte(n >> 8), byte(n), frameGoAway, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, errEnhanceCalm}
	return append(b, debug...)
}()

var (
	errH2Preface = errors.New("http2: bad client preface")
	errH2Abuse   = errors.New("http2: stream resets or empty frames flood")
)

type h2Verdict uint8

const (
	h2OK h2Verdict = iota
	h2BadPreface
	h2Abuse
)

// h2Guard follows one HTTP/2 connection's frames. feed runs on the reading
// goroutine only; write and abort serialise on mu.
type h2Guard struct {
	maxResets   int // 0: no limit
	maxPriority int // the longest run of PRIORITY frames

	// Read side.
	pre        int // bytes of the client preface matched
	hdr        [frameHeaderLen]byte
	hdrN       int
	skip       uint32     // payload bytes of the current client frame still to come
	lastStream uint32     // the highest stream id the client opened
	streams    int        // streams opened in the current window
	resets     int        // RST_STREAM frames in the current window
	empty      int        // frames carrying nothing in a row
	priority   int        // PRIORITY frames in a row
	padded     bool       // the current frame is padded DATA; its pad length comes next
	open       streamBits // streams the client has not ended or reset

	// opened is lastStream for the write side, which keeps no state for
	// streams older than the window.
	opened atomic.Uint32
	// answered and ended are the streams the server sent HEADERS on, and
	// ended (END_STREAM or RST_STREAM); the write side sets them, the read
	// side clears a stream's bits as the client opens it.
	answered, ended streamBits

	abused atomic.Bool

	// serverResets counts the server's RST_STREAM frames the read side
	// has not taken into resets yet.
	serverResets atomic.Int32
	// windowResets is resets as the read side last left it: the write side
	// adds serverResets to it to end the connection itself, since a client
	// that has sent its flood and only reads would never have the read
	// side take them in.
	windowResets atomic.Int32

	// Write side.
	mu       sync.Mutex
	outHdr   [frameHeaderLen]byte // the current server frame header
	outHdrN  int                  // its bytes written
	outSkip  uint32               // payload bytes of the current server frame still to come
	outCodeN int                  // error code bytes of a server RST_STREAM still to come
	outCode  uint32
	sent     bool // GOAWAY written: nothing more goes out
}

func (g *h2Guard) init(l h2Limits, prefaceSeen int) {
	g.maxResets = l.maxResets
	g.maxPriority = max(maxEmptyFrames, priorityPerStream*l.maxStreams)
	g.pre = prefaceSeen
}

// recent reports whether the stream is one of the window's: opened by the
// client, and not older than the window.
func recent(id, last uint32) bool {
	return id <= last && id&1 == 1 && (last-id)/2 < streamWindow
}

// feed follows the client's bytes.
func (g *h2Guard) feed(p []byte) h2Verdict {
	for i := 0; i < len(p); {
		switch {
		case g.pre < len(clientPreface):
			if p[i] != clientPreface[g.pre] {
				return h2BadPreface
			}
			g.pre++
			i++
		case g.padded:
			g.padded = false
			g.skip--
			// RFC 9113 6.1: the data is what the pad length byte and the
			// padding leave; net/http refuses padding longer than that.
			pad := uint32(p[i])
			i++
			var n uint32
			if pad < g.skip {
				n = g.skip - pad
			}
			if g.data(n) {
				return h2Abuse
			}
		case g.skip > 0:
			n := uint32(len(p) - i)
			if n > g.skip {
				n = g.skip
			}
			g.skip -= n
			i += int(n)
		default:
			n := copy(g.hdr[g.hdrN:], p[i:])
			g.hdrN += n
			i += n
			if g.hdrN < frameHeaderLen {
				return h2OK
			}
			g.hdrN = 0
			if g.frame() {
				return h2Abuse
			}
		}
	}
	return h2OK
}

// frame takes in one client frame header and reports whether the client
// went past a limit.
func (g *h2Guard) frame() bool {
	h := &g.hdr
	g.skip = uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
	id := streamID(h)
	if n := g.serverResets.Load(); n != 0 {
		g.serverResets.Add(-n)
		g.addResets(int(n))
		if g.maxResets > 0 && g.resets > g.maxResets {
			return true
		}
	}
	switch h[3] {
	case frameData:
		if h[4]&flagPadded != 0 && g.skip > 0 {
			g.padded = true
			return false
		}
		return g.data(g.skip)
	case frameHeaders:
		if id > g.lastStream { // a new stream; later HEADERS on it are trailers
			g.newStream(id)
			g.empty, g.priority = 0, 0
			g.streams++
			if g.maxResets > 0 && g.streams >= 2*g.maxResets {
				g.streams = 0
				g.addResets(-g.resets)
			}
			if h[4]&flagEndStream != 0 {
				g.open.clear(id)
			}
		} else {
			if h[4]&flagEndStream != 0 && recent(id, g.lastStream) {
				g.open.clear(id)
			}
			if g.skip == 0 {
				return g.nothing()
			}
		}
	case framePriority:
		g.priority++
		return g.priority > g.maxPriority
	case frameSettings:
		if g.skip == 0 && h[4]&flagAck == 0 {
			return g.nothing()
		}
	case frameCont:
		if g.skip == 0 {
			return g.nothing()
		}
	case frameRSTStream:
		switch {
		case id > g.lastStream:
			g.addResets(1) // a stream never opened: net/http ends the connection anyway
		case recent(id, g.lastStream):
			g.open.clear(id)
			if !g.answered.has(id) {
				g.addResets(1)
			}
		}
	}
	return g.maxResets > 0 && g.resets > g.maxResets
}

// addResets changes the window's reset count and publishes it to the
// write side (windowResets).
func (g *h2Guard) addResets(n int) {
	g.resets += n
	g.windowResets.Store(int32(g.resets))
}

// newStream takes in the client's new stream id: its bits, and those of
// the ids it skipped (which can never be opened), are cleared of the
// streams of the same bits a window ago.
func (g *h2Guard) newStream(id uint32) {
	from := g.lastStream + 1
	if id-from > 2*streamWindow {
		from = id - 2*streamWindow
	}
	g.lastStream = id
	// Stored before the bits are cleared: a server write on the stream a
	// window ago that still sees the old value may set a bit of the new
	// stream, which only ever spares the client.
	g.opened.Store(id)
	for s := from | 1; s <= id && s >= from; s += 2 {
		g.open.clear(s)
		g.answered.clear(s)
		g.ended.clear(s)
	}
	g.open.set(id)
}

// data takes in a DATA frame (its header in hdr) carrying n bytes of data
// and reports whether the client went past a limit. An empty DATA frame
// may end a stream: clients that learn the body is over only after its
// last byte send one.
func (g *h2Guard) data(n uint32) bool {
	id := streamID(&g.hdr)
	if !recent(id, g.lastStream) {
		if id > g.lastStream || id&1 == 0 || n == 0 {
			return g.nothing()
		}
		return false // an old stream: state unknown
	}
	if !g.open.has(id) {
		return g.nothing()
	}
	if g.hdr[4]&flagEndStream != 0 {
		g.open.clear(id)
	}
	switch {
	case g.ended.has(id):
		if n < minDataAfterEnd {
			return g.nothing()
		}
	case n > 0:
		g.empty, g.priority = 0, 0
	case g.hdr[4]&flagEndStream == 0:
		return g.nothing()
	}
	return false
}

// nothing counts a frame that carries nothing and reports whether the run
// of them went past the limit.
func (g *h2Guard) nothing() bool {
	g.empty++
	return g.empty > maxEmptyFrames
}

func streamID(h *[frameHeaderLen]byte) uint32 {
	return (uint32(h[5])<<24 | uint32(h[6])<<16 | uint32(h[7])<<8 | uint32(h[8])) & (1<<31 - 1)
}

// check follows bytes the client sent and returns the error that ends the
// connection when the client broke the rules.
func (g *h2Guard) check(c net.Conn, p []byte) error {
	if g.abused.Load() { // the write side found the limit passed
		g.abort(c)
		return errH2Abuse
	}
	switch g.feed(p) {
	case h2BadPreface:
		return errH2Preface
	case h2Abuse:
		g.abort(c)
		return errH2Abuse
	}
	return nil
}

// abort sends GOAWAY ENHANCE_YOUR_CALM (at once when the server is between
// two frames, else after its write in progress), then reads what the
// client is still sending until it stops or rejectLinger is over. The
// error abort's caller returns closes the connection: before the GOAWAY is
// out, the server (which finishes a frame it has begun with its next
// write) would never get to write it; after, a client still sending would
// get a reset, and with it lose the GOAWAY it has not read yet.
func (g *h2Guard) abort(c net.Conn) {
	g.abused.Store(true)
	if g.mu.TryLock() { // a server write blocked on a client that does not read must not hold us
		g.goAway(c)
		g.mu.Unlock()
	}
	c.SetReadDeadline(time.Now().Add(rejectLinger))
	io.Copy(io.Discard, c)
}

// goAway writes the GOAWAY if the server is between frames and closes the
// write side. Called with mu held.
func (g *h2Guard) goAway(c net.Conn) {
	if g.sent || g.outHdrN != 0 || g.outSkip != 0 {
		return
	}
	g.sent = true
	var frame [64]byte
	b := append(frame[:0], goAwayCalm...)
	id := g.opened.Load() // lastStream, which the read side owns
	b[9], b[10], b[11], b[12] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
	c.SetWriteDeadline(time.Now().Add(rejectWriteTimeout))
	if _, err := c.Write(b); err == nil {
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}
}

// h2TLSConn is a TLS connection that negotiated h2, as net/http gets it:
// not a *tls.Conn and without a ConnectionState method, so that net/http
// serves it as h2c on a conn whose bytes the guard sees. state is put back
// on each request by the guard handler.
type h2TLSConn struct {
	net.Conn // the *tls.Conn
	state    tls.ConnectionState
	g        h2Guard
	busy     atomic.Bool // counted in Stats.Busy (server.go)
}

func (c *h2TLSConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if e := c.g.check(c.Conn, p[:n]); e != nil {
			if e == errH2Preface {
				// net/http, reading what it takes for an HTTP/1 request,
				// would answer 400 in HTTP/1.1 on a connection that
				// negotiated h2; RFC 9113 3.4 has it closed.
				c.Conn.Close()
			}
			return 0, e
		}
	}
	return n, err
}

func (c *h2TLSConn) Write(p []byte) (int, error) { return c.g.write(c.Conn, p) }

// CloseWrite keeps net/http's graceful close working through the wrapper.
func (c *h2TLSConn) CloseWrite() error { return c.Conn.(*tls.Conn).CloseWrite() }

// h2Cipher reports whether a TLS 1.2 connection's suite is one RFC 9113
// 9.2.2 allows for HTTP/2: ephemeral key exchange with an AEAD. Others are
// left to net/http, which refuses them with INADEQUATE_SECURITY.
func h2Cipher(s tls.ConnectionState) bool {
	if s.Version >= tls.VersionTLS13 {
		return true
	}
	switch s.CipherSuite {
	case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return true
	}
	return false
}
