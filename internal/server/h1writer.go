package server

import (
	"bufio"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// h1Writer is the http.ResponseWriter of the own HTTP/1.x server path. It
// frames the answer as net/http does: the handler's Content-Length when it
// set one; otherwise a body the handler finished within smallBody bytes
// gets one; otherwise chunked (HTTP/1.1) or delimited by the close
// (HTTP/1.0). It adds Date unless the handler set it (a nil entry: none),
// sends no Content-Type the handler did not set (net/http would sniff one),
// writes header fields in map order, turns CR and LF in values into spaces
// and drops fields whose names are not tokens, as net/http does. The head
// and a body that fits go out in one write.
type h1Writer struct {
	c    *h1Conn
	req  *http.Request
	hdr  http.Header
	wbuf *[]byte // pooled while the answer is being written

	status      int
	wroteHeader bool
	committed   bool // the status line and header are in wbuf or sent
	chunked     bool
	noBody      bool    // HEAD, 1xx, 204, 304
	declared    int64   // the handler's Content-Length; -1: none
	written     int64   // body bytes the handler wrote
	pend        *[]byte // the body held back before commit, pooled
	closeAfter  bool
	hasDate     bool // the handler set Date (a nil entry: send none)
	fullDuplex  bool // the handler called EnableFullDuplex
	trailers    bool // the head has a Trailer field or keys under http.TrailerPrefix
	failed      error
}

const (
	// smallBody is how much body is held back to learn its length
	// (net/http's bufferBeforeChunkingSize).
	smallBody = 2048
	// flushAt is how much is buffered before a write to the connection.
	flushAt = 4 << 10
)

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, flushAt+512); return &b }}

func (w *h1Writer) reset(r *http.Request, closeAfter bool) {
	clear(w.hdr)
	if w.pend != nil {
		*w.pend = (*w.pend)[:0]
		writeBufs.Put(w.pend)
		w.pend = nil
	}
	w.req = r
	w.status, w.wroteHeader, w.committed, w.chunked, w.noBody = 0, false, false, false, false
	w.declared, w.written, w.closeAfter, w.failed = -1, 0, closeAfter, nil
	w.fullDuplex, w.trailers = false, false
}

func (w *h1Writer) Header() http.Header { return w.hdr }

func (w *h1Writer) buf() []byte {
	if w.wbuf == nil {
		w.wbuf = writeBufs.Get().(*[]byte)
	}
	return *w.wbuf
}

func (w *h1Writer) WriteHeader(code int) {
	if w.wroteHeader || w.c.hijak {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// An interim answer goes out now, with the header as it is.
		b := appendStatus(w.buf()[:0], w.req.ProtoMinor, code)
		b = w.appendFields(b, code)
		b = append(b, "\r\n"...)
		*w.wbuf = b
		w.flushCommitted()
		return
	}
	w.wroteHeader, w.status = true, code
	w.noBody = w.req.Method == http.MethodHead || !bodyAllowed(code)
	if vs := w.hdr["Content-Length"]; len(vs) > 0 {
		if n, ok := parseContentLength(vs[0]); ok {
			w.declared = n
		} else {
			delete(w.hdr, "Content-Length")
		}
	}
	// The head is written out of the map now: changes after WriteHeader
	// have no effect (http.ResponseWriter's contract), and the proxy reuses
	// its header values once the handler returned. The framing fields
	// follow at commit.
	if vs := w.hdr["Connection"]; len(vs) > 0 && httpguts.HeaderValuesContainsToken(vs, "close") {
		w.closeAfter = true
	}
	_, w.hasDate = w.hdr["Date"]
	w.trailers = false
	b := appendStatus(w.buf()[:0], w.req.ProtoMinor, code)
	*w.wbuf = w.appendFields(b, code)
}

func (w *h1Writer) Write(p []byte) (int, error) {
	if w.c.hijak {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.failed != nil {
		return 0, w.failed
	}
	if w.noBody && !(w.req.Method == http.MethodHead && bodyAllowed(w.status)) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.noBody {
		// HEAD: the body is counted, for the length, and dropped.
		if !w.committed && w.written > smallBody {
			w.commit(false)
		}
		return len(p), nil
	}
	if !w.committed {
		if w.declared < 0 && w.pending()+len(p) <= smallBody {
			if w.pend == nil {
				w.pend = writeBufs.Get().(*[]byte)
			}
			*w.pend = append(*w.pend, p...)
			return len(p), nil
		}
		w.commit(false)
	}
	return len(p), w.body(p)
}

// body adds p to the answer, framed.
func (w *h1Writer) body(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	b := w.buf()
	if w.chunked {
		b = strconv.AppendUint(b, uint64(len(p)), 16)
		b = append(b, "\r\n"...)
	}
	if len(b)+len(p) <= flushAt {
		b = append(b, p...)
		if w.chunked {
			b = append(b, "\r\n"...)
		}
		*w.wbuf = b
		if len(b) >= flushAt {
			return w.flushCommitted()
		}
		return nil
	}
	*w.wbuf = b
	if err := w.flushCommitted(); err != nil {
		return err
	}
	if _, err := w.c.nc.Write(p); err != nil {
		w.failed = err
		return err
	}
	if w.chunked {
		*w.wbuf = append(w.buf(), "\r\n"...)
	}
	return nil
}

// commit writes the status line and header into the buffer; final says
// the handler returned, so the pending body is the whole body.
func (w *h1Writer) commit(final bool) {
	w.committed = true
	req := w.req
	switch {
	case w.closeAfter:
		if w.c.head.continue100 {
			w.c.stopContinue()
		}
	case w.fullDuplex:
		// The body is settled when the handler returns; a 100 Continue
		// not sent by now must not go out inside the answer.
		if w.c.head.continue100 && !w.c.stopContinue() {
			w.closeAfter = true
		}
	case !w.c.settleBody():
		w.closeAfter = true
	}
	length := w.declared
	switch {
	case length >= 0:
	case w.req.Method == http.MethodHead:
		// net/http gives a HEAD answer the length of a body the handler
		// wrote and finished within smallBody, when there is one.
		if final && w.written > 0 && !w.trailers {
			length = w.written
		}
	case w.noBody:
	case final && (!w.trailers || req.ProtoMinor == 0):
		length = int64(w.pending())
	case req.ProtoMinor >= 1:
		w.chunked = true
	default:
		w.closeAfter = true
	}
	b := w.buf()
	if !w.hasDate {
		b = append(b, "Date: "...)
		b = append(b, httpDate()...)
		b = append(b, "\r\n"...)
	}
	if w.declared < 0 && length >= 0 && (!w.noBody || w.req.Method == http.MethodHead) && w.status >= 200 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, length, 10)
		b = append(b, "\r\n"...)
	}
	if w.chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	if w.closeAfter {
		b = append(b, "Connection: close\r\n"...)
	} else if req.ProtoMinor == 0 {
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, "\r\n"...)
	*w.wbuf = b
	if w.pend != nil {
		w.body(*w.pend)
		*w.pend = (*w.pend)[:0]
		writeBufs.Put(w.pend)
		w.pend = nil
	}
}

func (w *h1Writer) pending() int {
	if w.pend == nil {
		return 0
	}
	return len(*w.pend)
}

// appendFields writes the handler's header fields, but the ones the
// writer owns, trailers and those an answer without a body may not carry
// (net/http's suppressedHeaders).
func (w *h1Writer) appendFields(b []byte, code int) []byte {
	bodyless := !bodyAllowed(code)
	for k, vs := range w.hdr {
		switch {
		case k == "Transfer-Encoding", k == "Connection":
			continue
		case bodyless && k == "Content-Length", code == 304 && k == "Content-Type":
			continue
		case k == "Trailer":
			w.trailers = true
		case strings.HasPrefix(k, http.TrailerPrefix):
			w.trailers = true
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		b = appendField(b, k, vs)
	}
	return b
}

// appendField writes a field line per value, each value trimmed with CR
// and LF turned into spaces, as net/http writes them.
func appendField(b []byte, name string, vs []string) []byte {
	for _, v := range vs {
		b = append(b, name...)
		b = append(b, ": "...)
		start := len(b)
		b = append(b, textproto.TrimString(v)...)
		for i := start; i < len(b); i++ {
			if b[i] == '\r' || b[i] == '\n' {
				b[i] = ' '
			}
		}
		b = append(b, "\r\n"...)
	}
	return b
}

// finish completes the answer after the handler returned; false: the
// connection is broken.
func (w *h1Writer) finish() bool {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true)
	}
	if w.chunked && w.failed == nil {
		b := append(w.buf(), "0\r\n"...)
		b = w.appendTrailer(b)
		*w.wbuf = append(b, "\r\n"...)
	}
	if w.declared >= 0 && w.written < w.declared && !w.noBody {
		// The answer is shorter than it said: only a close can show it.
		w.closeAfter = true
	}
	return w.flushCommitted() == nil && w.failed == nil
}

// appendTrailer writes the trailer fields set under http.TrailerPrefix
// (the proxy's, from the upstream's trailer, which outlive ServeHTTP). The
// other way net/http offers, values set after WriteHeader under names the
// Trailer field declared, is not: the head is written at WriteHeader, and
// nothing in the gateway uses it.
func (w *h1Writer) appendTrailer(b []byte) []byte {
	for k, vs := range w.hdr {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidHeaderFieldName(name) {
			b = appendField(b, name, vs)
		}
	}
	return b
}

// flushCommitted writes what the buffer holds and returns it to the pool.
func (w *h1Writer) flushCommitted() error {
	if w.wbuf == nil {
		return w.failed
	}
	b := *w.wbuf
	if len(b) > 0 && w.failed == nil {
		if _, err := w.c.nc.Write(b); err != nil {
			w.failed = err
		}
	}
	*w.wbuf = b[:0]
	if cap(b) <= flushAt+512 {
		writeBufs.Put(w.wbuf)
	}
	w.wbuf = nil
	return w.failed
}

// FlushError sends what is buffered, committing the header first.
func (w *h1Writer) FlushError() error {
	if w.c.hijak {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	return w.flushCommitted()
}

func (w *h1Writer) Flush() { w.FlushError() }

// Hijack hands the connection over (WebSocket tunnels, refusals), before
// any answer.
func (w *h1Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.wroteHeader {
		return nil, nil, http.ErrHijacked
	}
	return w.c.hijack()
}

func (w *h1Writer) SetReadDeadline(t time.Time) error { return w.c.setReadDeadline(t) }

func (w *h1Writer) SetWriteDeadline(t time.Time) error { return w.c.nc.SetWriteDeadline(t) }

// EnableFullDuplex lets the handler read the request body after the answer
// began, as net/http's: the body is settled when the handler returns, not
// when the answer's head goes out (which would drain what the handler is
// still to read).
func (w *h1Writer) EnableFullDuplex() error {
	w.fullDuplex = true
	return nil
}

// bodyAllowed says whether an answer of status may have a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

func appendStatus(b []byte, minor, code int) []byte {
	if minor == 0 {
		b = append(b, "HTTP/1.0 "...)
	} else {
		b = append(b, "HTTP/1.1 "...)
	}
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	return append(b, "\r\n"...)
}

// httpDate is the Date value, formatted once a second.
func httpDate() string {
	now := time.Now().Unix()
	if d := dateCache.Load(); d != nil && d.sec == now {
		return d.text
	}
	d := &cachedDate{sec: now, text: time.Unix(now, 0).UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.text
}

type cachedDate struct {
	sec  int64
	text string
}

var dateCache atomic.Pointer[cachedDate]
