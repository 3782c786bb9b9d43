package grpcweb

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/transcode"
)

// gRPC status codes the plugin answers with itself.
const (
	codeResourceExhausted = 8
	codeInternal          = 13
)

var errTruncated = errors.New("upstream body ended inside a gRPC frame")

// scratchSize is the raw read size when the output needs a copy (text,
// JSON): 3 KiB of bytes become 4 KiB of base64.
const scratchSize = 3 << 10

// webBody is one gRPC-Web call's response body: it reads the upstream's
// gRPC frames and gives the client gRPC-Web (the same frames, base64 in
// text mode, JSON messages in JSON mode), then the trailer frame. Every
// frame's length is checked before its payload is read: a message over
// the limit or a frame no gRPC server sends ends the body with an error
// trailer frame at the last good frame's end, so the client reads a
// well-formed answer. A body that ends inside a frame is an error (the
// gateway then cuts the client response, or answers 502 before anything
// was sent).
type webBody struct {
	src  io.Reader
	mode *mode
	max  int
	// resp is the client's response: its Trailer is the upstream's,
	// filled by the gateway when src returned io.EOF.
	resp *plugin.Response
	// The JSON modes' proto and method.
	set    *transcode.Set
	method *transcode.Method

	// The trailers-only answer's status fields, moved out of the headers.
	status, message, details string

	rem  int     // bytes of the current frame's payload still to come
	hdr  [5]byte // a frame header read in part
	nh   int
	msg  []byte // JSON modes: the message being read
	body bool   // JSON modes: a payload is being read into msg

	pending []byte // output not yet handed out, before text encoding
	enc     []byte // base64 not yet handed out (a read shorter than 4 bytes)
	encBuf  [4]byte
	out     []byte // backs pending in JSON modes
	scratch []byte
	// tail is the trailer frame, handed out after pending.
	tail    []byte
	tailBuf [256]byte
	// req is the request body the gateway sends, when it is not the
	// client's own.
	req     requestBody
	done    bool
	emitted bool  // output was handed out
	err     error // handed out once the output before it is
}

// requestBody is a request body in memory, closed as a no-op; part of
// webBody, so that it costs no allocation of its own.
type requestBody struct{ bytes.Reader }

func (requestBody) Close() error { return nil }

func (b *webBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(b.enc) > 0 || len(b.pending) > 0 {
			return b.emit(p), nil
		}
		if len(b.tail) > 0 {
			b.pending, b.tail = b.tail, nil
			continue
		}
		if b.done {
			if b.err != nil {
				return 0, b.err
			}
			return 0, io.EOF
		}
		if b.mode.text || b.method != nil || len(p) < 16 {
			b.fill()
			continue
		}
		// Binary frames pass as they are, read straight into p.
		h := copy(p, b.hdr[:b.nh])
		n, err := b.src.Read(p[h:])
		b.nh = 0
		k := b.pass(p[:h+n])
		if err != nil {
			b.end(err)
		}
		if k > 0 {
			b.emitted = true
			return k, nil
		}
	}
}

// fill reads the next piece of the upstream body into pending.
func (b *webBody) fill() {
	if b.scratch == nil {
		b.scratch = make([]byte, scratchSize)
	}
	if b.method != nil {
		n, err := b.src.Read(b.scratch)
		b.out = b.out[:0]
		b.transcode(b.scratch[:n])
		b.pending = b.out
		if err != nil {
			b.end(err)
		}
		return
	}
	h := copy(b.scratch, b.hdr[:b.nh])
	n, err := b.src.Read(b.scratch[h:])
	b.nh = 0
	b.pending = b.scratch[:b.pass(b.scratch[:h+n])]
	if err != nil {
		b.end(err)
	}
}

// emit hands out pending output, base64-encoded in text mode. Each piece
// is encoded on its own, padded: gRPC-Web clients decode text answers
// quantum by quantum, so padded pieces one after the other read as one
// stream, and no byte waits for the next message to be sent.
func (b *webBody) emit(p []byte) int {
	b.emitted = true
	if len(b.enc) > 0 {
		n := copy(p, b.enc)
		b.enc = b.enc[n:]
		return n
	}
	if !b.mode.text {
		n := copy(p, b.pending)
		b.pending = b.pending[n:]
		return n
	}
	k := min(len(b.pending), len(p)/4*3)
	if k == 0 {
		k = min(len(b.pending), 3)
		base64.StdEncoding.Encode(b.encBuf[:], b.pending[:k])
		b.pending = b.pending[k:]
		b.enc = b.encBuf[:base64.StdEncoding.EncodedLen(k)]
		return b.emit(p)
	}
	base64.StdEncoding.Encode(p, b.pending[:k])
	b.pending = b.pending[k:]
	return base64.StdEncoding.EncodedLen(k)
}

// pass walks the frames of buf and returns how many of its bytes go to
// the client as they are; an incomplete header at its end is kept in
// b.hdr for the next read.
func (b *webBody) pass(buf []byte) int {
	i := 0
	for i < len(buf) {
		if b.rem > 0 {
			k := min(b.rem, len(buf)-i)
			i += k
			b.rem -= k
			continue
		}
		if len(buf)-i < 5 {
			b.nh = copy(b.hdr[:], buf[i:])
			return i
		}
		n, ok := b.header(buf[i : i+5])
		if !ok {
			return i
		}
		b.rem = n
		i += 5
	}
	return i
}

// transcode reads the frames of buf into whole messages and appends each
// one's JSON, framed unless the mode is plain JSON, to b.out.
func (b *webBody) transcode(buf []byte) {
	for len(buf) > 0 && !b.done {
		if !b.body {
			k := copy(b.hdr[b.nh:], buf)
			b.nh += k
			buf = buf[k:]
			if b.nh < 5 {
				return
			}
			b.nh = 0
			n, ok := b.header(b.hdr[:])
			if !ok {
				return
			}
			if b.hdr[0]&1 != 0 {
				// The request asked for no compression; a message
				// compressed anyway cannot be read.
				b.fail(codeInternal, "grpc-web: compressed upstream message in a JSON call")
				return
			}
			b.rem, b.body, b.msg = n, true, b.msg[:0]
		}
		k := min(b.rem, len(buf))
		b.msg = append(b.msg, buf[:k]...)
		buf = buf[k:]
		b.rem -= k
		if b.rem == 0 {
			b.body = false
			b.rendered()
		}
	}
}

// rendered appends the JSON of the message in b.msg to b.out.
func (b *webBody) rendered() {
	at := len(b.out)
	if b.mode.framed {
		b.out = append(b.out, 0, 0, 0, 0, 0)
	}
	out, err := b.method.ResponseJSON(b.out, b.msg, jsonOptions)
	if err != nil {
		// The upstream's message does not fit the proto: its answer is
		// malformed for this call.
		b.out = b.out[:at]
		b.fail(codeInternal, "grpc-web: upstream message does not match the proto")
		return
	}
	b.out = out
	if b.mode.framed {
		binary.BigEndian.PutUint32(b.out[at+1:], uint32(len(b.out)-at-5))
	}
}

// header checks a frame header and returns its payload length; on a
// frame no gRPC server sends it ends the body with an error trailer.
func (b *webBody) header(h []byte) (int, bool) {
	if h[0]&^1 != 0 {
		b.fail(codeInternal, "grpc-web: malformed frame from the upstream")
		return 0, false
	}
	n := binary.BigEndian.Uint32(h[1:5])
	if uint64(n) > uint64(b.max) {
		b.fail(codeResourceExhausted, "grpc-web: upstream message larger than "+strconv.Itoa(b.max)+" bytes")
		return 0, false
	}
	return int(n), true
}

// fail ends the body with a status of its own: a trailer frame; in plain
// JSON, which has none, a 502 with the error body when nothing was
// produced yet, else a cut answer.
func (b *webBody) fail(code int, msg string) {
	b.done = true
	switch {
	case b.mode.framed:
		b.tail = appendTrailer(b.tailBuf[:0], strconv.Itoa(code), msg, "", nil)
	case !b.emitted && len(b.out) == 0:
		b.resp.Status = http.StatusBadGateway
		b.tail = b.set.ErrorJSON(b.tailBuf[:0], code, msg, "", jsonOptions)
	default:
		b.err = errors.New(msg)
	}
}

// end handles the upstream body's end (err io.EOF) or failure.
func (b *webBody) end(err error) {
	if b.done {
		return
	}
	b.done = true
	if err != io.EOF {
		b.err = err
		return
	}
	if b.rem > 0 || b.nh > 0 || b.body {
		b.err = errTruncated
		return
	}
	if !b.mode.framed {
		b.endJSON()
		return
	}
	b.tail = appendTrailer(b.tailBuf[:0], b.status, b.message, b.details, b.resp.Trailer)
	// The trailer travels in the body now: the client gets no HTTP
	// trailer as well.
	b.resp.Trailer = nil
}
