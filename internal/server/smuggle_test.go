package server

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// detect feeds stream to a fresh detector in pieces cut at cuts and returns
// the number of the first head it rejects.
func detect(stream []byte, cuts ...int) int64 {
	var d detector
	d.init()
	prev := 0
	for _, c := range cuts {
		d.feed(stream[prev:c])
		prev = c
	}
	d.feed(stream[prev:])
	return d.bad.Load()
}

const (
	get     = "GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n"
	postCL  = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
	postChk = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	smuggle = "POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
)

var detectorTests = []struct {
	name   string
	stream string
	want   int64
}{
	{name: "get", stream: get, want: noReject},
	{name: "content-length body", stream: postCL, want: noReject},
	{name: "chunked body", stream: postChk, want: noReject},
	{name: "cl then te", stream: smuggle, want: 0},
	{name: "te then cl", stream: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: x\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", want: 0},
	{name: "lower case", stream: "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n", want: 0},
	{name: "mixed case", stream: "POST / HTTP/1.1\r\nHost: x\r\ntRaNsFeR-eNcOdInG: identity\r\nCONTENT-LENGTH: 4\r\n\r\n", want: 0},
	{name: "bare LF head", stream: "POST / HTTP/1.1\nHost: x\nContent-Length: 1\nTransfer-Encoding: chunked\n\n", want: 0},
	{name: "http/1.0 cl te", stream: "POST / HTTP/1.0\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", want: 0},
	{name: "empty values still count", stream: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\nTransfer-Encoding:\r\n\r\n", want: 0},
	{name: "pipelined normal", stream: get + postCL + postChk + get + "\r\n" + get, want: noReject},
	{name: "pipelined smuggle last", stream: get + postCL + postChk + smuggle, want: 3},
	{name: "pipelined smuggle first", stream: smuggle + get, want: 0},
	{name: "smuggled request in chunked body", stream: get + "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"3c\r\n\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nX: 123456\r\n\r\n0\r\n\r\n" + get, want: noReject},
	{name: "smuggled fields in content-length body", stream: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 49\r\n\r\n" +
		"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" + get, want: noReject},
	{name: "crlf after post body", stream: postCL + "\r\n" + get + smuggle, want: 2},
	{name: "not quite the names", stream: "POST / HTTP/1.1\r\nContent-Lengthy: 4\r\nTransfer-Encodings: chunked\r\nX-Content-Length: 1\r\n\r\n" + get, want: noReject},
	{name: "chunk extension and trailer", stream: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked \r\n\r\n5;a=b\r\nhello\r\nA \r\n0123456789\r\n0\r\nX-T: v\r\n\r\n" + smuggle, want: 1},
	{name: "duplicate equal lengths", stream: "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok" + smuggle, want: 1},
	{name: "h2c preface", stream: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", want: noReject},
	{name: "pri with fields is http/1", stream: "PRI * HTTP/2.0\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", want: 0},
	// obs-fold, after CRLF or a bare LF, on any field: the head itself is
	// refused (net/textproto would fold it into the previous value).
	{name: "continuation line", stream: "POST / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get, want: 0},
	{name: "folded length", stream: "POST / HTTP/1.1\r\nContent-Length: 1\r\n 2\r\n\r\n" + get, want: 0},
	{name: "folded coding", stream: "POST / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n" + get, want: 0},
	{name: "bare LF folded coding", stream: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + get, want: 0},
	{name: "bare LF tab folded coding", stream: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\n\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + get, want: 0},
	{name: "bare LF folded length", stream: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\n 5\r\n\r\nhello" + get, want: 0},
	{name: "bare LF folded field", stream: "GET / HTTP/1.1\nHost: x\nX-A: b\n c\n\n" + get, want: 0},
	{name: "fold after a good request", stream: get + "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\n\tc\r\n\r\n" + get, want: 1},
	// Framing the detector cannot follow: the request itself passes (it is
	// not CL+TE), every later one on the connection is refused.
	{name: "conflicting lengths", stream: "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok" + get, want: 1},
	{name: "bad length", stream: "POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n" + get, want: 1},
	{name: "te on http/1.0", stream: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + get, want: 1},
	{name: "te not chunked", stream: "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + get, want: 1},
	{name: "two te fields", stream: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get, want: 1},
	{name: "bad chunk size", stream: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + get, want: 1},
	{name: "space before extension", stream: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n" + get, want: 1},
	{name: "bare LF chunk line", stream: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n" + get, want: 1},
	{name: "chunk data not followed by CRLF", stream: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n" + get, want: 1},
	{name: "17 hex digits", stream: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000005\r\nhello\r\n0\r\n\r\n" + get, want: 1},
	{name: "folded trailer", stream: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n" + get, want: 1},
	{name: "bare LF trailer end", stream: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\n" + get, want: 1},
	{name: "chunk overhead", stream: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strings.Repeat("1;"+strings.Repeat("e", 200)+"\r\nx\r\n", 100) + "0\r\n\r\n" + get, want: 1},
}

func TestDetector(t *testing.T) {
	for _, tt := range detectorTests {
		t.Run(tt.name, func(t *testing.T) {
			s := []byte(tt.stream)
			if got := detect(s); got != tt.want {
				t.Fatalf("whole stream: bad = %d, want %d", got, tt.want)
			}
			step := 1
			if len(s) > 4096 { // keep the quadratic cut loop quick on long streams
				step = 7
			}
			for i := 0; i <= len(s); i += step {
				if got := detect(s, i); got != tt.want {
					t.Fatalf("cut at %d (%q | %q): bad = %d, want %d", i, s[:i], s[i:], got, tt.want)
				}
			}
			cuts := make([]int, 0, len(s))
			for i := 1; i < len(s); i++ {
				cuts = append(cuts, i)
			}
			if got := detect(s, cuts...); got != tt.want {
				t.Fatalf("byte by byte: bad = %d, want %d", got, tt.want)
			}
			checkAgainstNetHTTP(t, s, tt.want)
		})
	}
}

// checkAgainstNetHTTP reads stream the way net/http's server does and
// fails if the detector's verdict bad would let a CL+TE head through: every
// such head must have a number >= bad, and after a body net/http fails to
// read (the server may then carry on from wherever its reader stopped) every
// later head must be refused too.
func checkAgainstNetHTTP(t testing.TB, stream []byte, bad int64) {
	t.Helper()
	cr := &countingReader{r: bytes.NewReader(stream)}
	br := bufio.NewReaderSize(cr, 4096) // the server's reader size
	pos := func() int { return cr.n - br.Buffered() }
	var lastMethod string
	for n := int64(0); ; n++ {
		if lastMethod == "POST" {
			skipPostCRLF(br)
		}
		start := pos()
		req, err := http.ReadRequest(br)
		if err != nil {
			return // the server answers 400 and closes
		}
		lastMethod = req.Method
		if hasCLAndTE(stream[start:pos()]) && n < bad {
			t.Fatalf("head %d carries Content-Length and Transfer-Encoding, detector rejects from %d", n, bad)
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			if strings.Contains(err.Error(), "EOF") ||
				strings.Contains(err.Error(), "long trailer") && br.Buffered() < br.Size() {
				// The stream ended inside the body, where a server would
				// wait for more (or close at the end).
				return
			}
			if bad > n+1 {
				t.Fatalf("net/http failed reading body %d (%v), detector rejects only from %d", n, err, bad)
			}
			return
		}
		if req.Close {
			return
		}
	}
}

// skipPostCRLF skips up to 4 CR or LF bytes, what net/http's
// conn.readRequest tolerates after a POST.
func skipPostCRLF(br *bufio.Reader) {
	peek, _ := br.Peek(4)
	skip := 0
	for skip < len(peek) && (peek[skip] == '\r' || peek[skip] == '\n') {
		skip++
	}
	br.Discard(skip)
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

// hasCLAndTE reports whether a head net/http accepted has both fields,
// by net/textproto's line rules.
func hasCLAndTE(head []byte) bool {
	var cl, te bool
	for i, line := range bytes.Split(head, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if i == 0 || len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		cl = cl || strings.EqualFold(string(name), "Content-Length")
		te = te || strings.EqualFold(string(name), "Transfer-Encoding")
	}
	return cl && te
}

func FuzzDetector(f *testing.F) {
	for _, tt := range detectorTests {
		f.Add([]byte(tt.stream), uint16(7))
	}
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16) {
		bad := detect(stream)
		if got := detect(stream, int(cut)%(len(stream)+1)); got != bad {
			t.Fatalf("split at %d changed the verdict: %d, whole stream %d", int(cut)%(len(stream)+1), got, bad)
		}
		checkAgainstNetHTTP(t, stream, bad)
	})
}
