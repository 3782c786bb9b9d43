package compression

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// encode compresses b in coding k with the libraries' own writers.
func encode(t testing.TB, k string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch k {
	case "gzip":
		w, _ = gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	case "br":
		w = brotli.NewWriterLevel(&buf, brotli.DefaultCompression)
	default:
		w, _ = zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedDefault))
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func decompressor(t testing.TB, set func(*Config)) *decompressing {
	t.Helper()
	in, err := build(t, func(c *Config) {
		c.DecompressRequest = true
		if set != nil {
			set(c)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return in.(*decompressing)
}

// reqCtx runs the access phase on a request with body in coding ce.
func reqCtx(t testing.TB, d *decompressing, ce string, body []byte) *plugin.Ctx {
	t.Helper()
	r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
	if ce != "" {
		r.Header.Set("Content-Encoding", ce)
	}
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	c := &plugin.Ctx{Req: r}
	if err := d.Access(c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRequestDecoded(t *testing.T) {
	d := decompressor(t, nil)
	body := sampleJSON(200 << 10)
	for _, k := range []string{"gzip", "br", "zstd", "GZIP"} {
		for range 2 { // the second takes a pooled decoder
			c := reqCtx(t, d, k, encode(t, strings.ToLower(k), body))
			if c.Req.ContentLength != -1 || c.Req.Header.Get("Content-Encoding") != "" || c.Req.Header.Get("Content-Length") != "" {
				t.Errorf("%s: request head %d %v", k, c.Req.ContentLength, c.Req.Header)
			}
			got, err := io.ReadAll(c.Req.Body)
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("%s: %d bytes, %v", k, len(got), err)
			}
		}
	}
	// An empty body, other codings, several codings and no coding go
	// upstream untouched.
	if c := reqCtx(t, d, "gzip", nil); c.Req.ContentLength != 0 || c.Req.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("empty body: %d %v", c.Req.ContentLength, c.Req.Header)
	}
	for _, ce := range []string{"", "deflate", "gzip, br"} {
		c := reqCtx(t, d, ce, []byte("raw"))
		if c.Req.ContentLength != 3 || c.Req.Header.Get("Content-Encoding") != ce {
			t.Errorf("%q: request changed: %d %v", ce, c.Req.ContentLength, c.Req.Header)
		}
	}
}

// A bomb (256 MiB of zeros, about 256 KiB compressed) stops at the size
// limit with the error the proxy answers 413, holding no more memory than
// the decoder's window.
func TestRequestBombStopsAtLimit(t *testing.T) {
	zeros := make([]byte, 1<<20)
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestSpeed)
	for range 256 {
		zw.Write(zeros)
	}
	zw.Close()
	for name, tc := range map[string]struct {
		set func(*Config)
	}{
		"size":  {func(c *Config) { c.DecompressMaxRatio = 1 << 20 }},
		"ratio": {func(c *Config) { c.DecompressMaxSize = 1 << 40 }},
	} {
		d := decompressor(t, tc.set)
		c := reqCtx(t, d, "gzip", bomb.Bytes())
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		n, err := io.Copy(io.Discard, c.Req.Body)
		runtime.ReadMemStats(&after)
		var mbe *http.MaxBytesError
		if !errors.As(err, &mbe) {
			t.Fatalf("%s: read %d bytes, err %v", name, n, err)
		}
		if name == "size" && n > 8<<20 {
			t.Errorf("size: %d bytes through, limit 8 MiB", n)
		}
		if name == "ratio" && n > 16<<20 {
			t.Errorf("ratio: %d bytes through for a 1000:1 body", n)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
			t.Errorf("%s: %d bytes allocated decoding", name, grew)
		}
		// It stays failed.
		if _, err := c.Req.Body.Read(make([]byte, 10)); !errors.As(err, &mbe) {
			t.Errorf("%s: read after the limit: %v", name, err)
		}
	}
	// Each coding stops at the limit.
	for _, k := range []string{"br", "zstd"} {
		d := decompressor(t, func(c *Config) { c.DecompressMaxSize = 1 << 20 })
		c := reqCtx(t, d, k, encode(t, k, make([]byte, 4<<20)))
		n, err := io.Copy(io.Discard, c.Req.Body)
		var mbe *http.MaxBytesError
		if !errors.As(err, &mbe) || n > 1<<20 {
			t.Errorf("%s: %d bytes, %v", k, n, err)
		}
	}
}

// Garbage and truncated bodies are read errors (the proxy's 400), not
// panics.
func TestRequestMalformed(t *testing.T) {
	d := decompressor(t, nil)
	good := encode(t, "gzip", sampleJSON(100<<10))
	for name, tc := range map[string]struct {
		ce   string
		body []byte
	}{
		"gzip garbage":   {"gzip", []byte("not gzip at all")},
		"gzip truncated": {"gzip", good[:len(good)/2]},
		"br garbage":     {"br", []byte("\xff\xff\xff\xff not brotli")},
		"zstd garbage":   {"zstd", []byte("not zstd at all")},
		"zstd truncated": {"zstd", encode(t, "zstd", sampleJSON(100<<10))[:100]},
	} {
		c := reqCtx(t, d, tc.ce, tc.body)
		_, err := io.Copy(io.Discard, c.Req.Body)
		var mbe *http.MaxBytesError
		if err == nil || errors.As(err, &mbe) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

// At most maxDecoding bodies are decoded at once; the slot comes back at
// the body's end or, for a body never read to its end, in the log phase.
func TestRequestDecodingBounded(t *testing.T) {
	d := decompressor(t, nil)
	enc := encode(t, "zstd", sampleJSON(50<<10))
	var open []*plugin.Ctx
	for range maxDecoding {
		c := reqCtx(t, d, "zstd", enc)
		if _, err := c.Req.Body.Read(make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	r := httptest.NewRequest("POST", "/", bytes.NewReader(enc))
	r.Header.Set("Content-Encoding", "zstd")
	var e *plugin.Exit
	if err := d.Access(&plugin.Ctx{Req: r}); !errors.As(err, &e) || e.Status != 503 || e.Header.Get("Retry-After") != "1" {
		t.Fatalf("past maxDecoding: %v", err)
	}
	for _, c := range open[1:] {
		d.Log(c)
	}
	if _, err := io.Copy(io.Discard, open[0].Req.Body); err != nil {
		t.Fatal(err)
	}
	d.Log(open[0])
	if n := d.dec.busy.Load(); n != 0 {
		t.Errorf("%d slots taken after every request ended", n)
	}
	c := reqCtx(t, d, "zstd", enc)
	if got, err := io.ReadAll(c.Req.Body); err != nil || len(got) != len(sampleJSON(50<<10)) {
		t.Errorf("after the slots came back: %d, %v", len(got), err)
	}
}
