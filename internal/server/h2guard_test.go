package server

import (
	"bytes"
	"net"
	"testing"
)

func h2frame(typ, flags byte, id uint32, payload []byte) []byte {
	n := len(payload)
	b := []byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
	return append(b, payload...)
}

// h2feed feeds stream whole, or in pieces of size step, and returns the
// first verdict other than h2OK.
func h2feed(maxResets int, stream []byte, step int) h2Verdict {
	var g h2Guard
	g.init(h2Limits{maxResets: maxResets}, 0)
	for len(stream) > 0 {
		n := min(step, len(stream))
		if v := g.feed(stream[:n]); v != h2OK {
			return v
		}
		stream = stream[n:]
	}
	return h2OK
}

func TestH2Guard(t *testing.T) {
	pairs := func(n int) []byte {
		var b []byte
		for i := range n {
			id := uint32(2*i + 1)
			b = append(b, h2frame(frameHeaders, 0x5, id, []byte{0x82, 0x86, 0x84})...)
			b = append(b, h2frame(frameRSTStream, 0, id, []byte{0, 0, 0, 8})...)
		}
		return b
	}
	empties := func(n int) []byte {
		var b []byte
		for range n {
			b = append(b, h2frame(frameData, 0, 1, nil)...)
		}
		return b
	}
	settings := h2frame(0x4, 0, 0, make([]byte, 6))
	ping := h2frame(0x6, 0, 0, make([]byte, 8))
	headers := func(id uint32) []byte { return h2frame(frameHeaders, 0x4, id, []byte{0x83}) }
	// streams opens n streams from 1 on, each after the frame between.
	streams := func(n int, between []byte) []byte {
		var b []byte
		for i := range n {
			b = append(append(b, between...), headers(uint32(2*i+1))...)
		}
		return b
	}
	// padded is DATA on stream 1 with n bytes of data and pad of padding.
	padded := func(n, pad int) []byte {
		return h2frame(frameData, flagPadded, 1, append(append([]byte{byte(pad)}, bytes.Repeat([]byte("x"), n)...), make([]byte, pad)...))
	}
	// A DATA payload that looks like frame headers is skipped, not parsed.
	disguised := h2frame(frameData, 0, 1, bytes.Repeat(h2frame(frameRSTStream, 0, 1, []byte{0, 0, 0, 8}), 50))
	for _, tc := range []struct {
		name      string
		maxResets int
		stream    string
		want      h2Verdict
	}{
		{"bad preface", 10, "PRI * HTTP/1.1\r\n", h2BadPreface},
		{"settings", 10, clientPreface + string(settings), h2OK},
		{"resets at the limit", 10, clientPreface + string(pairs(10)), h2OK},
		{"resets past the limit", 10, clientPreface + string(pairs(11)), h2Abuse},
		{"no limit", 0, clientPreface + string(pairs(300)), h2OK},
		{"resets in a payload", 10, clientPreface + string(disguised), h2OK},
		{"empty data run", 10, clientPreface + string(headers(1)) + string(empties(maxEmptyFrames)) + string(h2frame(frameData, 0, 1, []byte("x"))) + string(empties(maxEmptyFrames)), h2OK},
		{"empty data flood", 10, clientPreface + string(empties(maxEmptyFrames+1)), h2Abuse},
		{"empty data ending a stream again", 10, clientPreface + string(headers(1)) + string(bytes.Repeat(h2frame(frameData, flagEndStream, 1, nil), maxEmptyFrames+2)), h2Abuse},
		{"empty data ending each stream", 10, clientPreface + string(streams(300, h2frame(frameData, flagEndStream, 1, nil))), h2OK},
		{"padding only", 10, clientPreface + string(headers(1)) + string(bytes.Repeat(padded(0, 0), maxEmptyFrames+1)), h2Abuse},
		{"padding only run", 10, clientPreface + string(headers(1)) + string(bytes.Repeat(padded(0, 7), maxEmptyFrames)) + string(padded(3, 200)) + string(bytes.Repeat(padded(0, 7), maxEmptyFrames)), h2OK},
		{"padding longer than the frame", 10, clientPreface + string(bytes.Repeat(h2frame(frameData, flagPadded, 1, []byte{9, 0}), maxEmptyFrames+1)), h2Abuse},
		{"empty data and pings", 10, clientPreface + string(bytes.Repeat(append(empties(maxEmptyFrames/2), ping...), 3)), h2Abuse},
		{"priority", 10, clientPreface + string(bytes.Repeat(h2frame(framePriority, 0, 3, []byte{0, 0, 0, 0, 15}), maxEmptyFrames+1)), h2Abuse},
		{"priority run", 10, clientPreface + string(streams(300, h2frame(framePriority, 0, 3, []byte{0, 0, 0, 0, 15}))), h2OK},
		{"empty continuation", 10, clientPreface + string(h2frame(frameHeaders, 0, 1, []byte{0x82})) + string(bytes.Repeat(h2frame(frameCont, 0, 1, nil), maxEmptyFrames+1)), h2Abuse},
		{"continuation", 10, clientPreface + string(h2frame(frameHeaders, 0, 1, []byte{0x82})) + string(bytes.Repeat(h2frame(frameCont, 0, 1, []byte{0x40, 1, 'x', 1, 'y'}), 300)), h2OK},
		{"empty trailers", 10, clientPreface + string(headers(1)) + string(bytes.Repeat(h2frame(frameHeaders, 0, 1, nil), maxEmptyFrames+1)), h2Abuse},
		{"empty settings", 10, clientPreface + string(bytes.Repeat(h2frame(0x4, 0, 0, nil), maxEmptyFrames+1)), h2Abuse},
		{"settings acks", 10, clientPreface + string(bytes.Repeat(h2frame(0x4, flagAck, 0, nil), 300)), h2OK},
		{"settings and window updates", 10, clientPreface + string(bytes.Repeat(append(settings, h2frame(0x8, 0, 0, []byte{0, 0, 0, 1})...), 300)), h2OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{1, 5, 9, 1 << 20} {
				if got := h2feed(tc.maxResets, []byte(tc.stream), step); got != tc.want {
					t.Fatalf("pieces of %d: verdict %d, want %d", step, got, tc.want)
				}
			}
		})
	}
	t.Run("window", func(t *testing.T) {
		// 10 resets in every 20 streams never trips a limit of 10.
		var b []byte
		for i := range 200 {
			id := uint32(2*i + 1)
			b = append(b, h2frame(frameHeaders, 0x5, id, []byte{0x82})...)
			if i%2 == 0 {
				b = append(b, h2frame(frameRSTStream, 0, id, []byte{0, 0, 0, 8})...)
			}
		}
		if got := h2feed(10, append([]byte(clientPreface), b...), 7); got != h2OK {
			t.Fatalf("verdict %d", got)
		}
	})
}

// TestH2GuardGoAway: the GOAWAY goes out between two server frames, never
// inside one, and nothing is written after it.
func TestH2GuardGoAway(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	var g h2Guard
	g.init(h2Limits{maxResets: 1}, 0)
	got := make(chan []byte)
	go func() {
		var all []byte
		buf := make([]byte, 1024)
		for {
			n, err := client.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				got <- all
				return
			}
		}
	}()
	frame := h2frame(0x4, 0, 0, make([]byte, 12))
	g.write(server, frame[:5]) // the server is inside a frame
	g.abused.Store(true)
	g.mu.Lock()
	g.goAway(server)
	g.mu.Unlock()
	if g.sent {
		t.Fatal("GOAWAY sent inside a frame")
	}
	g.write(server, frame[5:]) // the frame ends: the GOAWAY follows
	if n, err := g.write(server, frame); n != 0 || err == nil {
		t.Fatalf("write after GOAWAY: %d, %v", n, err)
	}
	server.Close()
	all := <-got
	want := append(append([]byte{}, frame...), goAwayCalm...)
	if !bytes.Equal(all, want) {
		t.Fatalf("wrote\n%x\nwant\n%x", all, want)
	}
}

// TestH2GuardServerResets: the server's RST_STREAM frames the client
// brought about count with the client's (MadeYouReset, CVE-2025-8671),
// once per stream in a row, whatever pieces the server writes them in;
// NO_ERROR, REFUSED_STREAM and INTERNAL_ERROR do not count.
func TestH2GuardServerResets(t *testing.T) {
	rst := func(id uint32, code byte) []byte { return h2frame(frameRSTStream, 0, id, []byte{0, 0, 0, code}) }
	// A server RST_STREAM's code in a frame payload is skipped.
	disguised := h2frame(frameData, 0, 1, bytes.Repeat(rst(1, 1), 20))
	for _, tc := range []struct {
		name   string
		server []byte
		want   int32
	}{
		{"protocol error", append(rst(1, 0x1), rst(3, 0x1)...), 2},
		{"stream closed", rst(5, 0x5), 1},
		{"flow control", rst(5, 0x3), 1},
		{"no error", rst(1, 0x0), 0},
		{"refused", rst(1, 0x7), 0},
		{"internal", rst(1, 0x2), 0},
		{"same stream in a row", bytes.Repeat(rst(7, 0x5), 30), 1},
		{"two streams in turn", bytes.Repeat(append(rst(7, 0x5), rst(9, 0x5)...), 3), 2},
		{"response ended", append(h2frame(frameHeaders, 0x5, 7, []byte{0x88}), rst(7, 0x5)...), 0},
		{"response data ended", append(append(h2frame(frameHeaders, 0x4, 7, []byte{0x88}), h2frame(frameData, flagEndStream, 7, []byte("x"))...), rst(7, 0x5)...), 0},
		{"after its own reset", append(rst(7, 0x0), rst(7, 0x5)...), 0},
		{"response under way", append(h2frame(frameHeaders, 0x4, 7, []byte{0x88}), rst(7, 0x1)...), 1},
		{"stream older than the window", append(h2frame(frameHeaders, 0x5, 1, []byte{0x88}), rst(1, 0x5)...), 1},
		{"among other frames", append(append(h2frame(0x4, 0, 0, make([]byte, 12)), disguised...), rst(3, 0x8)...), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{1, 3, 4, 9, 13, 1 << 20} {
				var g h2Guard
				g.init(h2Limits{maxResets: 10}, 0)
				g.opened.Store(2*streamWindow + 1) // streams 3 to 2049 are the window's
				for b := tc.server; len(b) > 0; {
					n := min(step, len(b))
					g.track(b[:n])
					b = b[n:]
				}
				if got := g.serverResets.Load(); got != tc.want {
					t.Fatalf("pieces of %d: %d resets counted, want %d", step, got, tc.want)
				}
				if g.outHdrN != 0 || g.outSkip != 0 || g.outCodeN != 0 {
					t.Fatalf("pieces of %d: not between frames", step)
				}
			}
		})
	}
	t.Run("the write side ends a flood the client only reads after", func(t *testing.T) {
		// A client that has sent its whole flood sends nothing more for
		// the read side to take the resets in with: the write side itself
		// finds the limit passed, counting what the read side holds.
		var g h2Guard
		g.init(h2Limits{maxResets: 10}, 0)
		g.opened.Store(41)
		g.windowResets.Store(5)
		for id := uint32(1); id <= 11; id += 2 {
			g.track(rst(id, 0x1))
			if past := id == 11; g.abused.Load() != past {
				t.Fatalf("after %d provoked resets and 5 taken in: abused %v", id/2+1, g.abused.Load())
			}
		}
	})
	t.Run("no limit", func(t *testing.T) {
		var g h2Guard
		g.init(h2Limits{maxResets: 0}, 0)
		g.track(rst(1, 0x1))
		if got := g.serverResets.Load(); got != 0 {
			t.Fatalf("%d resets counted with no limit", got)
		}
	})
	t.Run("window", func(t *testing.T) {
		// The client's next frame takes the server's resets in: 10
		// provoked resets are at the limit, 11 past it, within a window
		// of 20 streams.
		var g h2Guard
		g.init(h2Limits{maxResets: 10}, 0)
		if v := g.feed([]byte(clientPreface)); v != h2OK {
			t.Fatalf("preface: %d", v)
		}
		for i := range 11 {
			id := uint32(2*i + 1)
			if v := g.feed(h2frame(frameHeaders, 0x5, id, []byte{0x82})); v != h2OK {
				t.Fatalf("stream %d: verdict %d", id, v)
			}
			g.track(rst(id, 0x1))
		}
		if v := g.feed(h2frame(0x8, 0, 21, []byte{0, 0, 0, 0})); v != h2Abuse {
			t.Fatalf("after 11 provoked resets: verdict %d, want %d", v, h2Abuse)
		}
	})
}

// FuzzH2Guard: whatever a client sends, the guard reaches the same
// verdict whether it reads the bytes whole or in pieces; and whatever the
// server writes, it counts the same resets and ends in the same place of
// a frame whether it is written whole or in pieces.
func FuzzH2Guard(f *testing.F) {
	f.Add([]byte{}, uint8(1))
	f.Add(h2frame(frameData, flagPadded, 1, []byte{3, 'x', 0, 0, 0}), uint8(2))
	f.Add(append(h2frame(frameHeaders, 0x5, 1, []byte{0x82}), h2frame(frameRSTStream, 0, 1, []byte{0, 0, 0, 8})...), uint8(5))
	f.Add(h2frame(frameCont, 0, 1, nil), uint8(9))
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		n := max(int(step), 1)
		stream := append([]byte(clientPreface), b...)
		whole := h2feed(3, stream, len(stream))
		if got := h2feed(3, stream, n); got != whole {
			t.Fatalf("in pieces of %d: verdict %d, whole %d", n, got, whole)
		}
		var w, p h2Guard
		w.init(h2Limits{maxResets: 3}, 0)
		p.init(h2Limits{maxResets: 3}, 0)
		w.track(b)
		for rest := b; len(rest) > 0; rest = rest[min(n, len(rest)):] {
			p.track(rest[:min(n, len(rest))])
		}
		if w.serverResets.Load() != p.serverResets.Load() || w.outHdrN != p.outHdrN || w.outSkip != p.outSkip || w.outCodeN != p.outCodeN {
			t.Fatalf("server writes in pieces of %d: %d resets, at %d/%d/%d; whole: %d, at %d/%d/%d", n,
				p.serverResets.Load(), p.outHdrN, p.outSkip, p.outCodeN, w.serverResets.Load(), w.outHdrN, w.outSkip, w.outCodeN)
		}
	})
}

// h2script runs client frames through feed and server frames through
// track, in order, and returns the first verdict other than h2OK.
type h2script struct {
	g h2Guard
	v h2Verdict
}

func newH2Script(l h2Limits) *h2script {
	s := &h2script{}
	s.g.init(l, 0)
	s.client([]byte(clientPreface))
	return s
}

func (s *h2script) client(b []byte) {
	if s.v == h2OK {
		s.v = s.g.feed(b)
	}
}

func (s *h2script) server(b []byte) { s.g.track(b) }

// TestH2GuardPrematureResets: only a client reset of a stream the server
// has not answered counts; cancelling a response under way does not.
func TestH2GuardPrematureResets(t *testing.T) {
	rst := func(id uint32) []byte { return h2frame(frameRSTStream, 0, id, []byte{0, 0, 0, 8}) }
	for _, tc := range []struct {
		name     string
		answered bool
		want     h2Verdict
	}{
		{"cancelled after the response began", true, h2OK},
		{"cancelled before any response", false, h2Abuse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newH2Script(h2Limits{maxResets: 10})
			for i := range 700 {
				id := uint32(2*i + 1)
				s.client(h2frame(frameHeaders, 0x4, id, []byte{0x83}))
				if tc.answered {
					s.server(h2frame(frameHeaders, 0x4, id, []byte{0x88}))
					s.server(h2frame(frameData, 0, id, []byte("first message")))
				}
				s.client(rst(id))
			}
			if s.v != tc.want {
				t.Fatalf("verdict %d, want %d", s.v, tc.want)
			}
		})
	}
}

// TestH2GuardRefusedUploads: uploads refused before their bodies are read
// are not counted for the resets net/http sends for the DATA in flight,
// nor for that DATA; the same resets of uploads still being read count.
func TestH2GuardRefusedUploads(t *testing.T) {
	chunk := make([]byte, 16384)
	for _, tc := range []struct {
		name    string
		refused bool
		want    h2Verdict
	}{
		{"refused early", true, h2OK},
		{"reset while running", false, h2Abuse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newH2Script(h2Limits{maxResets: 100, maxStreams: 128})
			for round := range 50 {
				for j := range 8 {
					id := uint32(2*(8*round+j) + 1)
					s.client(h2frame(frameHeaders, 0x4, id, []byte{0x83}))
					s.client(h2frame(frameData, 0, id, chunk))
				}
				for j := range 8 {
					id := uint32(2*(8*round+j) + 1)
					if tc.refused {
						s.server(h2frame(frameHeaders, 0x5, id, []byte{0x88}))
						s.server(h2frame(frameRSTStream, 0, id, []byte{0, 0, 0, errNo}))
					}
				}
				for range 8 { // the DATA in flight, interleaved
					for j := range 8 {
						id := uint32(2*(8*round+j) + 1)
						s.client(h2frame(frameData, 0, id, chunk))
						s.server(h2frame(frameRSTStream, 0, id, []byte{0, 0, 0, 0x5}))
					}
				}
			}
			s.client(h2frame(frameSettings, flagAck, 0, nil))
			if s.v != tc.want {
				t.Fatalf("verdict %d, want %d", s.v, tc.want)
			}
		})
	}
}

// TestH2GuardClosedStreamData: DATA on a stream the client has ended
// makes no progress, so it neither ends a run of empty frames nor goes
// on unlimited.
func TestH2GuardClosedStreamData(t *testing.T) {
	done := func() *h2script {
		s := newH2Script(h2Limits{maxResets: 500, maxStreams: 128})
		s.client(h2frame(frameHeaders, 0x5, 1, []byte{0x82}))
		s.server(h2frame(frameHeaders, 0x5, 1, []byte{0x88}))
		return s
	}
	t.Run("priority between", func(t *testing.T) {
		s := done()
		for range 300 {
			for range 100 {
				s.client(h2frame(framePriority, 0, 3, []byte{0, 0, 0, 0, 15}))
			}
			s.client(h2frame(frameData, 0, 1, []byte("x")))
		}
		if s.v != h2Abuse {
			t.Fatalf("verdict %d, want %d", s.v, h2Abuse)
		}
	})
	t.Run("data alone", func(t *testing.T) {
		s := done()
		for range maxEmptyFrames + 1 {
			s.client(h2frame(frameData, 0, 1, []byte("x")))
			s.server(h2frame(frameRSTStream, 0, 1, []byte{0, 0, 0, 0x5}))
		}
		if s.v != h2Abuse {
			t.Fatalf("verdict %d, want %d", s.v, h2Abuse)
		}
	})
	t.Run("upload on an open stream", func(t *testing.T) {
		s := done()
		s.client(h2frame(frameHeaders, 0x4, 3, []byte{0x83}))
		for range 1000 {
			s.client(h2frame(frameData, 0, 3, []byte("x")))
		}
		if s.v != h2OK {
			t.Fatalf("verdict %d, want %d", s.v, h2OK)
		}
	})
}

// TestH2GuardPriority: the PRIORITY run grows with the streams allowed at
// once, as a browser reprioritises each of its streams.
func TestH2GuardPriority(t *testing.T) {
	for _, tc := range []struct {
		maxStreams, n int
		want          h2Verdict
	}{
		{128, 2 * 128, h2OK},
		{128, priorityPerStream * 128, h2OK},
		{128, priorityPerStream*128 + 1, h2Abuse},
		{0, maxEmptyFrames + 1, h2Abuse},
	} {
		s := newH2Script(h2Limits{maxResets: 500, maxStreams: tc.maxStreams})
		for i := range 128 {
			s.client(h2frame(frameHeaders, 0x5, uint32(2*i+1), []byte{0x82}))
		}
		for i := range tc.n {
			s.client(h2frame(framePriority, 0, uint32(2*(i%128)+1), []byte{0, 0, 0, 0, 15}))
		}
		if s.v != tc.want {
			t.Errorf("%d PRIORITY with %d streams allowed: verdict %d, want %d", tc.n, tc.maxStreams, s.v, tc.want)
		}
	}
}
