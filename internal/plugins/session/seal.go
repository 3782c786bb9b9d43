package session

import (
	"encoding/binary"

	"github.com/turnpikegw/turnpike/internal/plugin/cookie"
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
	c *cookie.Sealer
}

// newSealer derives the AES-256 key from the secret and audience and binds
// cookies to their name and audience.
func newSealer(secret, audience, cookieName string) (*sealer, error) {
	c, err := cookie.NewSealer(secret, "turnpike session v1\x00"+audience, cookieName+"\x00"+audience, maxCookie)
	if err != nil {
		return nil, err
	}
	return &sealer{c: c}, nil
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
	return s.c.Seal(cookie.AppendStrings(plain, d.consumerID, d.credentialID, d.subject))
}

// open decrypts a cookie value; ok is false for anything this sealer did
// not seal, unchanged.
func (s *sealer) open(v string) (d data, ok bool) {
	plain, ok := s.c.Open(v)
	if !ok || len(plain) < fixedSize {
		return d, false
	}
	d.created = int64(binary.BigEndian.Uint64(plain[0:]))
	d.issued = int64(binary.BigEndian.Uint64(plain[8:]))
	d.remember = plain[16] == 1
	copy(d.id[:], plain[17:fixedSize])
	if !cookie.ReadStrings(plain[fixedSize:], &d.consumerID, &d.credentialID, &d.subject) {
		return data{}, false
	}
	return d, true
}
