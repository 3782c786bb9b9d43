package server

import (
	"net"
)

// write is a Write of an HTTP/2 connection; it follows the server's frame
// boundaries so that a GOAWAY can be put between two frames.
func (g *h2Guard) write(c net.Conn, p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sent {
		return 0, net.ErrClosed
	}
	n, err := c.Write(p)
	g.track(p[:n])
	if g.abused.Load() {
		g.goAway(c)
	}
	return n, err
}

func (g *h2Guard) track(p []byte) {
	for len(p) > 0 {
		switch {
		case g.outCodeN > 0:
			g.outCode = g.outCode<<8 | uint32(p[0])
			g.outCodeN--
			g.outSkip--
			p = p[1:]
			if g.outCodeN == 0 {
				g.serverReset()
			}
		case g.outSkip > 0:
			n := uint32(len(p))
			if n > g.outSkip {
				n = g.outSkip
			}
			g.outSkip -= n
			p = p[n:]
		default:
			n := copy(g.outHdr[g.outHdrN:], p)
			g.outHdrN += n
			p = p[n:]
			if g.outHdrN < frameHeaderLen {
				return
			}
			g.outHdrN = 0
			h := &g.outHdr
			g.outSkip = uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
			g.serverFrame(h)
		}
	}
}

// serverFrame takes in the header of a frame the server writes.
func (g *h2Guard) serverFrame(h *[frameHeaderLen]byte) {
	id := streamID(h)
	if !recent(id, g.opened.Load()) {
		if h[3] == frameRSTStream && g.outSkip == 4 && g.maxResets > 0 {
			g.outCodeN, g.outCode = 4, 0
		}
		return
	}
	switch h[3] {
	case frameHeaders:
		g.answered.set(id)
		fallthrough
	case frameData:
		if h[4]&flagEndStream != 0 {
			g.ended.set(id)
		}
	case frameRSTStream:
		if g.outSkip == 4 && g.maxResets > 0 && !g.ended.has(id) {
			g.outCodeN, g.outCode = 4, 0
		}
		g.ended.set(id)
	}
}

// serverReset counts the server RST_STREAM just written (its header is
// still in outHdr) when the client brought it about. NO_ERROR ends a
// stream whose response is complete while the client is still sending
// (RFC 9113 8.1); REFUSED_STREAM turns away a stream before any work; and
// INTERNAL_ERROR reports a failure of the handler or the upstream, which is
// not the client's doing. Every other code answers something the client
// sent. Only a stream the server had not ended yet gets this far: net/http
// answers each DATA frame still in flight on a stream it has ended with a
// reset, and an honest uploader whose response came early would pay for
// every one.
func (g *h2Guard) serverReset() {
	switch g.outCode {
	case errNo, errRefused, errInternal:
		return
	}
	n := g.serverResets.Add(1)
	if g.maxResets > 0 && int(g.windowResets.Load()+n) > g.maxResets {
		g.abused.Store(true) // write, which called us, sends the GOAWAY
	}
}
