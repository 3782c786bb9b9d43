package hmacauth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
)

// maxBodyBytes bounds the body read for validate_request_body. Kong reads
// only a body that fits its client body buffer and fails the check for a
// larger one; a larger body fails here too.
const maxBodyBytes = 8 << 20

// digestPrefix starts the only Digest value Kong accepts.
const digestPrefix = "SHA-256="

// validBody is Kong's validate_body: without a Digest header the body
// must be empty; with one, it must be "SHA-256=" and the Base64 SHA-256 of
// the body. The body read is put back for the upstream.
func validBody(r *http.Request) bool {
	raw, ok := readBody(r)
	if !ok {
		return false
	}
	digest, has := first(r.Header, "Digest")
	if !has {
		return len(raw) == 0
	}
	sum := sha256.Sum256(raw)
	var want [len(digestPrefix) + 44]byte
	copy(want[:], digestPrefix)
	base64.StdEncoding.Encode(want[len(digestPrefix):], sum[:])
	// The digest is of a body the client sent: nothing secret to time.
	return string(want[:]) == digest
}

// readBody reads the whole body, up to maxBodyBytes, and puts the bytes
// back for the upstream. ok is false for a larger body or a read error;
// what was read is then put back before the rest, so the proxy meets the
// same error or forwards the whole body if the request goes on anyway (as
// the anonymous consumer).
func readBody(r *http.Request) (raw []byte, ok bool) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, true
	}
	orig := r.Body
	raw, err := io.ReadAll(io.LimitReader(orig, maxBodyBytes+1))
	switch {
	case err != nil:
		r.Body = readCloser{io.MultiReader(bytes.NewReader(raw), errReader{err}), orig}
		return nil, false
	case len(raw) > maxBodyBytes:
		r.Body = readCloser{io.MultiReader(bytes.NewReader(raw), orig), orig}
		return nil, false
	}
	r.ContentLength = int64(len(raw))
	if len(raw) == 0 {
		r.Body = http.NoBody
	} else {
		r.Body = readCloser{bytes.NewReader(raw), orig}
	}
	if _, ok := r.Header["Content-Length"]; ok {
		r.Header["Content-Length"] = []string{strconv.Itoa(len(raw))}
	}
	return raw, true
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
