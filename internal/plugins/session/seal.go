package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
)

// data is what a session cookie holds.
type data struct {
	// created is when the session began (the absolute timeout counts from
	// it), issued when this cookie was issued (the rolling and idling
	// timeouts count from it); Unix seconds.
	created, issued int64
	// remember marks the persistent cookie.
	remember bool
	// id is the session's random id (Kong's Session-Id header).
	id                                [16]byte
	consumerID, credentialID, subject string
}

const (
	version   = 1
	nonceSize = 12
	// fixedSize is the plaintext before its strings: two times, the
	// flags and the id.
	fixedSize = 8 + 8 + 1 + 16
	// maxCookie bounds a cookie value this plugin opens: its own are a
	// few hundred bytes (ids are bounded by the configuration), so a
	// longer one was not issued here and costs nothing to refuse.
	maxCookie = 4096
)

// sealer encrypts and authenticates session cookies under one key.
type sealer struct {
	aead cipher.AEAD
	// aad binds a cookie to its name and audience.
	aad []byte
}

// newSealer derives the AES-256 key from the secret and audience.
func newSealer(secret, audience, cookieName string) (*sealer, error) {
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "turnpike session v1\x00"+audience, 32)
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
	return &sealer{aead: aead, aad: []byte(cookieName + "\x00" + audience)}, nil
}

// seal returns d as a cookie value.
func (s *sealer) seal(d *data) string {
	plain := make([]byte, fixedSize, fixedSize+6+len(d.consumerID)+len(d.credentialID)+len(d.subject))
	binary.BigEndian.PutUint64(plain[0:], uint64(d.created))
	binary.BigEndian.PutUint64(plain[8:], uint64(d.issued))
	if d.remember {
		plain[16] = 1
	}
	copy(plain[17:], d.id[:])
	for _, v := range []string{d.consumerID, d.credentialID, d.subject} {
		plain = binary.BigEndian.AppendUint16(plain, uint16(len(v)))
		plain = append(plain, v...)
	}
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plain)+s.aead.Overhead())
	out[0] = version
	rand.Read(out[1 : 1+nonceSize]) // never fails: it crashes the process instead
	out = s.aead.Seal(out, out[1:1+nonceSize], plain, s.aad)
	return base64.RawURLEncoding.EncodeToString(out)
}

// open decrypts a cookie value; ok is false for anything this sealer did
// not seal, unchanged.
func (s *sealer) open(v string) (d data, ok bool) {
	if len(v) > maxCookie {
		return d, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(raw) < 1+nonceSize+s.aead.Overhead() || raw[0] != version {
		return d, false
	}
	plain, err := s.aead.Open(raw[1+nonceSize:1+nonceSize], raw[1:1+nonceSize], raw[1+nonceSize:], s.aad)
	if err != nil || len(plain) < fixedSize {
		return d, false
	}
	d.created = int64(binary.BigEndian.Uint64(plain[0:]))
	d.issued = int64(binary.BigEndian.Uint64(plain[8:]))
	d.remember = plain[16] == 1
	copy(d.id[:], plain[17:fixedSize])
	rest := plain[fixedSize:]
	for _, dst := range []*string{&d.consumerID, &d.credentialID, &d.subject} {
		if len(rest) < 2 {
			return data{}, false
		}
		l := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+l {
			return data{}, false
		}
		*dst = string(rest[2 : 2+l])
		rest = rest[2+l:]
	}
	return d, len(rest) == 0
}
