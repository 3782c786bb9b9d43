package compression

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

const (
	// ratioFloor is how much a body may decode to before the ratio limit
	// applies: small bodies of repetitive text decode far past any sane
	// ratio and are harmless.
	ratioFloor = 64 << 10
	// decoderWindow is the largest zstd window a client may make the
	// gateway hold (RFC 9659's 8 MiB for HTTP).
	decoderWindow = 8 << 20
	// maxDecoding bounds the request bodies an instance decodes at once:
	// a decoder's window grows with what it decoded, up to 8 MiB (zstd)
	// or 16 MiB (Brotli), and a slow upload holds it; past the bound a
	// compressed body is answered 503.
	maxDecoding = 32
	// requestKey is the decoded body's key in Ctx.Shared.
	requestKey = name + ":request"
)

// decoder is what the three readers have in common.
type decoder interface {
	io.Reader
	// reset starts decoding r (gzip reads its header there).
	reset(r io.Reader) error
	// release drops what the decoder holds of the last body.
	release()
}

type gzipDecoder struct{ gzip.Reader }

func (d *gzipDecoder) reset(r io.Reader) error {
	if err := d.Reader.Reset(r); err != nil {
		return err
	}
	// One member, as a gzip body is: what follows is not decoded.
	d.Multistream(false)
	return nil
}

// release does nothing: gzip's Reset reads a header, so the last body
// is let go by the next reset.
func (d *gzipDecoder) release() {}

type brDecoder struct{ brotli.Reader }

func (d *brDecoder) reset(r io.Reader) error { return d.Reader.Reset(r) }
func (d *brDecoder) release()                { d.Reader.Reset(nil) }

type zstdDecoder struct{ *zstd.Decoder }

func (d *zstdDecoder) reset(r io.Reader) error { return d.Decoder.Reset(r) }
func (d *zstdDecoder) release()                { d.Decoder.Reset(nil) }

// decoders pools request body decoders per coding.
type decoders struct {
	pools [numCodings]sync.Pool
	busy  atomic.Int32
}

func newDecoders() *decoders {
	d := &decoders{}
	d.pools[gzipCoding].New = func() any { return &gzipDecoder{} }
	d.pools[brCoding].New = func() any { return &brDecoder{} }
	d.pools[zstdCoding].New = func() any {
		// Concurrency 1 decodes in the caller, with no goroutines.
		z, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(decoderWindow))
		return &zstdDecoder{z}
	}
	return d
}

// Access replaces a gzip, br or zstd request body with its decoding,
// bounded by decompress_max_size and decompress_max_ratio: past either,
// reading it fails with *http.MaxBytesError, which the proxy answers
// with 413 (a bomb costs the gateway that much decoding, never memory).
// Bodies in other codings, or several, go upstream as they are.
func (d *decompressing) Access(c *plugin.Ctx) error {
	r := c.Req
	ce := r.Header["Content-Encoding"]
	if len(ce) != 1 || r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	k, ok := codingByName(strings.ToLower(strings.TrimSpace(ce[0])))
	if !ok {
		return nil
	}
	if d.dec.busy.Add(1) > maxDecoding {
		d.dec.busy.Add(-1)
		return &plugin.Exit{Status: http.StatusServiceUnavailable, Message: "Too many compressed request bodies at once",
			Header: http.Header{"Retry-After": {"1"}}}
	}
	b := &decodedBody{src: r.Body, pools: d.dec, k: k, maxSize: d.s.maxSize, maxRatio: d.s.maxRatio}
	if c.Shared == nil {
		c.Shared = make(map[string]any, 2)
	}
	c.Shared[requestKey] = b
	r.Body = b
	r.ContentLength = -1
	delete(r.Header, "Content-Encoding")
	delete(r.Header, "Content-Length")
	return nil
}

// Log gives back the decoder and slot of a body not read to its end, and
// what the response held.
func (d *decompressing) Log(c *plugin.Ctx) {
	if b, _ := c.Shared[requestKey].(*decodedBody); b != nil {
		b.release()
	}
	d.instance.Log(c)
}

// decodedBody decodes src, counting both sides. The decoder is taken at
// the first Read and given back, with the slot, at the end or in the log
// phase.
type decodedBody struct {
	// mu: net/http's HTTP/2 client reads a request body from its own
	// goroutine, which may still be in Read when the log phase releases.
	mu       sync.Mutex
	src      io.ReadCloser
	pools    *decoders
	k        coding
	dec      decoder
	in, out  int64
	maxSize  int64
	maxRatio int64
	err      error
	released bool
}

func (b *decodedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if b.released {
		// The log phase ran: the request is over.
		return 0, io.ErrUnexpectedEOF
	}
	if b.dec == nil {
		dec := b.pools.pools[b.k].Get().(decoder)
		if err := dec.reset((*countIn)(b)); err != nil {
			b.pools.pools[b.k].Put(dec)
			return 0, b.fail(err)
		}
		b.dec = dec
	}
	// Never decode more than the limit allows, plus one byte to see it
	// passed.
	if room := b.maxSize - b.out + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.dec.Read(p)
	b.out += int64(n)
	if b.out > b.maxSize || b.out > ratioFloor && b.out > b.in*b.maxRatio {
		return 0, b.fail(&http.MaxBytesError{Limit: b.maxSize})
	}
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			err = errTruncated
		}
		return n, b.fail(err)
	}
	return n, nil
}

// errTruncated is a compressed body that ended inside its stream.
var errTruncated = &decodeError{"compressed request body is truncated"}

type decodeError struct{ s string }

func (e *decodeError) Error() string { return e.s }

// fail ends the body with err and gives the decoder back.
func (b *decodedBody) fail(err error) error {
	b.err = err
	b.releaseLocked()
	return err
}

// release gives back the decoder and the slot, once (the log phase's
// call, which Read does not hold the lock for).
func (b *decodedBody) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releaseLocked()
}

// releaseLocked is release with mu held.
func (b *decodedBody) releaseLocked() {
	if b.released {
		return
	}
	b.released = true
	if b.dec != nil {
		b.dec.release()
		b.pools.pools[b.k].Put(b.dec)
		b.dec = nil
	}
	b.pools.busy.Add(-1)
}

func (b *decodedBody) Close() error { return b.src.Close() }

// countIn is the decoded body's view of its compressed source, counting
// what the decoder reads.
type countIn decodedBody

func (c *countIn) Read(p []byte) (int, error) {
	n, err := c.src.Read(p)
	c.in += int64(n)
	return n, err
}
