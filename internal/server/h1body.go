package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Request bodies of the own HTTP/1.x server path. Their framing rules are
// net/http's (net/http/internal/chunked.go) with the smuggling detector's
// limits: a chunk-size line of at most maxChunkLine bytes, at most
// maxChunkExcess bytes of framing beyond what the data pays for, a trailer
// section of at most maxTrailerBytes. The trailer is held to what the
// detector follows, CRLF-terminated "name: value" lines: net/http also
// reads bare LF and obs-fold there, and then the detector refuses every
// later request on the connection; here the body fails instead.

var (
	errBodyClosed = errors.New("http: invalid Read on closed Body")
	errChunked    = errors.New("http: malformed chunked encoding")
	errChunkLine  = errors.New("http: chunk line too long")
	errTooMuch    = errors.New("http: chunked encoding contains too much non-data")
	errTrailer    = errors.New("http: malformed trailer")
)

// clBody reads a body of declared length.
type clBody struct {
	c      *h1Conn
	remain int64
	err    error
}

func (b *clBody) Read(p []byte) (int, error) {
	b.c.bodyMu.Lock()
	defer b.c.bodyMu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if b.remain == 0 {
		b.err = io.EOF
		b.c.bodyRead()
		return 0, io.EOF
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.c.readBody(p)
	b.remain -= int64(n)
	switch {
	case err != nil:
		b.err = unexpected(err)
	case b.remain == 0:
		b.err = io.EOF
		b.c.bodyRead()
	}
	return n, b.err
}

func (b *clBody) Close() error {
	b.c.bodyMu.Lock()
	defer b.c.bodyMu.Unlock()
	if b.err == nil {
		b.err = errBodyClosed
	}
	return nil
}

// chunkedBody reads a chunked body and its trailer.
type chunkedBody struct {
	c        *h1Conn
	n        uint64 // data left in the chunk
	needCRLF bool   // the chunk's data ended; its CRLF is next
	excess   int64
	err      error
	line     []byte // made at the connection's first chunked body
}

func (b *chunkedBody) reset() {
	b.n, b.needCRLF, b.excess, b.err = 0, false, 0, nil
	if b.line == nil {
		b.line = make([]byte, maxChunkLine)
	}
}

func (b *chunkedBody) Read(p []byte) (int, error) {
	b.c.bodyMu.Lock()
	defer b.c.bodyMu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	for b.n == 0 {
		if b.needCRLF {
			if b.err = b.crlf(); b.err != nil {
				return 0, b.err
			}
			b.needCRLF = false
		}
		if b.err = b.sizeLine(); b.err != nil {
			return 0, b.err
		}
		if b.n == 0 {
			if b.err = b.trailer(); b.err == nil {
				b.err = io.EOF
				b.c.bodyRead()
			}
			return 0, b.err
		}
	}
	if uint64(len(p)) > b.n {
		p = p[:b.n]
	}
	k, err := b.c.readBody(p)
	b.n -= uint64(k)
	if err != nil {
		err = unexpected(err)
		b.err = err
		return k, err
	}
	if b.n == 0 {
		b.needCRLF = true
	}
	return k, nil
}

func (b *chunkedBody) Close() error {
	b.c.bodyMu.Lock()
	defer b.c.bodyMu.Unlock()
	if b.err == nil {
		b.err = errBodyClosed
	}
	return nil
}

func (b *chunkedBody) crlf() error {
	for _, want := range [2]byte{'\r', '\n'} {
		c, err := b.c.byte1()
		if err != nil {
			return unexpected(err)
		}
		if c != want {
			return errChunked
		}
	}
	return nil
}

// readLine reads one framing line into b.line, without its CRLF. As in
// net/http, the line must end in CRLF and hold no other CR.
func (b *chunkedBody) readLine() ([]byte, error) {
	n := 0
	for {
		c, err := b.c.byte1()
		if err != nil {
			return nil, unexpected(err)
		}
		if c == '\n' {
			if n == 0 || b.line[n-1] != '\r' {
				return nil, errChunked
			}
			return b.line[:n-1], nil
		}
		if n > 0 && b.line[n-1] == '\r' {
			return nil, errChunked
		}
		if n == len(b.line)-1 {
			return nil, errChunkLine
		}
		b.line[n] = c
		n++
	}
}

// sizeLine reads a chunk-size line: hex digits, an optional extension.
func (b *chunkedBody) sizeLine() error {
	line, err := b.readLine()
	if err != nil {
		return err
	}
	b.excess += int64(len(line)) + 2
	line = bytes.TrimRight(line, " \t")
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	if len(line) == 0 || len(line) > 16 {
		return errChunked
	}
	var n uint64
	for _, c := range line {
		v, ok := unhex(c)
		if !ok {
			return errChunked
		}
		n = n<<4 | uint64(v)
	}
	if n > 1<<62 {
		return errChunked
	}
	b.n = n
	b.excess -= 16 + 2*int64(min(n, 1<<40))
	b.excess = max(b.excess, 0)
	if b.excess > maxChunkExcess {
		return errTooMuch
	}
	return nil
}

// trailer reads the trailer section after the last chunk into the
// request's Trailer.
func (b *chunkedBody) trailer() error {
	total := 0
	r := b.c.req
	for {
		line, err := b.readLine()
		if err != nil {
			return err
		}
		total += len(line) + 2
		if total > maxTrailerBytes {
			return errTrailer
		}
		if len(line) == 0 {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errTrailer
		}
		name, value, ok := strings.Cut(string(line), ":")
		if !ok || !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) {
			return errTrailer
		}
		value = textproto.TrimString(value)
		if r.Trailer == nil {
			r.Trailer = make(http.Header)
		}
		r.Trailer.Add(name, value)
	}
}

// continueReader sends 100 Continue before the first read of a body whose
// client waits for it, unless the answer went out first.
//
// The body may be read on another goroutine than the handler's (an HTTP/2
// upstream's transport sends it while the handler waits for the answer):
// done says, under the connection's bodyMu, that no 100 Continue may go
// out any more (it was sent, or the answer's head is going out, see
// stopContinue), and wrote that it went out.
type continueReader struct {
	c     *h1Conn
	done  bool
	wrote bool
}

func (r *continueReader) Read(p []byte) (int, error) {
	c := r.c
	c.bodyMu.Lock()
	if !r.done {
		r.done = true
		if !c.hijak {
			if _, err := c.nc.Write(continue100); err != nil {
				c.bodyMu.Unlock()
				return 0, err
			}
			r.wrote = true
		}
	}
	c.bodyMu.Unlock()
	return c.body.Read(p)
}

// stopContinue keeps a 100 Continue from going out after the answer's
// head; it reports whether one went out before.
func (c *h1Conn) stopContinue() bool {
	c.bodyMu.Lock()
	defer c.bodyMu.Unlock()
	c.cont.done = true
	return c.cont.wrote
}

func (r *continueReader) Close() error { return r.c.body.Close() }

var continue100 = []byte("HTTP/1.1 100 Continue\r\n\r\n")

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
