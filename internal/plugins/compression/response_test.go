package compression

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func respCtx(method string, req http.Header, status int, resp http.Header) *plugin.Ctx {
	r := httptest.NewRequest(method, "/", nil)
	for k, vs := range req {
		r.Header[k] = vs
	}
	return &plugin.Ctx{Req: r, Method: method, Resp: plugin.Response{Status: status, Header: resp, FromUpstream: true}}
}

func jsonHeader(length string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	if length != "" {
		h["Content-Length"] = []string{length}
	}
	return h
}

var browser = http.Header{"Accept-Encoding": {"gzip, deflate, br, zstd"}}

// A compressed response's head: coding set, length and ranges gone, ETag
// weakened, Vary merged.
func TestHeaderFilterRewritesHead(t *testing.T) {
	in := mustBuild(t, nil)
	h := jsonHeader("5000")
	h["Etag"] = []string{`"abc"`}
	h["Accept-Ranges"] = []string{"bytes"}
	h["Vary"] = []string{"Origin"}
	c := respCtx("GET", browser, 200, h)
	in.HeaderFilter(c)
	want := http.Header{
		"Content-Type":     {"application/json"},
		"Content-Encoding": {"zstd"},
		"Etag":             {`W/"abc"`},
		"Vary":             {"Origin", "Accept-Encoding"},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("head (-want +got):\n%s", diff)
	}
	if r, _ := c.Shared[name].(*reader); r == nil || r.pool != in.pools[zstdCoding] || r.flush {
		t.Errorf("reader %+v", r)
	}
	// A weak ETag stays; a Vary naming Accept-Encoding or * is not added to.
	for _, vary := range []string{"accept-encoding", "Origin, Accept-Encoding", "*"} {
		h := jsonHeader("")
		h["Etag"] = []string{`W/"x"`}
		h["Vary"] = []string{vary}
		c := respCtx("GET", browser, 200, h)
		in.HeaderFilter(c)
		if got := h["Vary"]; len(got) != 1 || got[0] != vary || h["Etag"][0] != `W/"x"` {
			t.Errorf("Vary %q became %q, ETag %q", vary, got, h["Etag"])
		}
		if r, _ := c.Shared[name].(*reader); r == nil || !r.flush {
			t.Error("a body without length is not streamed")
		}
		in.Log(c)
	}
}

// Each rule that leaves a response alone.
func TestHeaderFilterSkips(t *testing.T) {
	in := mustBuild(t, nil)
	noCookieSkip := mustBuild(t, func(c *Config) { c.SkipSetCookie = false })
	withHeader := func(k, v string) http.Header {
		h := jsonHeader("5000")
		h[k] = []string{v}
		return h
	}
	for _, tc := range []struct {
		name     string
		in       *instance
		method   string
		req      http.Header
		status   int
		resp     http.Header
		exit     bool
		wantVary bool
	}{
		{name: "no Accept-Encoding", req: http.Header{}, wantVary: true},
		{name: "only q=0", req: http.Header{"Accept-Encoding": {"gzip;q=0, br;q=0, zstd;q=0"}}, wantVary: true},
		{name: "only deflate", req: http.Header{"Accept-Encoding": {"deflate"}}, wantVary: true},
		{name: "101", status: 101},
		{name: "204", status: 204},
		{name: "206", status: 206, resp: withHeader("Content-Range", "bytes 0-99/5000")},
		{name: "Range request", req: http.Header{"Accept-Encoding": {"gzip"}, "Range": {"bytes=0-99"}}},
		{name: "already encoded", resp: withHeader("Content-Encoding", "gzip")},
		{name: "identity declared", resp: withHeader("Content-Encoding", "identity")},
		{name: "no-transform", resp: withHeader("Cache-Control", "public, No-Transform")},
		{name: "Set-Cookie", resp: withHeader("Set-Cookie", "sid=1")},
		{name: "image", resp: http.Header{"Content-Type": {"image/png"}, "Content-Length": {"5000"}}},
		{name: "no type", resp: http.Header{"Content-Length": {"5000"}}},
		{name: "short", resp: jsonHeader("1023")},
		{name: "empty, min_length 0", in: mustBuild(t, func(c *Config) { c.MinLength = 0 }), resp: jsonHeader("0")},
		{name: "gateway answer", exit: true},
	} {
		inst := in
		if tc.in != nil {
			inst = tc.in
		}
		req := tc.req
		if req == nil {
			req = browser
		}
		resp := tc.resp
		if resp == nil {
			resp = jsonHeader("5000")
		}
		status := tc.status
		if status == 0 {
			status = 200
		}
		before := resp.Clone()
		c := respCtx("GET", req, status, resp)
		c.Resp.FromUpstream = !tc.exit
		inst.HeaderFilter(c)
		if tc.wantVary {
			before["Vary"] = []string{"Accept-Encoding"}
		}
		if diff := cmp.Diff(before, resp); diff != "" {
			t.Errorf("%s: head changed (-want +got):\n%s", tc.name, diff)
		}
		body := inst.BodyFilter(c, strings.NewReader("x"))
		if _, ok := body.(*strings.Reader); !ok {
			t.Errorf("%s: body wrapped", tc.name)
		}
	}
	// skip_set_cookie off compresses them; the length rule is >=.
	for name, tc := range map[string]struct {
		in   *instance
		resp http.Header
	}{
		"Set-Cookie, skip off": {noCookieSkip, func() http.Header { h := jsonHeader("5000"); h["Set-Cookie"] = []string{"a=b"}; return h }()},
		"exactly min_length":   {in, jsonHeader("1024")},
		"any status with body": {in, jsonHeader("5000")},
	} {
		c := respCtx("GET", browser, 404, tc.resp)
		tc.in.HeaderFilter(c)
		if tc.resp.Get("Content-Encoding") != "zstd" {
			t.Errorf("%s: not compressed: %v", name, tc.resp)
		}
	}
}

// A 304 carries the Vary and weak ETag of the compressed response it
// validates; for a client that negotiates nothing it is left alone.
func TestHeaderFilterNotModified(t *testing.T) {
	in := mustBuild(t, nil)
	h := http.Header{"Etag": {`"v1"`}}
	in.HeaderFilter(respCtx("GET", browser, 304, h))
	if diff := cmp.Diff(http.Header{"Etag": {`W/"v1"`}, "Vary": {"Accept-Encoding"}}, h); diff != "" {
		t.Errorf("304 (-want +got):\n%s", diff)
	}
	h = http.Header{"Etag": {`"v1"`}}
	in.HeaderFilter(respCtx("GET", http.Header{}, 304, h))
	if diff := cmp.Diff(http.Header{"Etag": {`"v1"`}}, h); diff != "" {
		t.Errorf("304 without Accept-Encoding (-want +got):\n%s", diff)
	}
}

// decode reads a body in coding k with an independent decoder.
func decode(t testing.TB, k string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch k {
	case "gzip":
		gr, err := stdgzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = gr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		return b
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return out
}

func sampleJSON(n int) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		// Numbers that repeat rarely: about the ratio of real JSON.
		x := i*7919%100003 + i*i%977
		b.WriteString(`{"id":` + strconv.Itoa(x) + `,"name":"product ` + strconv.Itoa(x*31%9973) +
			`","price":` + strconv.Itoa(x%1000) + `.` + strconv.Itoa(x%97) + `,"stock":` + strconv.Itoa(x%71) + `}`)
	}
	b.WriteString("]")
	return b.Bytes()
}

// compress runs body through the filters as the proxy does and returns
// the coding and the bytes sent.
func compress(t testing.TB, in *instance, ae string, body []byte, length bool) (string, []byte) {
	t.Helper()
	cl := ""
	if length {
		cl = "1"
		if len(body) >= 1024 {
			cl = "99999"
		}
	}
	c := respCtx("GET", http.Header{"Accept-Encoding": {ae}}, 200, jsonHeader(cl))
	in.HeaderFilter(c)
	out, err := io.ReadAll(in.BodyFilter(c, bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	return c.Resp.Header.Get("Content-Encoding"), out
}

func TestBodiesDecodeWithRealDecoders(t *testing.T) {
	body := sampleJSON(10 << 10)
	big := bytes.Repeat(sampleJSON(64<<10), 20) // several encoder blocks
	for _, ae := range []string{"gzip", "br", "zstd"} {
		in := mustBuild(t, nil)
		for _, length := range []bool{true, false} {
			for _, b := range [][]byte{body, big, {}} {
				k, out := compress(t, in, ae, b, length)
				if k != ae && len(b) > 0 {
					t.Fatalf("%s: coding %q", ae, k)
				}
				if got := decode(t, k, out); !bytes.Equal(got, b) {
					t.Errorf("%s length=%v: %d bytes decoded to %d, want %d", ae, length, len(out), len(got), len(b))
				}
				if len(b) == len(body) && len(out) > len(b)/3 {
					t.Errorf("%s: %d bytes for %d", ae, len(out), len(b))
				}
			}
		}
	}
}

// An upstream error mid-body reaches the proxy after what was encoded.
func TestBodyErrorPassesThrough(t *testing.T) {
	in := mustBuild(t, nil)
	c := respCtx("GET", browser, 200, jsonHeader(""))
	in.HeaderFilter(c)
	boom := io.ErrUnexpectedEOF
	r := in.BodyFilter(c, io.MultiReader(strings.NewReader(strings.Repeat("x", 5000)), &errReader{boom}))
	n, err := io.Copy(io.Discard, r)
	if err != boom || n == 0 {
		t.Errorf("copied %d, err %v", n, err)
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

// The coder comes from the pool: a compressed response costs a handful of
// small allocations, not an encoder (hundreds of KiB).
func TestPooledCodersReused(t *testing.T) {
	body := sampleJSON(10 << 10)
	for _, ae := range []string{"gzip", "br", "zstd"} {
		in := mustBuild(t, nil)
		compress(t, in, ae, body, true) // fill the pool
		var got *coder
		p := in.pools[mustCoding(t, ae)]
		c1 := p.get()
		p.put(c1)
		got = p.get()
		p.put(got)
		if got != c1 {
			t.Errorf("%s: pool handed out a new coder", ae)
		}
		hdr := jsonHeader("99999")
		ctx := respCtx("GET", http.Header{"Accept-Encoding": {ae}}, 200, hdr)
		src := bytes.NewReader(body)
		buf := make([]byte, 32<<10)
		allocs := testing.AllocsPerRun(50, func() {
			hdr["Content-Length"] = []string{"99999"}
			delete(hdr, "Content-Encoding")
			delete(hdr, "Vary")
			src.Reset(body)
			ctx.Shared = nil
			in.HeaderFilter(ctx)
			r := in.BodyFilter(ctx, src)
			for {
				if _, err := r.Read(buf); err != nil {
					break
				}
			}
			in.Log(ctx)
		})
		if busy := p.busy.Load(); busy != 0 {
			t.Errorf("%s: %d slots still taken", ae, busy)
		}
		if allocs > 6 {
			t.Errorf("%s: %v allocations a response", ae, allocs)
		}
	}
}

func mustCoding(t testing.TB, name string) coding {
	k, ok := codingByName(name)
	if !ok {
		t.Fatal(name)
	}
	return k
}

// A HEAD response rewrites the head but takes no coder.
func TestHeadTakesNoCoder(t *testing.T) {
	in := mustBuild(t, nil)
	c := respCtx("HEAD", browser, 200, jsonHeader("5000"))
	in.HeaderFilter(c)
	if c.Resp.Header.Get("Content-Encoding") != "zstd" || c.Resp.Header.Get("Content-Length") != "" {
		t.Errorf("HEAD head %v", c.Resp.Header)
	}
	r := in.BodyFilter(c, strings.NewReader("")).(*reader)
	if r.c != nil {
		t.Error("coder taken before a read")
	}
	if p := in.pools[zstdCoding]; p.busy.Load() != 1 {
		t.Errorf("%d slots taken", p.busy.Load())
	}
	in.Log(c)
	in.Log(c)
	if p := in.pools[zstdCoding]; p.busy.Load() != 0 {
		t.Errorf("after the log phase, %d slots taken", p.busy.Load())
	}
}

// At most maxBusy responses hold an encoder: past that they go as is,
// and a response cut short gives its slot back in the log phase.
func TestBusyEncodersBounded(t *testing.T) {
	in := mustBuild(t, func(c *Config) { c.Encodings = []string{"gzip"} })
	body := sampleJSON(10 << 10)
	var open []*plugin.Ctx
	for range maxBusy {
		c := respCtx("GET", browser, 200, jsonHeader(""))
		in.HeaderFilter(c)
		r := in.BodyFilter(c, bytes.NewReader(body))
		if _, err := r.Read(make([]byte, 10)); err != nil || c.Resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%v %v", err, c.Resp.Header)
		}
		open = append(open, c)
	}
	c := respCtx("GET", browser, 200, jsonHeader(""))
	in.HeaderFilter(c)
	if c.Resp.Header.Get("Content-Encoding") != "" || c.Resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("past maxBusy: %v", c.Resp.Header)
	}
	if _, ok := in.BodyFilter(c, bytes.NewReader(body)).(*bytes.Reader); !ok {
		t.Error("body wrapped")
	}
	for _, c := range open {
		in.Log(c) // the clients went away mid-body
	}
	c = respCtx("GET", browser, 200, jsonHeader(""))
	in.HeaderFilter(c)
	if c.Resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("slots not given back: %v", c.Resp.Header)
	}
}

// A gateway answer (a cache hit) is compressed whole by ExitBody, under
// the same rules, and its header filter leaves it to that.
func TestExitBodyCompressed(t *testing.T) {
	in := mustBuild(t, nil)
	body := sampleJSON(10 << 10)
	for _, tc := range []struct {
		name, ae, want string
		resp           http.Header
		body           []byte
	}{
		{"hit", "gzip", "gzip", http.Header{"Content-Type": {"application/json"}, "Etag": {`"e"`}}, body},
		{"hit, browser", "gzip, deflate, br, zstd", "zstd", http.Header{"Content-Type": {"application/json"}}, body},
		{"no Accept-Encoding", "", "", http.Header{"Content-Type": {"application/json"}}, body},
		{"short", "gzip", "", http.Header{"Content-Type": {"application/json"}}, body[:1000]},
		{"no type (an error page)", "gzip", "", http.Header{}, body},
		{"cookie", "gzip", "", http.Header{"Content-Type": {"application/json"}, "Set-Cookie": {"a=b"}}, body},
	} {
		c := respCtx("GET", http.Header{"Accept-Encoding": {tc.ae}}, 200, tc.resp)
		c.Resp.FromUpstream = false
		in.HeaderFilter(c)
		if c.Resp.Header.Get("Content-Encoding") != "" || c.Shared != nil {
			t.Fatalf("%s: header filter acted on a gateway answer", tc.name)
		}
		out := in.ExitBody(c, tc.body)
		if got := c.Resp.Header.Get("Content-Encoding"); got != tc.want {
			t.Errorf("%s: coding %q, want %q", tc.name, got, tc.want)
		}
		if got := decode(t, tc.want, out); !bytes.Equal(got, tc.body) {
			t.Errorf("%s: decoded %d bytes, want %d", tc.name, len(got), len(tc.body))
		}
		if tc.want == "gzip" && c.Resp.Header.Get("Etag") != `W/"e"` {
			t.Errorf("%s: ETag %q", tc.name, c.Resp.Header.Get("Etag"))
		}
	}
	for k, p := range in.pools {
		if p.busy.Load() != 0 {
			t.Errorf("%s: %d slots taken", codingNames[k], p.busy.Load())
		}
	}
}
