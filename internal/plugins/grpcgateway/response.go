package grpcgateway

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/transcode"
)

// call is one transcoded request, from Access to the end of its body; it
// is also the body filter's reader.
type call struct {
	in      *instance
	c       *plugin.Ctx
	set     *transcode.Set
	b       *transcode.Binding
	sse     bool
	stream  bool
	pre     []string // response header names set before the upstream answered
	status  string   // grpc-status, grpc-message and details of a
	message string   // trailers-only answer (in the response head)
	details string
	frames  *transcode.FrameReader
	out     []byte
	off     int
	first   bool
	ended   bool
}

func (in *instance) begin(c *plugin.Ctx, set *transcode.Set, b *transcode.Binding, sse bool) {
	st := &call{in: in, c: c, set: set, b: b, sse: sse, stream: b.Method.ServerStreaming, first: true}
	for k := range c.Resp.Header {
		st.pre = append(st.pre, k)
	}
	if c.Shared == nil {
		c.Shared = make(map[string]any, 1)
	}
	c.Shared[in.name] = st
}

func (in *instance) call(c *plugin.Ctx) *call {
	st, _ := c.Shared[in.name].(*call)
	return st
}

// HeaderFilter sets the JSON content type and turns the upstream's
// response metadata into Grpc-Metadata- headers.
func (in *instance) HeaderFilter(c *plugin.Ctx) {
	st := in.call(c)
	if st == nil {
		return
	}
	h := c.Resp.Header
	h["Access-Control-Allow-Origin"] = vAnyOrigin
	if !c.Resp.FromUpstream {
		return
	}
	st.status, st.message, st.details = h.Get("Grpc-Status"), h.Get("Grpc-Message"), h.Get("Grpc-Status-Details-Bin")
	// Renamed after the walk: a key added while ranging over a map may or
	// may not be visited, and would be taken for gRPC's own.
	var meta []string
	for k := range h {
		switch {
		case strings.HasPrefix(k, "Grpc-"), k == "Content-Type", k == "Content-Length", k == "Trailer":
			delete(h, k)
		case st.metadata(k):
			meta = append(meta, k)
		}
	}
	for _, k := range meta {
		h["Grpc-Metadata-"+k] = h[k]
		delete(h, k)
	}
	switch {
	case !st.stream:
		h["Content-Type"] = vJSON
	case st.sse:
		h["Content-Type"] = vEventStream
	default:
		h["Content-Type"] = vNDJSON
	}
}

// metadata reports whether response header k came from the upstream's
// metadata rather than from the gateway or a plugin.
func (st *call) metadata(k string) bool {
	for _, p := range st.pre {
		if p == k {
			return false
		}
	}
	switch {
	case strings.HasPrefix(k, "Access-Control-"), strings.HasPrefix(k, "X-Ratelimit-"), strings.HasPrefix(k, "Ratelimit"),
		strings.HasPrefix(k, "X-Cache"), strings.HasPrefix(k, "X-Kong-"), strings.HasPrefix(k, "Grpc-Metadata-"):
		return false
	}
	switch k {
	case "Date", "Server", "Vary", "Retry-After", "Age", "Via", "Set-Cookie", "Cache-Control":
		return false
	}
	return true
}

// Fallback answers the gateway's own 502, 503 and 504 for a transcoded
// call in the call's terms, {"code","message","details"} with the gRPC
// code a proxy reports for them (UNAVAILABLE, DEADLINE_EXCEEDED), as the
// upstream's own errors are answered.
func (in *instance) Fallback(c *plugin.Ctx) *plugin.Exit {
	if c.Resp.FromUpstream {
		return nil
	}
	st := in.call(c)
	if st == nil {
		return nil
	}
	code, msg := 14, "the upstream is unavailable"
	switch c.Resp.Status {
	case http.StatusGatewayTimeout:
		code, msg = 4, "the upstream did not answer in time"
	case http.StatusBadGateway, http.StatusServiceUnavailable:
	default:
		return nil
	}
	return &plugin.Exit{Status: c.Resp.Status, ContentType: "application/json",
		Body: st.set.ErrorJSON(nil, code, msg, "", in.opts)}
}

// BodyFilter replaces the gRPC frames with JSON: a unary answer read whole
// (its status decides the HTTP status), a stream one message per line.
func (in *instance) BodyFilter(c *plugin.Ctx, body io.Reader) io.Reader {
	st := in.call(c)
	if st == nil || !c.Resp.FromUpstream {
		return body
	}
	st.frames = transcode.NewFrameReader(body, in.max)
	return st
}

func (st *call) Read(p []byte) (int, error) {
	for st.off == len(st.out) {
		if st.ended {
			return 0, io.EOF
		}
		st.out, st.off = st.out[:0], 0
		if st.stream {
			st.next()
		} else {
			st.unary()
		}
		st.first = false
	}
	n := copy(p, st.out[st.off:])
	st.off += n
	return n, nil
}

// unary reads the one answer and its status, and renders either.
func (st *call) unary() {
	st.ended = true
	// got, not msg != nil: an empty message (google.protobuf.Empty) is a
	// frame of no bytes, which the frame reader may return as nil.
	var msg []byte
	got := false
	for n := 0; ; n++ {
		flags, m, err := st.frames.Next()
		if err == io.EOF {
			break
		}
		if err == nil && flags&1 != 0 {
			err = errCompressed
		}
		if err != nil || n > 0 {
			st.fail(err)
			return
		}
		msg, got = m, true
	}
	code, message, details := st.final()
	h := st.c.Resp.Header
	if code != 0 || !got {
		if code == 0 {
			code, message = 13, "the upstream answered no message"
		}
		st.c.Resp.Status = transcode.HTTPStatus(code)
		st.out = st.set.ErrorJSON(st.out, code, message, details, st.in.opts)
	} else {
		out, err := st.b.Response(st.out, msg, st.in.opts)
		if err != nil {
			st.fail(err)
			return
		}
		st.out = out
	}
	h["Content-Length"] = []string{strconv.Itoa(len(st.out))}
}

// next renders the stream's next message, or its end: a status that is
// not OK is the answer when nothing was sent yet, else a last error line.
func (st *call) next() {
	flags, m, err := st.frames.Next()
	if err == nil && flags&1 != 0 {
		err = errCompressed
	}
	if err == nil {
		out, jerr := st.b.Response(st.out, m, st.in.opts)
		if jerr != nil {
			st.fail(jerr)
			return
		}
		st.out = st.line(out, len(st.out))
		return
	}
	st.ended = true
	if err != io.EOF {
		st.fail(err)
		return
	}
	code, message, details := st.final()
	if code == 0 {
		return
	}
	if st.first {
		st.c.Resp.Status = transcode.HTTPStatus(code)
		st.c.Resp.Header["Content-Type"] = vJSON
		st.out = st.set.ErrorJSON(st.out, code, message, details, st.in.opts)
		return
	}
	start := len(st.out)
	st.out = append(st.out, `{"error":`...)
	st.out = st.set.ErrorJSON(st.out, code, message, details, st.in.opts)
	st.out = st.line(append(st.out, '}'), start)
}

// line frames the JSON in out[start:] as one NDJSON line or SSE event.
func (st *call) line(out []byte, start int) []byte {
	if !st.sse {
		return append(out, '\n')
	}
	out = append(out, "\n\n"...)
	return append(out[:start], append([]byte("data: "), out[start:]...)...)
}

// final is the call's gRPC status: from the trailer, or from the head of
// a trailers-only answer, or derived from an HTTP status that carried
// none (gRPC's rule for proxies that answered instead of the server).
// The trailer's other fields come back as Grpc-Metadata- headers when the
// head is still to be sent; the trailer itself is consumed, not passed
// on to a REST client.
func (st *call) final() (int, string, string) {
	c := st.c
	status, message, details := st.status, st.message, st.details
	if tr := c.Resp.Trailer; tr != nil {
		if v := tr.Get("Grpc-Status"); v != "" {
			status, message, details = v, tr.Get("Grpc-Message"), tr.Get("Grpc-Status-Details-Bin")
		}
		if st.first {
			for k, vs := range tr {
				if !strings.HasPrefix(k, "Grpc-") {
					c.Resp.Header["Grpc-Metadata-"+k] = vs
				}
			}
		}
		c.Resp.Trailer = nil
	}
	if status == "" {
		return httpCode(c.Resp.Status), http.StatusText(c.Resp.Status), ""
	}
	code, err := strconv.Atoi(status)
	if err != nil || code < 0 {
		return 2, "invalid grpc-status " + strconv.Quote(status), ""
	}
	return code, transcode.DecodeMessage(message), details
}

// httpCode maps the HTTP status of an answer without grpc-status to a
// gRPC code, as gRPC's HTTP mapping says.
func httpCode(status int) int {
	switch status {
	case http.StatusOK:
		return 0
	case http.StatusBadRequest:
		return 13
	case http.StatusUnauthorized:
		return 16
	case http.StatusForbidden:
		return 7
	case http.StatusNotFound:
		return 12
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return 14
	}
	return 2
}

// errCompressed is a compressed message, which the gateway never invites
// (it sends no grpc-accept-encoding) and so cannot decode.
var errCompressed = errors.New("a compressed message, which was not asked for")

// fail answers a malformed or broken upstream answer: a 502 when nothing
// was sent yet, else a last error line of the stream.
func (st *call) fail(err error) {
	st.ended = true
	msg := "the upstream's answer is not valid gRPC"
	if errors.Is(err, transcode.ErrFrameTooLarge) {
		msg = "the upstream's message is larger than max_message_size"
	}
	st.in.log.Warn("grpc-gateway: bad upstream answer", "error", err)
	if st.first {
		st.c.Resp.Status = http.StatusBadGateway
		st.c.Resp.Header["Content-Type"] = vJSON
		st.out = st.set.ErrorJSON(st.out[:0], 13, msg, "", st.in.opts)
		if !st.stream {
			st.c.Resp.Header["Content-Length"] = []string{strconv.Itoa(len(st.out))}
		}
		return
	}
	start := len(st.out)
	st.out = append(st.out, `{"error":`...)
	st.out = st.set.ErrorJSON(st.out, 13, msg, "", st.in.opts)
	st.out = st.line(append(st.out, '}'), start)
}
