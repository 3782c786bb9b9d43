package compression

import (
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/turnpikegw/turnpike/internal/store"
)

// encoder is what the three writers have in common.
type encoder interface {
	io.Writer
	Flush() error
	Close() error
	Reset(w io.Writer)
}

const (
	// readSize is how much of the upstream's body one Read asks for, the
	// proxy's own buffer size.
	readSize = 32 << 10
	// keepOut is the largest output buffer kept in a pooled coder: one
	// that grew past it (an encoder emitting a large block at once) is
	// dropped rather than held by the pool.
	keepOut = 256 << 10
	// zstdWindow bounds what a client's decoder must hold (RFC 9659 asks
	// HTTP encoders for at most 8 MiB) and the encoder's memory.
	zstdWindow = 1 << 20
)

// coder is a pooled encoder with its buffers. The encoder writes into the
// coder itself (Write appends to out), so resetting it for a response
// allocates nothing.
type coder struct {
	enc encoder
	out []byte
	in  []byte
}

func (c *coder) Write(p []byte) (int, error) {
	c.out = append(c.out, p...)
	return len(p), nil
}

// newCoder builds an encoder of kind k at level, writing into its coder.
func newCoder(k coding, level int) *coder {
	c := &coder{in: make([]byte, readSize)}
	switch k {
	case gzipCoding:
		// Levels are validated; NewWriterLevel fails only outside 1-9.
		c.enc, _ = gzip.NewWriterLevel(c, level)
	case brCoding:
		c.enc = brotli.NewWriterLevel(c, level)
	default:
		// One goroutine-free encoder per response: concurrency 1 encodes
		// in Write's caller.
		c.enc, _ = zstd.NewWriter(c, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow))
	}
	return c
}

// maxBusy bounds the coders of one pool at work at once. An encoder's
// state is about 0.7 MiB (zstd 1, br 4) or 1 MiB (gzip 4), 1.8 MiB for
// zstd 3 and up, and a streamed response holds one for its whole life,
// so without a bound a client opening many slow or endless responses
// would make the gateway hold that much for each; past it responses go
// uncompressed. 256 coders at the default levels are 180-250 MiB.
const maxBusy = 256

// coderPool pools coders of one kind and level.
type coderPool struct {
	k     coding
	level int
	p     sync.Pool
	busy  atomic.Int32
}

// reserve takes a slot for a response to be compressed; false when
// maxBusy are taken.
func (p *coderPool) reserve() bool {
	if p.busy.Add(1) > maxBusy {
		p.busy.Add(-1)
		return false
	}
	return true
}

func (p *coderPool) unreserve() { p.busy.Add(-1) }

func (p *coderPool) get() *coder {
	if c, ok := p.p.Get().(*coder); ok {
		c.enc.Reset(c)
		return c
	}
	return newCoder(p.k, p.level)
}

func (p *coderPool) put(c *coder) {
	if cap(c.out) > keepOut {
		return
	}
	c.out = c.out[:0]
	p.p.Put(c)
}

// Close lets the pool go; pooled coders hold only memory.
func (p *coderPool) Close() error { return nil }

// acquirePool returns the pool of kind k at level that instances share
// through the store (across reloads too), or a pool of the instance's own
// when there is no store (dry runs, unit tests), and its release.
func acquirePool(st *store.Provider, k coding, level int) (*coderPool, func()) {
	build := func() io.Closer { return &coderPool{k: k, level: level} }
	if st == nil || st.Shared == nil {
		return build().(*coderPool), func() {}
	}
	v, release := st.Shared.Acquire("compression:"+codingNames[k]+":"+strconv.Itoa(level), build)
	return v.(*coderPool), release
}
