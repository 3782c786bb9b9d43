package server

import (
	"sync"
	"unsafe"
)

// An arena hands out write-once byte ranges that become strings without a
// copy: the bytes of a request head are copied into one once, and the
// method, target, header names and values are substrings of that copy.
// Nothing is ever written twice into an arena's memory (the offset only
// grows and a full chunk is dropped, never reset), so a string a plugin or
// an observer keeps stays what it was. A chunk serves many requests, so a
// request costs no allocation of its own; a kept string keeps its whole
// chunk (arenaChunk bytes) alive until it is dropped.
type arena struct {
	buf []byte
	off int
}

const arenaChunk = 16 << 10

var arenas = sync.Pool{New: func() any { return &arena{buf: make([]byte, arenaChunk)} }}

// copyString returns b's bytes as a string the arena owns.
func (a *arena) copyString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > len(a.buf)-a.off {
		if len(b) > arenaChunk/4 {
			return string(b)
		}
		a.buf, a.off = make([]byte, arenaChunk), 0
	}
	dst := a.buf[a.off : a.off+len(b) : a.off+len(b)]
	copy(dst, b)
	a.off += len(b)
	return unsafe.String(&dst[0], len(dst))
}
