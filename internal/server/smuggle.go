package server

import (
	"bytes"
	"math"
	"sync/atomic"
)

// Request-smuggling guard.
//
// A request head that carries both Content-Length and Transfer-Encoding is
// the classic smuggling shape: net/http accepts it (RFC 9112 6.3 lets an
// intermediary drop Content-Length and read the body as chunked) and deletes
// both fields before a handler runs, so the handler cannot tell. The gateway
// must answer such a request 400 and close the connection instead, so the
// check has to look at the bytes themselves.
//
// Every HTTP/1.x connection (plain, or TLS after an ALPN that did not pick
// h2) is wrapped in a conn whose Read feeds what net/http reads to a
// detector. The detector is a streaming parser of HTTP/1.1 request framing,
// kept in step with the server across reads of any size:
//
//   - In a head it looks only at line starts: a field name is matched
//     byte by byte for the two names of interest, and the rest of a line is
//     skipped with bytes.IndexByte. Lines end at LF with an optional CR
//     before it, as in net/textproto; a line starting with SP or HT is an
//     obs-fold continuation, and a head with one is refused.
//   - At the blank line it decides: both fields present marks this head bad.
//     Otherwise it follows the body framing net/http will use (no body,
//     Content-Length bytes, or chunked with trailers) so that it knows where
//     the next head starts; body bytes are skipped by count, never scanned
//     for names, so bodies cannot cause false positives.
//   - The body rules are at least as strict as net/http's chunked reader
//     (the same line, CRLF, hex, extension and overhead limits). Whenever
//     the detector cannot be sure where net/http will start the next head
//     (framing it would reject, Transfer-Encoding on other than HTTP/1.1,
//     odd trailers) it stops and marks every later head bad. net/http may keep a connection open after
//     a malformed chunked body and parse the next request from wherever its
//     reader stopped, so losing sync must fail closed, not open. Well-formed
//     traffic never gets there.
//
// Heads are numbered; the detector records the number of the first head to
// reject. The handler wrapper counts the HTTP/1 requests it sees on the
// connection and rejects request i when i >= that number, so a bad head that
// net/http has read ahead (pipelining) does not taint the requests before it.
// A head "PRI * HTTP/2.0" without fields is the h2c preface (or an upgrade
// request after which net/http closes), so the detector switches off there.
//
// On normal traffic the cost is a few comparisons per header line plus
// IndexByte over the rest of the line, and no allocation.

// noReject is the bad-head number while no head is bad.
const noReject = math.MaxInt64

// Limits of net/http's chunked reader (net/http/internal/chunked.go and the
// server's 4 KiB bufio.Reader), mirrored so that the detector never accepts
// a body that net/http rejects.
const (
	maxChunkLine    = 4096 // a chunk-size line, CRLF included, must fit the reader's buffer
	maxChunkExcess  = 16 * 1024
	maxTrailerBytes = 4096 // the trailer must end within the reader's buffer
)

type detState uint8

const (
	stStart     detState = iota // before a request line; stray CR and LF are skipped
	stReqLine                   // in the request line
	stLineStart                 // at the start of a header line
	stHeadCR                    // after a CR at a header line start
	stName                      // matching a field name of interest
	stSkipLine                  // in a line whose content does not matter
	stCLValue                   // in a Content-Length value
	stTEValue                   // in a Transfer-Encoding value
	stBody                      // in a Content-Length body
	stChunkLine                 // in a chunk-size line
	stChunkData                 // in chunk data
	stChunkCR                   // expecting the CR after chunk data
	stChunkLF                   // expecting the LF after chunk data
	stTrailer                   // in the trailer section
	stOff                       // done: a head was marked bad or sync is lost
	stH2                        // done: h2c took over after its preface
)

// Sub-states of values, chunk-size lines and trailer lines.
const (
	vLead  uint8 = iota // optional whitespace before the value
	vToken              // in the value
	vTrail              // optional whitespace after the value
	vCR                 // after a CR: only LF may follow
	vExt                // in a chunk extension (chunk-size lines only)
	vName               // in a trailer field name (trailer lines only)
	vLine               // at a trailer line start (trailer lines only)
	vEnd                // after a CR at a trailer line start (trailer lines only)
)

const (
	nameCL = "content-length:"
	nameTE = "transfer-encoding:"
)

// detector follows the request framing of one HTTP/1.x connection. feed is
// called by one goroutine at a time (net/http never has two reads in
// flight); bad may be read concurrently.
type detector struct {
	bad atomic.Int64 // number of the first head to reject; noReject when none

	state detState
	sub   uint8
	heads int64 // heads completed so far = number of the head being read

	// The head being read.
	lineLen  int      // bytes of the request line so far
	tail     [16]byte // the last bytes of the request line
	tailN    int
	http11   bool   // the request line ends in " HTTP/1.1"
	pri      bool   // the request line is "PRI * HTTP/2.0"
	fields   int    // header lines seen
	name     string // nameCL or nameTE while matching
	nameI    int
	sawCL    bool
	sawTE    bool
	teCount  int
	teChunk  bool   // the Transfer-Encoding value is "chunked"
	teI      int    // bytes of "chunked" matched
	unsure   bool   // the framing cannot be trusted
	cl       uint64 // Content-Length value
	clNew    uint64 // the value being parsed
	clDigits int
	clFields int

	// The body being skipped.
	remain    uint64
	chunkLen  int // bytes of the chunk-size line so far
	chunkN    uint64
	chunkDigs int
	excess    int64
	trailer   int
}

func (d *detector) init() { d.bad.Store(noReject) }

// reject marks head n and every later one bad and stops the detector.
func (d *detector) reject(n int64) {
	if n < d.bad.Load() {
		d.bad.Store(n)
	}
	d.state = stOff
}

// lost is called when the position of the next head is unknown: the request
// whose body is being read already passed the head check, every later one
// is refused.
func (d *detector) lost() { d.reject(d.heads) }

// feed follows p. It returns len(p), or, when the h2c preface ended
// inside p, the number of bytes up to the end of that head.
func (d *detector) feed(p []byte) int {
	for i := 0; i < len(p); {
		switch d.state {
		case stOff:
			return len(p)
		case stH2:
			return i
		case stStart:
			if c := p[i]; c == '\r' || c == '\n' {
				i++
				continue
			}
			d.beginHead()
		case stReqLine:
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				d.keep(p[i:])
				return len(p)
			}
			d.keep(p[i : i+j])
			i += j + 1
			d.endRequestLine()
		case stLineStart:
			c := p[i]
			i++
			switch c {
			case '\n':
				d.endHead()
			case '\r':
				d.state = stHeadCR
			case ' ', '\t':
				// obs-fold, after CRLF or a bare LF alike: net/textproto
				// appends this line to the previous field's value, so
				// "Transfer-Encoding:\n chunked" would frame the body as
				// chunked while a server that does not fold sees no coding.
				// RFC 9112 5.2 lets a server refuse the message; we do, for
				// every field, as NGINX does.
				d.reject(d.heads)
				return len(p)
			default:
				d.fields++
				d.state = stName
				d.nameI = 1
				switch c | 0x20 { // ASCII lower case; only 'C'/'c' and 'T'/'t' map here
				case 'c':
					d.name = nameCL
				case 't':
					d.name = nameTE
				default:
					d.state = stSkipLine
				}
			}
		case stHeadCR:
			if p[i] == '\n' {
				i++
				d.endHead()
				continue
			}
			// A lone CR starts a line net/http rejects; treat it as any line.
			d.fields++
			d.state = stSkipLine
		case stName:
			c := p[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != d.name[d.nameI] {
				d.state = stSkipLine // re-read c there: it may be the LF
				continue
			}
			i++
			d.nameI++
			if d.nameI < len(d.name) {
				continue
			}
			d.sub = vLead
			if d.name == nameCL {
				d.sawCL = true
				d.clFields++
				d.clNew, d.clDigits = 0, 0
				d.state = stCLValue
			} else {
				d.sawTE = true
				d.teCount++
				d.teI = 0
				d.teChunk = false
				d.state = stTEValue
			}
		case stSkipLine:
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				return len(p)
			}
			i += j + 1
			d.state = stLineStart
		case stCLValue:
			i = d.clValue(p, i)
		case stTEValue:
			i = d.teValue(p, i)
		case stBody:
			if n := uint64(len(p) - i); n < d.remain {
				d.remain -= n
				return len(p)
			}
			i += int(d.remain)
			d.remain = 0
			d.state = stStart
		case stChunkLine:
			d.chunkByte(p[i])
			i++
		case stChunkData:
			if n := uint64(len(p) - i); n < d.remain {
				d.remain -= n
				return len(p)
			}
			i += int(d.remain)
			d.remain = 0
			d.state = stChunkCR
		case stChunkCR:
			if p[i] != '\r' {
				d.lost()
				return len(p)
			}
			i++
			d.state = stChunkLF
		case stChunkLF:
			if p[i] != '\n' {
				d.lost()
				return len(p)
			}
			i++
			d.beginChunk()
		case stTrailer:
			d.trailerByte(p[i])
			i++
		}
	}
	return len(p)
}

func (d *detector) beginHead() {
	d.state = stReqLine
	d.lineLen, d.tailN = 0, 0
	d.fields = 0
	d.sawCL, d.sawTE, d.unsure = false, false, false
	d.teCount, d.clFields = 0, 0
	d.teChunk = false
	d.cl = 0
}

// keep appends a piece of the request line: only its length and its last
// bytes matter (the version, and the whole line for the h2c preface).
func (d *detector) keep(b []byte) {
	d.lineLen += len(b)
	if len(b) >= len(d.tail) {
		d.tailN = copy(d.tail[:], b[len(b)-len(d.tail):])
		return
	}
	if over := d.tailN + len(b) - len(d.tail); over > 0 {
		d.tailN = copy(d.tail[:], d.tail[over:d.tailN])
	}
	d.tailN += copy(d.tail[d.tailN:], b)
}

func (d *detector) endRequestLine() {
	t := d.tail[:d.tailN]
	n := d.lineLen
	if len(t) > 0 && t[len(t)-1] == '\r' { // net/textproto drops one CR before LF
		t = t[:len(t)-1]
		n--
	}
	// net/http splits the request line at its first two spaces, so a line
	// it accepts with this suffix has exactly HTTP/1.1 as its version.
	d.http11 = bytes.HasSuffix(t, []byte(" HTTP/1.1"))
	d.pri = n == 14 && string(t) == "PRI * HTTP/2.0"
	d.state = stLineStart
}

func (d *detector) endHead() {
	n := d.heads
	d.heads++
	switch {
	case d.sawCL && d.sawTE:
		d.reject(n)
	case d.pri && d.fields == 0:
		// h2c prior knowledge: HTTP/2 frames follow (see h2guard.go).
		// Without h2c net/http treats it as an upgrade request and closes
		// after it.
		d.state = stH2
	case d.unsure:
		d.lost()
	case d.sawTE:
		// net/http reads chunked only for exactly one field "chunked" on
		// HTTP/1.1+; it ignores the field on HTTP/1.0 and answers 501 to
		// anything else. Only the plain case is followed.
		if d.teCount != 1 || !d.teChunk || !d.http11 {
			d.lost()
			return
		}
		d.excess = 0
		d.beginChunk()
	case d.sawCL && d.cl > 0:
		d.remain = d.cl
		d.state = stBody
	default:
		d.state = stStart
	}
}

// clValue parses digits with optional whitespace around them. An empty,
// malformed or conflicting value makes the framing unsure (net/http answers
// 400 to all of them).
func (d *detector) clValue(p []byte, i int) int {
	for ; i < len(p); i++ {
		c := p[i]
		if c == '\n' {
			if d.clDigits == 0 || d.clFields > 1 && d.cl != d.clNew {
				d.unsure = true
			}
			d.cl = d.clNew
			d.state = stLineStart
			return i + 1
		}
		switch {
		case d.sub == vCR:
			return d.clBad(i)
		case c == '\r':
			d.sub = vCR
		case c == ' ' || c == '\t':
			if d.sub == vToken {
				d.sub = vTrail
			}
		case '0' <= c && c <= '9' && d.sub != vTrail:
			if d.clNew > (math.MaxInt64-uint64(c-'0'))/10 {
				return d.clBad(i)
			}
			d.clNew = d.clNew*10 + uint64(c-'0')
			d.clDigits++
			d.sub = vToken
		default:
			return d.clBad(i)
		}
	}
	return i
}

func (d *detector) clBad(i int) int {
	d.unsure = true
	d.state = stSkipLine
	return i
}

// teValue matches "chunked" case-insensitively with optional whitespace.
func (d *detector) teValue(p []byte, i int) int {
	for ; i < len(p); i++ {
		c := p[i]
		if c == '\n' {
			d.teChunk = d.teI == len("chunked")
			d.state = stLineStart
			return i + 1
		}
		switch {
		case d.sub == vCR:
			d.teI = 0 // a CR inside the value: not "chunked"
			d.sub = vTrail
			d.state = stSkipLine
			return i
		case c == '\r':
			d.sub = vCR
		case c == ' ' || c == '\t':
			if d.sub == vToken {
				d.sub = vTrail
			}
		case d.sub != vTrail && d.teI < len("chunked") && c|0x20 == "chunked"[d.teI]:
			d.teI++
			d.sub = vToken
		default:
			d.teI = 0
			d.state = stSkipLine
			return i
		}
	}
	return i
}

func (d *detector) beginChunk() {
	d.state = stChunkLine
	d.sub = vLead
	d.chunkLen, d.chunkN, d.chunkDigs = 0, 0, 0
}

// chunkByte follows a chunk-size line the way net/http's chunked reader
// does: 1 to 16 hex digits, then either optional whitespace or ';' and an
// extension, then CRLF; no other CR, no bare LF.
func (d *detector) chunkByte(c byte) {
	d.chunkLen++
	if d.chunkLen > maxChunkLine {
		d.lost()
		return
	}
	switch d.sub {
	case vLead, vToken:
		if v, ok := unhex(c); ok {
			if d.chunkDigs == 16 {
				d.lost()
				return
			}
			d.chunkN = d.chunkN<<4 | uint64(v)
			d.chunkDigs++
			d.sub = vToken
			return
		}
		switch {
		case d.sub == vLead:
			d.lost()
		case c == ';':
			d.sub = vExt
		case c == ' ' || c == '\t':
			d.sub = vTrail
		case c == '\r':
			d.sub = vCR
		default:
			d.lost()
		}
	case vTrail:
		switch c {
		case ' ', '\t':
		case '\r':
			d.sub = vCR
		default:
			d.lost() // net/http trims only trailing whitespace: "5 ;x" is rejected
		}
	case vExt:
		switch c {
		case '\r':
			d.sub = vCR
		case '\n':
			d.lost()
		}
	case vCR:
		if c != '\n' {
			d.lost()
			return
		}
		d.endChunkLine()
	}
}

func (d *detector) endChunkLine() {
	if d.chunkN == 0 {
		d.state = stTrailer
		d.sub = vLine
		d.trailer = 0
		return
	}
	// The same overhead accounting as net/http, which fails a body that
	// spends too many bytes on chunk lines; failing there too keeps us in
	// step (net/http may keep reading the connection after that error).
	d.excess += int64(d.chunkLen)
	d.excess -= 16 + 2*int64(d.chunkN)
	d.excess = max(d.excess, 0)
	if d.excess > maxChunkExcess {
		d.lost()
		return
	}
	d.remain = d.chunkN
	d.state = stChunkData
}

// trailerByte accepts only plain CRLF-terminated "token: value" lines and
// the blank line that ends them, within net/http's trailer size limit.
func (d *detector) trailerByte(c byte) {
	d.trailer++
	if d.trailer > maxTrailerBytes {
		d.lost()
		return
	}
	switch d.sub {
	case vLine:
		switch {
		case c == '\r':
			d.sub = vEnd
		case isTokenByte(c):
			d.sub = vName
		default:
			d.lost()
		}
	case vEnd:
		if c != '\n' {
			d.lost()
			return
		}
		d.state = stStart
	case vName:
		switch {
		case c == ':':
			d.sub = vToken
		case !isTokenByte(c):
			d.lost()
		}
	case vToken:
		switch {
		case c == '\r':
			d.sub = vCR
		case c < ' ' && c != '\t' || c == 0x7f:
			d.lost()
		}
	case vCR:
		if c != '\n' {
			d.lost()
			return
		}
		d.sub = vLine
	}
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isTokenByte reports whether c is an RFC 9110 tchar.
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
