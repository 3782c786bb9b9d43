package responsetransformer

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// maxBody is the largest body the json rules read whole. Kong buffers any
// size; a larger body here streams through unchanged, with a warning, so
// that no response holds more than this much memory.
const maxBody = 8 << 20

// firstRead is the buffer a body of unknown length starts in.
const firstRead = 16 << 10

// warnEvery spaces the warnings of bodies that were too large or not
// JSON: one line, with the count since the last, at most this often.
const warnEvery = 10 * time.Second

// BodyFilter reads a JSON body whole and applies the json rules, when
// there are any; any other body streams through untouched. Whether it is
// JSON is decided by this plugin's header filter, on the upstream's head.
func (in *Instance) BodyFilter(c *plugin.Ctx, body io.Reader) io.Reader {
	if c.Shared[sharedKey] != true {
		return body
	}
	return &bodyReader{in: in, src: body, header: c.Resp.Header}
}

// encoded reports a Content-Encoding other than identity: such a body is
// not JSON text (Kong would fail to parse it and pass it unchanged).
func encoded(h http.Header) bool {
	for _, v := range h["Content-Encoding"] {
		if v != "" && v != "identity" {
			return true
		}
	}
	return false
}

// bodyReader reads the upstream body whole in its first Read, then hands
// out the transformed (or unchanged) body.
type bodyReader struct {
	in     *Instance
	src    io.Reader
	header http.Header
	j      *job
	// out is what is left to hand out; then err, or src when the body was
	// too large to transform.
	out  []byte
	err  error
	rest io.Reader
	read bool
}

func (r *bodyReader) Read(p []byte) (int, error) {
	if !r.read {
		r.read = true
		r.fill()
	}
	if len(r.out) > 0 {
		n := copy(p, r.out)
		r.out = r.out[n:]
		return n, nil
	}
	if r.j != nil {
		r.j.release()
		r.j = nil
	}
	if r.rest != nil {
		return r.rest.Read(p)
	}
	return 0, r.err
}

// fill reads the body, up to the limit, and transforms it.
func (r *bodyReader) fill() {
	in := r.in
	r.j = jobs.Get().(*job)
	buf := r.j.in[:0]
	if cl, err := strconv.ParseInt(r.header.Get("Content-Length"), 10, 64); err == nil && cl >= 0 && cl <= int64(in.limit) {
		buf = growTo(buf, int(cl)+1)
	}
	buf, err := readUpTo(r.src, buf, in.limit)
	r.j.in = buf
	switch {
	case err == errTooLarge:
		in.warnBig.warn(in.logger, "response-transformer: body larger than the limit passed unchanged", "limit", in.limit)
		r.out, r.rest = buf, r.src
		return
	case err != nil:
		// Cut short: what came goes out, then the error, as it would
		// without the plugin.
		r.out, r.err = buf, err
		return
	}
	r.err = io.EOF
	out, ok := in.json.transform(r.j, buf)
	if !ok {
		in.warnParse.warn(in.logger, "response-transformer: body transform failed: failed parsing json body")
		out = buf
	}
	r.out = out
	r.header["Content-Length"] = []string{strconv.Itoa(len(out))}
}

type tooLarge struct{}

func (tooLarge) Error() string { return "body too large" }

var errTooLarge error = tooLarge{}

// readUpTo reads src to its end into buf; past limit bytes it stops with
// errTooLarge, buf holding what was read.
func readUpTo(src io.Reader, buf []byte, limit int) ([]byte, error) {
	if cap(buf) == 0 {
		buf = make([]byte, 0, firstRead)
	}
	for {
		if len(buf) == cap(buf) {
			buf = growTo(buf, 2*cap(buf))
		}
		n, err := src.Read(buf[len(buf):min(cap(buf), limit+1)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b
	}
	nb := make([]byte, len(b), n)
	copy(nb, b)
	return nb
}

// warnPacer logs one warning at most every warnEvery, with the number of
// occurrences since the last line: an upstream cannot flood the log.
type warnPacer struct {
	last   atomic.Int64
	missed atomic.Int64
}

func (w *warnPacer) warn(l *slog.Logger, msg string, args ...any) {
	n := w.missed.Add(1)
	now := time.Now().UnixNano()
	if last := w.last.Load(); now-last >= int64(warnEvery) && w.last.CompareAndSwap(last, now) {
		w.missed.Add(-n)
		l.Warn(msg, append(args, "responses", n)...)
	}
}
