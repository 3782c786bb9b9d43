package httpcache

import (
	"encoding/binary"
	"errors"
	"net/http"
	"strings"
	"unsafe"
)

// The entry's binary form, little-endian: magic and version, status
// (u16), stored time (i64, Unix milliseconds), freshness lifetime,
// stale-while-revalidate and stale-if-error (u32 seconds each), the
// number of Vary pairs and of header lines (u16 each), the Vary pairs
// (name u16-prefixed, the request's value u16-prefixed), the header lines
// (canonical name u16-prefixed, value u32-prefixed; the lines of one name
// adjacent), and the body (u32-prefixed), which ends the entry.
const (
	magic0, magic1, version = 'T', 'C', 1
	fixedLen                = 3 + 2 + 8 + 4*3 + 2*2
	maxU16                  = 1<<16 - 1
	maxU32                  = 1<<32 - 1
)

// ErrCorrupt is returned for bytes that are no entry of this version.
var ErrCorrupt = errors.New("httpcache: corrupt or foreign cache entry")

// ErrTooLarge is returned by Encode for a response that does not fit
// the form (a header over 4 GiB, more than 65535 header lines).
var ErrTooLarge = errors.New("httpcache: response too large to store")

// Response is what Encode stores.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// StoredMs is when the response was stored, in Unix milliseconds.
	StoredMs int64
	// Fresh, SWR and SIE are the freshness lifetime and the
	// stale-while-revalidate and stale-if-error windows, in seconds.
	Fresh, SWR, SIE uint32
	// Vary are the response's Vary field names, canonical; Request the
	// request's header, whose values of them are stored.
	Vary    []string
	Request http.Header
}

// hopByHop are the fields a cache never stores (RFC 9110 section 7.6.1),
// with Content-Length, which the gateway sets from the stored body.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Proxy-Connection": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "Content-Length": true,
}

// connectionNames are the field names h's Connection field lists, split
// once so that Encode does not split them again for every field.
func connectionNames(h http.Header) []string {
	var names []string
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			names = append(names, strings.TrimSpace(f))
		}
	}
	return names
}

// stored reports whether a header field is kept in an entry: not
// hop-by-hop, not named by the Connection field (connection, from
// connectionNames).
func stored(name string, connection []string) bool {
	if hopByHop[name] {
		return false
	}
	for _, f := range connection {
		if strings.EqualFold(f, name) {
			return false
		}
	}
	return true
}

// Encode appends r's binary form to dst.
func Encode(dst []byte, r *Response) ([]byte, error) {
	if len(r.Vary) > maxU16 || uint64(len(r.Body)) > maxU32 {
		return nil, ErrTooLarge
	}
	connection := connectionNames(r.Header)
	lines := 0
	for name, vs := range r.Header {
		if stored(name, connection) {
			lines += len(vs)
		}
	}
	if lines > maxU16 {
		return nil, ErrTooLarge
	}
	dst = append(dst, magic0, magic1, version)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(r.Status))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.StoredMs))
	dst = binary.LittleEndian.AppendUint32(dst, r.Fresh)
	dst = binary.LittleEndian.AppendUint32(dst, r.SWR)
	dst = binary.LittleEndian.AppendUint32(dst, r.SIE)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(r.Vary)))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(lines))
	for _, name := range r.Vary {
		val := strings.Join(r.Request[name], ", ")
		if len(name) > maxU16 || len(val) > maxU16 {
			return nil, ErrTooLarge
		}
		dst = appendStr16(dst, name)
		dst = appendStr16(dst, val)
	}
	for name, vs := range r.Header {
		if !stored(name, connection) {
			continue
		}
		if len(name) > maxU16 {
			return nil, ErrTooLarge
		}
		for _, v := range vs {
			if uint64(len(v)) > maxU32 {
				return nil, ErrTooLarge
			}
			dst = appendStr16(dst, name)
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(v)))
			dst = append(dst, v...)
		}
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Body)))
	return append(dst, r.Body...), nil
}

func appendStr16(dst []byte, s string) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// Entry is a decoded entry. Its strings and Body share the bytes it was
// decoded from, which must not change while it is used.
type Entry struct {
	Status          int
	StoredMs        int64
	Fresh, SWR, SIE uint32
	Body            []byte

	nVary, nLines int
	vary, lines   []byte
}

// Decode reads an entry, checking every length against b: bytes that are
// not a whole entry of this version are ErrCorrupt. It copies nothing.
func Decode(b []byte, e *Entry) error {
	if len(b) < fixedLen || b[0] != magic0 || b[1] != magic1 || b[2] != version {
		return ErrCorrupt
	}
	le := binary.LittleEndian
	*e = Entry{
		Status:   int(le.Uint16(b[3:])),
		StoredMs: int64(le.Uint64(b[5:])),
		Fresh:    le.Uint32(b[13:]),
		SWR:      le.Uint32(b[17:]),
		SIE:      le.Uint32(b[21:]),
		nVary:    int(le.Uint16(b[25:])),
		nLines:   int(le.Uint16(b[27:])),
	}
	if e.Status < 100 || e.Status > 999 {
		return ErrCorrupt
	}
	r := reader{b: b[fixedLen:]}
	start := r.off
	for range e.nVary {
		r.field(r.u16(), true)
		r.skip(r.u16())
	}
	e.vary = r.b[start:r.off]
	start = r.off
	for range e.nLines {
		r.field(r.u16(), true)
		r.field(r.u32(), false)
	}
	e.lines = r.b[start:r.off]
	n := r.u32()
	if r.bad || uint64(len(r.b)-r.off) != uint64(n) {
		return ErrCorrupt
	}
	e.Body = r.b[r.off:len(r.b):len(r.b)]
	return nil
}

// reader reads lengths and skips over bytes, remembering a read past
// the end instead of failing at each step.
type reader struct {
	b   []byte
	off int
	bad bool
}

func (r *reader) u16() int {
	if len(r.b)-r.off < 2 {
		r.bad, r.off = true, len(r.b)
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return int(v)
}

func (r *reader) u32() int {
	if len(r.b)-r.off < 4 {
		r.bad, r.off = true, len(r.b)
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return int(v)
}

func (r *reader) skip(n int) {
	if n < 0 || len(r.b)-r.off < n {
		r.bad, r.off = true, len(r.b)
		return
	}
	r.off += n
}

// field skips a header name (a non-empty token) or value (no CR, LF or
// NUL), marking the entry bad when it is none: a hostile entry must not
// split the response it is sent in.
func (r *reader) field(n int, name bool) {
	if n < 0 || len(r.b)-r.off < n || (name && n == 0) {
		r.bad, r.off = true, len(r.b)
		return
	}
	for _, c := range r.b[r.off : r.off+n] {
		if c == '\r' || c == '\n' || c == 0 || (name && !tokenByte[c]) {
			r.bad, r.off = true, len(r.b)
			return
		}
	}
	r.off += n
}

// tokenByte are the bytes of RFC 9110's token.
var tokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// str returns the n bytes at the offset as a string sharing them.
func (r *reader) str(n int) string {
	if n == 0 {
		return ""
	}
	s := unsafe.String(unsafe.SliceData(r.b[r.off:]), n)
	r.off += n
	return s
}

// Header makes the entry's header: one map and one slice holding every
// value, the strings sharing the entry's bytes. spare are extra single
// values (capacity one each, after the entry's) for the caller's own
// fields, extra of them, so they cost no allocation of their own.
func (e *Entry) Header(extra int) (h http.Header, spare []string) {
	h = make(http.Header, e.nLines+extra)
	return h, e.AddHeader(h, extra)
}

// AddHeader sets the entry's header fields in h, replacing h's values of
// those names, as Header's map would be copied into h but without the
// map; spare are as Header's.
func (e *Entry) AddHeader(h http.Header, extra int) (spare []string) {
	vals := make([]string, e.nLines+extra)
	r := reader{b: e.lines}
	prev, start := "", 0
	for i := range e.nLines {
		name := r.str(r.u16())
		vals[i] = r.str(r.u32())
		if i > 0 && name != prev {
			h[prev] = vals[start:i:i]
			start = i
		}
		prev = name
	}
	if e.nLines > 0 {
		h[prev] = vals[start:e.nLines:e.nLines]
	}
	return vals[e.nLines:]
}

// EachHeader calls fn with each header line, in stored order.
func (e *Entry) EachHeader(fn func(name, value string)) {
	r := reader{b: e.lines}
	for range e.nLines {
		name := r.str(r.u16())
		fn(name, r.str(r.u32()))
	}
}

// VaryMatches reports whether req carries the values the stored request
// had for the response's Vary fields (RFC 9111 section 4.1), comparing
// the values as joined by ", ".
func (e *Entry) VaryMatches(req http.Header) bool {
	r := reader{b: e.vary}
	for range e.nVary {
		name := r.str(r.u16())
		if !joinedEqual(req[name], r.str(r.u16())) {
			return false
		}
	}
	return true
}

// joinedEqual reports whether strings.Join(vs, ", ") == s, without
// joining.
func joinedEqual(vs []string, s string) bool {
	for i, v := range vs {
		if i > 0 {
			if !strings.HasPrefix(s, ", ") {
				return false
			}
			s = s[2:]
		}
		if !strings.HasPrefix(s, v) {
			return false
		}
		s = s[len(v):]
	}
	return s == ""
}
