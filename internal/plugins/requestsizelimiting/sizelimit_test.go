package requestsizelimiting

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

func TestRegistration(t *testing.T) {
	reg := Registration()
	if reg.Name != "request-size-limiting" || reg.Priority != 951 || reg.NoConsumer {
		t.Fatalf("got %q %d %v", reg.Name, reg.Priority, reg.NoConsumer)
	}
	cfg := reg.NewConfig().(*Config)
	cfg.SetDefaults()
	if diff := cmp.Diff(&Config{AllowedPayloadSize: 128, SizeUnit: "megabytes"}, cfg); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestSchema(t *testing.T) {
	for _, unit := range []string{"megabytes", "kilobytes", "bytes"} {
		if _, err := New(&Config{AllowedPayloadSize: 2, SizeUnit: unit}, plugin.Env{}); err != nil {
			t.Errorf("%s: %v", unit, err)
		}
	}
	_, err := New(&Config{AllowedPayloadSize: 2, SizeUnit: "gigabytes"}, plugin.Env{})
	var errs plugin.Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0] != (plugin.Problem{Path: "size_unit", Message: "expected one of: megabytes, kilobytes, bytes"}) {
		t.Fatalf("got %v", err)
	}
	// A limit too large to count in bytes is no limit, not an overflow.
	in, err := New(&Config{AllowedPayloadSize: 1 << 62, SizeUnit: "megabytes"}, plugin.Env{})
	if err != nil || in.(*instance).limit <= 0 {
		t.Fatalf("huge limit: %v %+v", err, in)
	}
}

// serve runs the plugin in front of a handler that reads the body, over
// a real net/http server, so the request is framed as the gateway sees
// it. The answer is the Exit's status and message, or 200 and the body.
func serve(t *testing.T, cfg Config) string {
	t.Helper()
	in, err := New(&cfg, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &plugin.Ctx{Req: r}
		err := in.(plugin.Accessor).Access(c)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(c.Req.Body)
		}
		var e *plugin.Exit
		if errors.As(err, &e) {
			w.WriteHeader(e.Status)
			io.WriteString(w, e.Message)
			return
		}
		fmt.Fprintf(w, "%d bytes", len(body))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// raw sends a request head and body as written and returns "status body".
func raw(t *testing.T, addr, head, body string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, head+"\r\n"+body)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusContinue {
		if resp, err = http.ReadResponse(br, nil); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

func chunked(n int) string {
	return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", n, strings.Repeat("a", n))
}

// The cases of Kong's spec/03-plugins/12-request-size-limiting/01-access_spec.lua
// (TEST_SIZE 2), in every unit, declared and chunked.
func TestAccess(t *testing.T) {
	const tooLarge = "413 Request size limit exceeded"
	for _, tc := range []struct {
		unit   string
		factor int
	}{{"megabytes", 1 << 20}, {"kilobytes", 1 << 10}, {"bytes", 1}} {
		addr := serve(t, Config{AllowedPayloadSize: 2, SizeUnit: tc.unit})
		limit := 2 * tc.factor
		cl := func(n int, extra string) string {
			return raw(t, addr, fmt.Sprintf("POST /request HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n", extra, n), strings.Repeat("a", n))
		}
		ch := func(n int, extra string) string {
			return raw(t, addr, "GET /request HTTP/1.1\r\nHost: x\r\n"+extra+"Transfer-Encoding: chunked\r\n", chunked(n))
		}
		for _, c := range []struct{ name, got, want string }{
			{"length at the limit", cl(limit, ""), fmt.Sprintf("200 %d bytes", limit)},
			{"length under the limit", cl(limit-1, ""), fmt.Sprintf("200 %d bytes", limit-1)},
			{"length at the limit, Expect", cl(limit, "Expect: 100-continue\r\n"), fmt.Sprintf("200 %d bytes", limit)},
			{"length over the limit", cl(limit+1, ""), tooLarge},
			{"length over the limit, Expect", cl(limit+1, "Expect:  100-Continue \r\n"), "417 Request size limit exceeded"},
			{"chunked at the limit", ch(limit, ""), fmt.Sprintf("200 %d bytes", limit)},
			{"chunked at the limit, Expect", ch(limit, "Expect: 100-continue\r\n"), fmt.Sprintf("200 %d bytes", limit)},
			{"chunked over the limit", ch(limit+1, ""), tooLarge},
			{"chunked over the limit, Expect", ch(limit+1, "Expect: 100-continue\r\n"), "417 Request size limit exceeded"},
		} {
			if c.got != c.want {
				t.Errorf("%s, %s: got %q, want %q", tc.unit, c.name, c.got, c.want)
			}
		}
	}
}

// require_content_length: a request with neither a length nor a chunked
// body gets 411; a chunked one is counted as usual.
func TestRequireContentLength(t *testing.T) {
	addr := serve(t, Config{AllowedPayloadSize: 2, SizeUnit: "bytes", RequireContentLength: true})
	for _, c := range []struct{ name, got, want string }{
		{"no length", raw(t, addr, "GET /request HTTP/1.1\r\nHost: x\r\n", ""), "411 A valid Content-Length header is required"},
		{"length 0", raw(t, addr, "GET /request HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n", ""), "200 0 bytes"},
		{"chunked", raw(t, addr, "POST /request HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n", chunked(2)), "200 2 bytes"},
		{"chunked over", raw(t, addr, "POST /request HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n", chunked(3)), "413 Request size limit exceeded"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	// Without it, a request with no body passes.
	addr = serve(t, Config{AllowedPayloadSize: 2, SizeUnit: "bytes"})
	if got := raw(t, addr, "GET /request HTTP/1.1\r\nHost: x\r\n", ""); got != "200 0 bytes" {
		t.Errorf("no body: %q", got)
	}
}

// The counting reader reads at most one byte past the limit from the
// client, whatever the buffer it is given, and keeps failing once it
// failed; up to the limit it passes the body on.
func TestLimitedBodyReadsBounded(t *testing.T) {
	src := &countingReader{r: strings.NewReader(strings.Repeat("a", 1<<20))}
	b := &limitedBody{body: io.NopCloser(src), left: 10, exit: exitTooLarge}
	buf := make([]byte, 64<<10)
	n, err := b.Read(buf)
	if n != 0 || err != exitTooLarge {
		t.Fatalf("first read: %d %v", n, err)
	}
	if n, err = b.Read(buf); n != 0 || err != exitTooLarge {
		t.Fatalf("second read: %d %v", n, err)
	}
	if src.n != 11 {
		t.Fatalf("read %d bytes from the client, want 11", src.n)
	}
	b = &limitedBody{body: io.NopCloser(strings.NewReader("0123456789")), left: 10, exit: exitTooLarge}
	if got, err := io.ReadAll(b); string(got) != "0123456789" || err != nil {
		t.Fatalf("at the limit: %q %v", got, err)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// BenchmarkAccess is the per-request cost: a declared length, and a
// chunked body (whose reader is the one allocation).
func BenchmarkAccess(b *testing.B) {
	in, _ := New(&Config{AllowedPayloadSize: 128, SizeUnit: "megabytes"}, plugin.Env{})
	acc := in.(plugin.Accessor)
	declared := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("hello"))
	declared.Header.Set("Content-Length", "5")
	b.Run("content-length", func(b *testing.B) {
		c := &plugin.Ctx{Req: declared}
		b.ReportAllocs()
		for b.Loop() {
			if err := acc.Access(c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("chunked", func(b *testing.B) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("hello"))
		r.ContentLength, r.TransferEncoding = -1, []string{"chunked"}
		body := r.Body
		c := &plugin.Ctx{Req: r}
		b.ReportAllocs()
		for b.Loop() {
			r.Body = body
			if err := acc.Access(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
