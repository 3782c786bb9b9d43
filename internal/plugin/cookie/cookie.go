// Package cookie holds what the plugins that keep state in a browser
// cookie share: an AES-256-GCM sealer under a key derived with HKDF-SHA256,
// the Cookie header reader, and the splitting of a value too long for one
// cookie into numbered chunks.
//
// A sealed value is base64url (no padding) of a version byte, a fresh
// 12-byte nonce and the ciphertext with its tag. The additional data binds
// it to what the caller names (the cookie's name, an audience), so a value
// copied into another cookie, or sealed for another audience, does not
// open.
package cookie

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

const (
	version   = 1
	nonceSize = 12
)

// Sealer encrypts and authenticates cookie values under one key.
type Sealer struct {
	aead cipher.AEAD
	aad  []byte
	max  int
}

// NewSealer derives the AES-256 key from secret with HKDF-SHA256 and info
// (which separates the keys of different uses of one secret); aad is bound
// to every value; Open refuses a value longer than maxLen without work.
func NewSealer(secret, info, aad string, maxLen int) (*Sealer, error) {
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, info, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead, aad: []byte(aad), max: maxLen}, nil
}

// Seal returns plain encrypted as a cookie value.
func (s *Sealer) Seal(plain []byte) string {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plain)+s.aead.Overhead())
	out[0] = version
	rand.Read(out[1 : 1+nonceSize]) // never fails: it crashes the process instead
	out = s.aead.Seal(out, out[1:1+nonceSize], plain, s.aad)
	return base64.RawURLEncoding.EncodeToString(out)
}

// Open decrypts a value; ok is false for anything this sealer did not
// seal, unchanged.
func (s *Sealer) Open(v string) (plain []byte, ok bool) {
	if len(v) > s.max {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(raw) < 1+nonceSize+s.aead.Overhead() || raw[0] != version {
		return nil, false
	}
	plain, err = s.aead.Open(raw[1+nonceSize:1+nonceSize], raw[1:1+nonceSize], raw[1+nonceSize:], s.aad)
	return plain, err == nil
}

// Get finds the first cookie called name in the Cookie headers, as
// NGINX's $cookie_name does.
func Get(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimLeft(part, " \t")
			if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
				return strings.TrimRight(part[len(name)+1:], " \t"), true
			}
		}
	}
	return "", false
}

// Expired is what follows an empty value to remove a cookie.
const Expired = "; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"

// ValidName reports whether s may be a cookie's name or path as it is
// written into a Set-Cookie header.
func ValidName(s string) bool {
	return s != "" && !strings.ContainsAny(s, ";,= \t\r\n\"")
}
