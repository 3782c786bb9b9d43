package hmacauth

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"

	"github.com/turnpikegw/turnpike/internal/plugin"
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
	raw, ok := plugin.ReadBody(r, maxBodyBytes)
	if !ok {
		return false
	}
	digest, has := plugin.FirstValue(r.Header, "Digest")
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
