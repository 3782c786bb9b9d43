package plugin

import (
	"encoding/base64"
	"strings"
)

// AppendDecodeBase64 appends to dst what ngx.decode_base64 (the credential
// decoding of Kong's basic-auth, hmac-auth and ldap-auth) makes of s: the
// standard alphabet, decoding stops at the first '=', padding may be
// omitted, unused trailing bits are ignored; any other character (CR and
// LF included, which Go's decoder would skip) or a lone 6-bit group makes
// the value invalid, and ok false. It allocates only when dst is too
// small.
func AppendDecodeBase64(dst []byte, s string) (out []byte, ok bool) {
	if i := strings.IndexByte(s, '='); i >= 0 {
		s = s[:i]
	}
	if strings.ContainsAny(s, "\r\n") {
		return dst, false
	}
	// Base64 decodes in independent groups of four characters: s is
	// copied through a buffer on the stack a multiple of four at a time.
	var src [256]byte
	out = dst
	for len(s) > 0 {
		n := copy(src[:], s)
		s = s[n:]
		var err error
		if out, err = base64.RawStdEncoding.AppendDecode(out, src[:n]); err != nil {
			return dst, false
		}
	}
	return out, true
}
