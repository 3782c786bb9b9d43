package compression

import (
	"io"
	"net/http"
	"strings"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// encodingValues are the Content-Encoding values set, shared by every
// response: capacity 1, so a later Add appends to a copy.
var encodingValues = func() (v [numCodings][]string) {
	for k := range v {
		v[k] = []string{codingNames[k]}[:1:1]
	}
	return v
}()

// HeaderFilter decides whether the upstream's response is compressed and
// rewrites its head accordingly.
func (in *instance) HeaderFilter(c *plugin.Ctx) {
	if !c.Resp.FromUpstream {
		// A gateway answer's body comes to ExitBody, whole.
		return
	}
	length := int64(-1)
	cl := c.Resp.Header["Content-Length"]
	if len(cl) > 0 {
		if n, ok := parseLength(cl[0]); ok {
			length = n
		}
	}
	k := in.choose(c, length)
	if k == noCoding {
		return
	}
	if c.Shared == nil {
		c.Shared = make(map[string]any, 1)
	}
	c.Shared[name] = &reader{pool: in.pools[k], flush: len(cl) == 0}
	rewriteHead(c.Resp.Header, k)
}

// choose applies the rules to the response in c, whose body has length
// bytes (-1: unknown), and returns the coding to send it in, with a pool
// slot reserved for it, or noCoding. It adds Vary to a response whose
// representation depends on Accept-Encoding, compressed or not.
func (in *instance) choose(c *plugin.Ctx, length int64) coding {
	s, h := in.s, c.Resp.Header
	status := c.Resp.Status
	if status < 200 || status == http.StatusNoContent || status == http.StatusPartialContent {
		return noCoding
	}
	if _, ok := h["Content-Encoding"]; ok || noTransform(h["Cache-Control"]) {
		return noCoding
	}
	if s.skipSetCookie {
		if _, ok := h["Set-Cookie"]; ok {
			return noCoding
		}
	}
	ct := h["Content-Type"]
	if status == http.StatusNotModified {
		// The stored response it validates was compressed for a client
		// that negotiates a coding: its Vary and weak ETag stay as they
		// were, so a cache matches the validator (RFC 9111 4.3.4).
		if (len(ct) == 0 || s.matchType(ct[0])) && negotiate(c.Req.Header["Accept-Encoding"], s.prefs) != noCoding {
			addVary(h)
			weakenETag(h)
		}
		return noCoding
	}
	if _, ok := c.Req.Header["Range"]; ok || len(ct) == 0 || !s.matchType(ct[0]) {
		return noCoding
	}
	// An empty body stays empty: its coding's framing would only add.
	if length >= 0 && (length < s.minLength || length == 0) {
		return noCoding
	}
	addVary(h)
	k := negotiate(c.Req.Header["Accept-Encoding"], s.prefs)
	if k == noCoding || !in.pools[k].reserve() {
		// Past maxBusy encoders at work the response goes as is: a flood
		// of slow clients holds no more encoder memory than that.
		return noCoding
	}
	return k
}

// rewriteHead makes h the head of the response in coding k.
func rewriteHead(h http.Header, k coding) {
	h["Content-Encoding"] = encodingValues[k]
	delete(h, "Content-Length")
	// Byte ranges of the identity body mean nothing in the compressed one.
	delete(h, "Accept-Ranges")
	weakenETag(h)
}

// ExitBody compresses the body of a gateway answer (a cache hit) as the
// client asks, once every header filter ran: the proxy passes Exit
// bodies here, whole, rather than through the body filters.
func (in *instance) ExitBody(c *plugin.Ctx, body []byte) []byte {
	k := in.choose(c, int64(len(body)))
	if k == noCoding {
		return body
	}
	p := in.pools[k]
	defer p.unreserve()
	cd := p.get()
	cd.enc.Write(body)
	cd.enc.Close()
	out := append([]byte(nil), cd.out...)
	p.put(cd)
	rewriteHead(c.Resp.Header, k)
	return out
}

// BodyFilter streams the body through the coding the header filter chose.
func (in *instance) BodyFilter(c *plugin.Ctx, body io.Reader) io.Reader {
	r, _ := c.Shared[name].(*reader)
	if r == nil || r.src != nil {
		return body
	}
	r.src = body
	return r
}

// Log gives back the encoder and its slot of a response that did not end
// its body (a HEAD, a client gone, an upstream cut).
func (in *instance) Log(c *plugin.Ctx) {
	if r, _ := c.Shared[name].(*reader); r != nil {
		r.release()
	}
}

// noTransform reports a no-transform directive in Cache-Control values.
func noTransform(vs []string) bool {
	for _, v := range vs {
		for v != "" {
			var d string
			d, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(d), "no-transform") {
				return true
			}
		}
	}
	return false
}

// addVary merges Accept-Encoding into Vary, unless Vary already names it
// or is "*".
func addVary(h http.Header) {
	vs := h["Vary"]
	for _, v := range vs {
		for v != "" {
			var f string
			f, v, _ = strings.Cut(v, ",")
			f = strings.TrimSpace(f)
			if f == "*" || strings.EqualFold(f, "Accept-Encoding") {
				return
			}
		}
	}
	h["Vary"] = append(vs[:len(vs):len(vs)], "Accept-Encoding")
}

// weakenETag makes a strong ETag weak: the compressed bytes are not the
// identity bytes a strong validator stands for, but the same
// representation.
func weakenETag(h http.Header) {
	if vs := h["Etag"]; len(vs) == 1 && strings.HasPrefix(vs[0], `"`) {
		h["Etag"] = []string{"W/" + vs[0]}
	}
}

// parseLength reads a Content-Length value; ok is false when it is none.
func parseLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// reader compresses src through a pooled coder, taken at the first Read
// (a HEAD response never takes one) and given back, with the pool slot
// the header filter reserved, at the body's end or in the log phase.
type reader struct {
	src  io.Reader
	pool *coderPool
	c    *coder
	off  int
	// released is set once the slot went back.
	released bool
	// flush flushes the encoder after every upstream read: the body has
	// no declared length (server-sent events, long polls), and the proxy
	// sends each read on at once.
	flush bool
	err   error
}

func (r *reader) Read(p []byte) (int, error) {
	for {
		if r.c != nil && r.off < len(r.c.out) {
			n := copy(p, r.c.out[r.off:])
			r.off += n
			return n, nil
		}
		if r.err != nil {
			r.release()
			return 0, r.err
		}
		if r.c == nil {
			r.c = r.pool.get()
		}
		r.c.out, r.off = r.c.out[:0], 0
		r.fill()
	}
}

// release gives back the coder and the slot, once.
func (r *reader) release() {
	if r.released {
		return
	}
	r.released = true
	if r.c != nil {
		r.pool.put(r.c)
		r.c = nil
	}
	r.pool.unreserve()
}

// fill encodes one read of the upstream's body into r.c.out, which may
// stay empty while the encoder gathers a block; it sets r.err at the end.
func (r *reader) fill() {
	c := r.c
	n, err := r.src.Read(c.in)
	if n > 0 {
		// Writes into a coder cannot fail.
		c.enc.Write(c.in[:n])
		if r.flush {
			c.enc.Flush()
		}
	}
	switch {
	case err == io.EOF:
		c.enc.Close()
		r.err = io.EOF
	case err != nil:
		r.err = err
	}
}
