package compression

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkCompress is one 10 KiB JSON response through the header and
// body filters, per coding and level, with the compressed size reported
// (out-bytes) so that the levels' cost and gain read side by side.
func BenchmarkCompress(b *testing.B) {
	body := sampleJSON(10 << 10)
	for _, tc := range []struct {
		coding string
		levels []int
	}{
		{"gzip", []int{1, 4, 6}},
		{"br", []int{1, 4, 5, 6}},
		{"zstd", []int{1, 3, 7}},
	} {
		for _, level := range tc.levels {
			b.Run(tc.coding+"-"+strconv.Itoa(level), func(b *testing.B) {
				in := mustBuild(b, func(c *Config) {
					c.Encodings = []string{tc.coding}
					c.Levels = Levels{Gzip: 4, Br: 4, Zstd: 3}
					switch tc.coding {
					case "gzip":
						c.Levels.Gzip = level
					case "br":
						c.Levels.Br = level
					default:
						c.Levels.Zstd = level
					}
				})
				hdr := jsonHeader("10240")
				ctx := respCtx("GET", http.Header{"Accept-Encoding": {"gzip, deflate, br, zstd"}}, 200, hdr)
				src := bytes.NewReader(body)
				buf := make([]byte, 32<<10)
				out := 0
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					hdr["Content-Length"] = []string{"10240"}
					delete(hdr, "Content-Encoding")
					delete(hdr, "Vary")
					src.Reset(body)
					ctx.Shared = nil
					in.HeaderFilter(ctx)
					r := in.BodyFilter(ctx, src)
					out = 0
					for {
						n, err := r.Read(buf)
						out += n
						if err != nil {
							break
						}
					}
					in.Log(ctx)
				}
				b.ReportMetric(float64(out), "out-bytes")
			})
		}
	}
}

// BenchmarkHeaderFilterSkip is the cost on a response left alone (an
// image): what every response of a route with the plugin pays.
func BenchmarkHeaderFilterSkip(b *testing.B) {
	in := mustBuild(b, nil)
	hdr := http.Header{"Content-Type": {"image/png"}, "Content-Length": {"10240"}}
	ctx := respCtx("GET", http.Header{"Accept-Encoding": {"gzip, deflate, br, zstd"}}, 200, hdr)
	b.ReportAllocs()
	for b.Loop() {
		in.HeaderFilter(ctx)
		in.BodyFilter(ctx, nil)
		in.Log(ctx)
	}
}
