package transcode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// frameHeaderLen is gRPC's length prefix: one flags byte and a big-endian uint32 length.
const frameHeaderLen = 5

// AppendFrame appends msg to dst as one length-prefixed gRPC message.
func AppendFrame(dst []byte, compressed bool, msg []byte) []byte {
	var flags byte
	if compressed {
		flags = 1
	}
	dst = append(dst, flags)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...)
}

// ErrFrameTooLarge is returned by FrameReader.Next for a frame whose declared length is over the
// reader's limit; nothing of the frame's body has been read or allocated.
var ErrFrameTooLarge = errors.New("grpc frame larger than the message size limit")

// FrameReader reads length-prefixed gRPC messages from a stream. The bytes Next returns are valid
// until the next call: the reader reuses one buffer so that a stream of messages allocates once.
type FrameReader struct {
	r   io.Reader
	max int
	hdr [frameHeaderLen]byte
	buf []byte
}

// NewFrameReader reads frames from r, refusing any whose length is over max bytes.
func NewFrameReader(r io.Reader, max int) *FrameReader {
	return &FrameReader{r: r, max: max}
}

// Next reads one frame. It returns io.EOF at a clean end (no byte of a next frame), and
// io.ErrUnexpectedEOF when the stream ends inside a frame. The length is checked against the limit
// before any allocation, so a client that announces 4 GiB costs nothing.
func (f *FrameReader) Next() (flags byte, msg []byte, err error) {
	if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(f.hdr[1:])
	if uint64(n) > uint64(f.max) {
		return 0, nil, fmt.Errorf("%w: %d bytes over %d", ErrFrameTooLarge, n, f.max)
	}
	if cap(f.buf) < int(n) {
		f.buf = make([]byte, n)
	}
	f.buf = f.buf[:n]
	if _, err := io.ReadFull(f.r, f.buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return f.hdr[0], f.buf, nil
}

// timeoutUnits are grpc-timeout's units, smallest first, so AppendTimeout keeps the most precision
// that fits in the grammar's eight digits.
var timeoutUnits = [...]struct {
	unit byte
	d    time.Duration
}{
	{'n', time.Nanosecond}, {'u', time.Microsecond}, {'m', time.Millisecond},
	{'S', time.Second}, {'M', time.Minute}, {'H', time.Hour},
}

// ParseTimeout parses a grpc-timeout value: one to eight ASCII digits and a unit (H M S m u n). A
// value too large for a Duration is clamped to the largest one, as grpc-go does.
func ParseTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v)-1; i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	for _, u := range timeoutUnits {
		if u.unit == v[len(v)-1] {
			if n > math.MaxInt64/int64(u.d) {
				return math.MaxInt64, true
			}
			return time.Duration(n) * u.d, true
		}
	}
	return 0, false
}

// AppendTimeout appends d as a grpc-timeout value in the smallest unit whose count fits in eight
// digits, rounding up so that the upstream never sees a shorter deadline than the client's. A
// non-positive d is "0n": already expired.
func AppendTimeout(dst []byte, d time.Duration) []byte {
	if d <= 0 {
		return append(dst, '0', 'n')
	}
	const maxCount = 99999999
	for _, u := range timeoutUnits {
		n := d / u.d
		if d%u.d != 0 {
			n++
		}
		if n <= maxCount {
			dst = strconv.AppendInt(dst, int64(n), 10)
			return append(dst, u.unit)
		}
	}
	return append(dst, "99999999H"...)
}

// IsGRPCType reports whether a Content-Type is native gRPC's:
// application/grpc or application/grpc+<codec>, parameters allowed, in any
// case. gRPC-Web's (application/grpc-web...) is not.
func IsGRPCType(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	const g = "application/grpc"
	if len(ct) < len(g) || !strings.EqualFold(ct[:len(g)], g) {
		return false
	}
	return len(ct) == len(g) || ct[len(g)] == '+'
}
