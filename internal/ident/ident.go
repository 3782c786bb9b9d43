// Package ident holds the UUID arithmetic Kong's ids rest on: name-based
// (version 5) UUIDs, and the parsing that lets the router order routes by id.
package ident

import (
	"crypto/sha1"
	"encoding/hex"
)

// UUID is a UUID's 16 bytes. Comparing two as byte strings orders them as
// Kong's router (Kong/atc-router, a Rust uuid::Uuid) does.
type UUID [16]byte

// V5 is the version 5 UUID of name in namespace ns (RFC 9562).
func V5(ns UUID, name string) UUID {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u UUID
	copy(u[:], h.Sum(nil))
	return u.withV5()
}

// V5Layout gives the first 16 bytes of sum the version 5 and variant bits.
func V5Layout(sum [sha1.Size]byte) UUID {
	var u UUID
	copy(u[:], sum[:])
	return u.withV5()
}

func (u UUID) withV5() UUID {
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

// Parse reads the canonical form (hex digits of either case with four
// hyphens).
func Parse(s string) (UUID, bool) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	var buf [32]byte
	copy(buf[0:8], s[0:8])
	copy(buf[8:12], s[9:13])
	copy(buf[12:16], s[14:18])
	copy(buf[16:20], s[19:23])
	copy(buf[20:32], s[24:36])
	if _, err := hex.Decode(u[:], buf[:]); err != nil {
		return UUID{}, false
	}
	return u, true
}

// MustParse is Parse for constants.
func MustParse(s string) UUID {
	u, ok := Parse(s)
	if !ok {
		panic("ident: not a UUID: " + s)
	}
	return u
}

// String is the canonical lower-case form.
func (u UUID) String() string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
