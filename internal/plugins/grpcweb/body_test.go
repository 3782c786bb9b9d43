package grpcweb

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// frame is one gRPC(-Web) frame.
func frame(flags byte, payload string) string {
	var h [5]byte
	h[0] = flags
	binary.BigEndian.PutUint32(h[1:], uint32(len(payload)))
	return string(h[:]) + payload
}

// upstream is a gRPC response body whose trailer the gateway fills in at
// its end, as the proxy does.
type upstream struct {
	r       io.Reader
	dst     *http.Header
	trailer http.Header
}

func (u *upstream) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if err == io.EOF {
		*u.dst = u.trailer
	}
	return n, err
}

// readFrames splits a gRPC-Web body into its frames.
func readFrames(t *testing.T, body []byte) (msgs []string, trailer string) {
	t.Helper()
	for len(body) > 0 {
		if len(body) < 5 {
			t.Fatalf("%d bytes left, not a frame", len(body))
		}
		n := int(binary.BigEndian.Uint32(body[1:5]))
		if len(body) < 5+n {
			t.Fatalf("frame of %d bytes has %d", n, len(body)-5)
		}
		if body[0]&0x80 != 0 {
			if len(body) != 5+n {
				t.Fatalf("%d bytes after the trailer frame", len(body)-5-n)
			}
			return msgs, string(body[5 : 5+n])
		}
		msgs = append(msgs, string(body[5:5+n]))
		body = body[5+n:]
	}
	t.Fatal("no trailer frame")
	return nil, ""
}

// decodeText reads a text-mode answer the way gRPC-Web clients do:
// quantum by quantum, padded pieces back to back.
func decodeText(t *testing.T, s []byte) []byte {
	t.Helper()
	d := textDecoder{max: 1 << 30}
	if err := d.Write(s); err != nil {
		t.Fatalf("answer is not base64 pieces: %v (%q)", err, s)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("answer ends inside a quantum: %q", s)
	}
	return d.out
}

func bodyOf(m *mode, src string, trailer http.Header, wrap func(io.Reader) io.Reader) *webBody {
	b := &webBody{mode: m, max: 64, resp: &plugin.Response{Status: 200}}
	b.src = wrap(&upstream{r: strings.NewReader(src), dst: &b.resp.Trailer, trailer: trailer})
	return b
}

func TestWebBody(t *testing.T) {
	binaryMode, textMode := modeOf("application/grpc-web+proto"), modeOf("application/grpc-web-text")
	two := frame(0, "first") + frame(1, "") + frame(0, strings.Repeat("x", 40))
	okTrailer := http.Header{"Grpc-Status": {"0"}, "X-Upstream-Trailer": {"a", "b"}}
	tests := []struct {
		name     string
		src      string
		trailer  http.Header
		status   string // a trailers-only answer's
		msgs     []string
		want     []string // trailer lines, in any order after the status
		readErr  error
		oneFrame bool
	}{
		{name: "messages and trailer", src: two, trailer: okTrailer,
			msgs: []string{"first", "", strings.Repeat("x", 40)},
			want: []string{"grpc-status:0", "x-upstream-trailer:a", "x-upstream-trailer:b"}},
		{name: "error status with message", src: "", trailer: http.Header{"Grpc-Status": {"5"}, "Grpc-Message": {"no%20such"}},
			want: []string{"grpc-status:5", "grpc-message:no%20such"}},
		{name: "trailers-only answer", src: "", status: "12",
			want: []string{"grpc-status:12"}},
		{name: "no status anywhere", src: frame(0, "m"), msgs: []string{"m"},
			want: []string{"grpc-status:13", "grpc-message:grpc-web: upstream sent no grpc-status"}},
		{name: "line break in a trailer value is left out", src: "", trailer: http.Header{"Grpc-Status": {"0"}, "X-Bad": {"a\r\nb:c"}},
			want: []string{"grpc-status:0"}},
		{name: "message over the limit ends the body", src: frame(0, "ok") + frame(0, strings.Repeat("y", 65)), trailer: okTrailer,
			msgs: []string{"ok"}, want: []string{"grpc-status:8", "grpc-message:grpc-web: upstream message larger than 64 bytes"}},
		{name: "a frame no gRPC server sends ends the body", src: frame(0, "ok") + frame(0x80, "grpc-status:0\r\n"), trailer: okTrailer,
			msgs: []string{"ok"}, want: []string{"grpc-status:13", "grpc-message:grpc-web: malformed frame from the upstream"}},
		{name: "body ends inside a frame", src: frame(0, "ok")[:4], readErr: errTruncated},
		{name: "body ends inside a payload", src: frame(0, "ok")[:6], readErr: errTruncated},
	}
	wraps := map[string]func(io.Reader) io.Reader{
		"whole":     func(r io.Reader) io.Reader { return r },
		"byte-wise": iotest.OneByteReader,
		"halves":    iotest.HalfReader,
	}
	for _, tc := range tests {
		for wname, wrap := range wraps {
			for _, m := range []*mode{binaryMode, textMode} {
				t.Run(tc.name+"/"+wname+"/"+m.contentType[0], func(t *testing.T) {
					b := bodyOf(m, tc.src, tc.trailer, wrap)
					b.status = tc.status
					got, err := io.ReadAll(b)
					if !errors.Is(err, tc.readErr) {
						t.Fatalf("read error %v, want %v", err, tc.readErr)
					}
					if tc.readErr != nil {
						return
					}
					if m.text {
						got = decodeText(t, got)
					}
					msgs, trailer := readFrames(t, got)
					if strings.Join(msgs, "|") != strings.Join(tc.msgs, "|") {
						t.Errorf("messages %q, want %q", msgs, tc.msgs)
					}
					lines := strings.Split(strings.TrimSuffix(trailer, "\r\n"), "\r\n")
					if lines[0] != tc.want[0] {
						t.Errorf("trailer %q does not begin with %q", trailer, tc.want[0])
					}
					if strings.Join(sorted(lines), "|") != strings.Join(sorted(tc.want), "|") {
						t.Errorf("trailer lines %q, want %q", lines, tc.want)
					}
				})
			}
		}
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// A text answer read through tiny buffers is still whole base64 pieces.
func TestWebBodyTextSmallReads(t *testing.T) {
	b := bodyOf(modeOf("application/grpc-web-text"), frame(0, "hello there"), http.Header{"Grpc-Status": {"0"}},
		func(r io.Reader) io.Reader { return r })
	var out bytes.Buffer
	p := make([]byte, 3)
	for {
		n, err := b.Read(p)
		out.Write(p[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	msgs, trailer := readFrames(t, decodeText(t, out.Bytes()))
	if len(msgs) != 1 || msgs[0] != "hello there" || trailer != "grpc-status:0\r\n" {
		t.Errorf("got %q %q", msgs, trailer)
	}
}

// An upstream read error reaches the gateway after the bytes before it.
func TestWebBodyUpstreamError(t *testing.T) {
	reset := errors.New("stream reset")
	b := &webBody{mode: modeOf("application/grpc-web"), max: 64, resp: &plugin.Response{},
		src: io.MultiReader(strings.NewReader(frame(0, "abc")), iotest.ErrReader(reset))}
	got, err := io.ReadAll(b)
	if err != reset || string(got) != frame(0, "abc") {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestAppendTrailerText(t *testing.T) {
	got := appendTrailer(nil, "0", "", "", nil)
	want, _ := base64.StdEncoding.DecodeString("gAAAAA9ncnBjLXN0YXR1czowDQo=")
	if !bytes.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
