package plugin

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
)

// ReadBody reads r's whole body for a plugin that inspects it (a key or
// a signature in the body) and puts the bytes back for the upstream. ok
// is false for a body longer than limit bytes or one that could not be
// read: what was read is then put back before the rest, or before the
// same error, so the request can still go on (as the anonymous consumer)
// with its body whole, or fail upstream as it would have. A request
// without a body reads as (nil, true).
func ReadBody(r *http.Request, limit int) (raw []byte, ok bool) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, true
	}
	orig := r.Body
	raw, err := io.ReadAll(io.LimitReader(orig, int64(limit)+1))
	switch {
	case err != nil:
		r.Body = readCloser{io.MultiReader(bytes.NewReader(raw), errReader{err}), orig}
		return nil, false
	case len(raw) > limit:
		r.Body = readCloser{io.MultiReader(bytes.NewReader(raw), orig), orig}
		return nil, false
	}
	SetBody(r, raw)
	return raw, true
}

// SetBody makes raw the body sent upstream, in place of the one a
// ReadBody read (whose Close it keeps), and its length the request's
// Content-Length. An empty raw is no body.
func SetBody(r *http.Request, raw []byte) {
	r.ContentLength = int64(len(raw))
	switch {
	case len(raw) == 0:
		// The server closes the request's own body when the exchange ends.
		r.Body = http.NoBody
	case r.Body == nil || r.Body == http.NoBody:
		r.Body = io.NopCloser(bytes.NewReader(raw))
	default:
		r.Body = readCloser{bytes.NewReader(raw), r.Body}
	}
	if _, ok := r.Header["Content-Length"]; ok {
		r.Header["Content-Length"] = []string{strconv.Itoa(len(raw))}
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
