package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// FuzzH1Differential feeds one byte stream (pipelined requests with their
// bodies) to the gateway's net/http path, modelled by h1Oracle, and to the
// own HTTP/1.x path (h1Conn over an in-memory conn), and fails on any
// disagreement: how many requests each accepts, every field a handler sees
// of them (body and trailer included), whether 100 Continue is sent, and
// how the stream ends (a refusal and its status, or a close).
//
// Where h1parse.go says the own path is stricter by design (Content-Length
// with Transfer-Encoding, Transfer-Encoding on other than HTTP/1.1,
// obs-fold, a bare CR), the own path must refuse the head, with any status,
// and the oracle must refuse it too or refuse every later head on the
// connection (the detector's verdict); otherwise net/http serves something
// the detector misses, and the test says so.
func FuzzH1Differential(f *testing.F) {
	for _, s := range h1FuzzSeeds {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		if bytes.HasPrefix(stream, []byte(h2cPreface[:16])) {
			return // handed to net/http as it is (h1Server.handOff)
		}
		want := h1Oracle(t, stream)
		got := h1OwnPath(t, stream, int(step))
		if msg := h1Diff(want, got); msg != "" {
			t.Fatalf("stream %q (reads of %d):\n%s\nnet/http: %s\nown path: %s", stream, step, msg, want, got)
		}
	})
}

// fuzzMaxHeaderBytes is small so that the fuzzer reaches the head limit
// (MaxHeaderBytes+4096, as net/http's).
const fuzzMaxHeaderBytes = 1024

const fuzzHeadLimit = fuzzMaxHeaderBytes + 4096

// h1Seen is what a handler sees of one request.
type h1Seen struct {
	Method, RequestURI     string
	URL                    url.URL // without User
	User                   string
	Proto                  string
	ProtoMajor, ProtoMinor int
	Host                   string
	Header                 http.Header
	ContentLength          int64
	TransferEncoding       []string
	Close                  bool
	Body                   string // "" when BodyErr
	BodyErr                bool
	Trailer                http.Header // after the body; nil when BodyErr
	Continue               bool        // 100 Continue went out before the answer
}

// h1Result is what one side did with a stream.
type h1Result struct {
	reqs []h1Seen
	// status of the refusal that ended the stream; 0: closed without one.
	status int
	// anyStatus: a head the own path refuses by design; any refusal does.
	anyStatus bool
	// bodyErr: the last request's body failed; net/http then reads on from
	// wherever its reader stopped and the detector refuses what follows,
	// the own path closes. Neither is compared.
	bodyErr bool
	// lostAt is the request whose chunked body net/http read but the
	// detector could not follow (a trailer with bare LF, obs-fold, odd
	// names): net/http refuses every later head; the own path fails that
	// body by design instead. -1: none.
	lostAt int
}

func (r h1Result) String() string {
	var b strings.Builder
	for i, s := range r.reqs {
		fmt.Fprintf(&b, "\n  %d: %+v", i, s)
	}
	fmt.Fprintf(&b, "\n  end: status %d anyStatus %v bodyErr %v lostAt %d", r.status, r.anyStatus, r.bodyErr, r.lostAt)
	return b.String()
}

func h1Diff(want, got h1Result) string {
	n := min(len(want.reqs), len(got.reqs))
	for i := range n {
		w, g := want.reqs[i], got.reqs[i]
		failed := i == want.lostAt && g.BodyErr
		if failed {
			g.Body, g.BodyErr, g.Trailer = w.Body, w.BodyErr, w.Trailer
		}
		if !reflect.DeepEqual(w, g) {
			return fmt.Sprintf("request %d differs:\n  net/http %+v\n  own path %+v", i, want.reqs[i], got.reqs[i])
		}
		if failed {
			if len(got.reqs) != i+1 || got.status != 0 {
				return "the own path goes on after a body it failed"
			}
			return ""
		}
	}
	if len(want.reqs) != len(got.reqs) {
		return fmt.Sprintf("net/http accepts %d requests, the own path %d", len(want.reqs), len(got.reqs))
	}
	switch {
	case want.bodyErr:
		if got.status != 0 {
			return fmt.Sprintf("the own path answers %d after a failed body", got.status)
		}
	case want.anyStatus:
		if got.status == 0 {
			return "the own path does not refuse a head it refuses by design"
		}
	case want.status != got.status:
		return fmt.Sprintf("the stream ends in status %d on net/http, %d on the own path", want.status, got.status)
	}
	return ""
}

// seeRequest records r, reading its body to the end.
func seeRequest(r *http.Request) h1Seen {
	s := h1Seen{
		Method: r.Method, RequestURI: r.RequestURI, URL: *r.URL,
		Proto: r.Proto, ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor,
		Host: r.Host, Header: emptyNil(r.Header.Clone()), ContentLength: r.ContentLength,
		Close: r.Close,
	}
	if s.URL.User != nil {
		s.User = s.URL.User.String()
		s.URL.User = nil
	}
	if len(r.TransferEncoding) > 0 {
		s.TransferEncoding = append([]string(nil), r.TransferEncoding...)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.BodyErr = true
		return s
	}
	s.Body = string(body)
	s.Trailer = emptyNil(r.Trailer.Clone())
	return s
}

func emptyNil(h http.Header) http.Header {
	if len(h) == 0 {
		return nil
	}
	return h
}

// h1Oracle is what the gateway's net/http path does with stream: net/http's
// server (conn.readRequest and conn.serve) around http.ReadRequest, the
// smuggling detector and the guard in front of the handler.
func h1Oracle(t *testing.T, stream []byte) h1Result {
	out := h1Result{lostAt: -1}
	var d detector
	d.init()
	rd := bytes.NewReader(stream)
	br := bufio.NewReaderSize(rd, 4096) // the server's reader
	pos := func() int { return len(stream) - rd.Len() - br.Buffered() }
	fed := 0
	feed := func() {
		p := pos()
		d.feed(stream[fed:p])
		fed = p
	}
	var lastMethod string
	for n := int64(0); ; n++ {
		if lastMethod == "POST" {
			skipPostCRLF(br)
		}
		start := pos()
		if _, err := br.Peek(1); err != nil {
			return out // EOF between requests: closed without an answer
		}
		end := testHeadEnd(stream[start:])
		if end > fuzzHeadLimit || end < 0 && len(stream)-start >= fuzzHeadLimit {
			out.status = http.StatusRequestHeaderFieldsTooLarge
			return out
		}
		strict := end > 0 && strictByDesign(stream[start:start+end])
		req, err := http.ReadRequest(br)
		feed()
		refuse := func(status int) h1Result {
			out.status = status
			out.anyStatus = strict
			return out
		}
		byDesign := func() h1Result {
			out.anyStatus = true
			return out
		}
		if err != nil {
			if isUnsupportedTE(err) {
				return refuse(http.StatusNotImplemented)
			}
			return refuse(http.StatusBadRequest) // a cut head (io.ErrUnexpectedEOF) too
		}
		if req.ProtoMajor != 1 && !(req.ProtoMajor == 2 && req.ProtoMinor == 0 && req.Method == "PRI" && req.RequestURI == "*") {
			return refuse(http.StatusHTTPVersionNotSupported)
		}
		lastMethod = req.Method
		// http.ReadRequest drops the Host field the server's readRequest
		// looks at: read it again the same way.
		tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(stream[start:pos()])))
		tp.ReadLine()
		mh, _ := tp.ReadMIMEHeader()
		hosts, haveHost := mh["Host"]
		isH2Upgrade := req.Method == "PRI" && len(req.Header) == 0 && req.URL.Path == "*" && req.Proto == "HTTP/2.0"
		if req.ProtoAtLeast(1, 1) && (!haveHost || len(hosts) == 0) && !isH2Upgrade && req.Method != http.MethodConnect {
			return refuse(http.StatusBadRequest)
		}
		if len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]) {
			return refuse(http.StatusBadRequest)
		}
		for k, vv := range req.Header {
			if !httpguts.ValidHeaderFieldName(k) {
				return refuse(http.StatusBadRequest)
			}
			for _, v := range vv {
				if !httpguts.ValidHeaderFieldValue(v) {
					return refuse(http.StatusBadRequest)
				}
			}
		}
		delete(req.Header, "Host")
		cont := false
		if expect := req.Header["Expect"]; len(expect) > 0 && netHTTPHasToken(expect[0], "100-continue") {
			cont = req.ProtoAtLeast(1, 1) && req.ContentLength != 0
		} else if len(expect) > 0 && expect[0] != "" {
			return refuse(http.StatusExpectationFailed)
		}
		// The guard.
		if n >= d.bad.Load() {
			return refuse(http.StatusBadRequest)
		}
		if req.ProtoMajor >= 2 {
			// net/http hands "PRI * HTTP/2.0" to the handler and closes; the
			// own path refuses it (505).
			return byDesign()
		}
		if strict {
			// Served by net/http, every later head refused.
			if d.bad.Load() > n+1 {
				t.Fatalf("head %d %q: net/http serves it and the detector lets the next head through", n, stream[start:start+end])
			}
			return byDesign()
		}
		s := seeRequest(req)
		feed()
		s.Continue = cont
		out.reqs = append(out.reqs, s)
		if s.BodyErr {
			out.bodyErr = true
			return out
		}
		if d.bad.Load() == n+1 && s.ContentLength < 0 && out.lostAt < 0 {
			out.lostAt = len(out.reqs) - 1
		}
		if req.Close {
			return out
		}
	}
}

// strictByDesign reports whether the own path refuses head by design where
// net/http alone would not: a bare CR, obs-fold, Content-Length with
// Transfer-Encoding, Transfer-Encoding on other than HTTP/1.1.
func strictByDesign(head []byte) bool {
	for i, c := range head {
		if c == '\r' && (i+1 == len(head) || head[i+1] != '\n') {
			return true
		}
	}
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	cl, te := false, false
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			return true
		}
		name, _, _ := strings.Cut(l, ":")
		cl = cl || strings.EqualFold(name, "Content-Length")
		te = te || strings.EqualFold(name, "Transfer-Encoding")
	}
	_, proto, _ := strings.Cut(lines[0], " ")
	_, proto, _ = strings.Cut(proto, " ")
	return te && (cl || proto != "HTTP/1.1")
}

// testHeadEnd is the length of the head at the start of b, blank line
// included, or -1 when b holds no whole head.
func testHeadEnd(b []byte) int {
	end := -1
	for _, blank := range []string{"\n\n", "\n\r\n"} {
		if i := bytes.Index(b, []byte(blank)); i >= 0 && (end < 0 || i+len(blank) < end) {
			end = i + len(blank)
		}
	}
	return end
}

func isUnsupportedTE(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "too many transfer encodings") || strings.HasPrefix(s, "unsupported transfer encoding")
}

// netHTTPHasToken is net/http's hasToken (request.go), which reads Expect.
func netHTTPHasToken(v, token string) bool {
	if len(token) > len(v) || token == "" {
		return false
	}
	if v == token {
		return true
	}
	for sp := 0; sp <= len(v)-len(token); sp++ {
		if b := v[sp]; b != token[0] && b|0x20 != token[0] {
			continue
		}
		if sp > 0 && !netHTTPTokenBoundary(v[sp-1]) {
			continue
		}
		if endPos := sp + len(token); endPos != len(v) && !netHTTPTokenBoundary(v[endPos]) {
			continue
		}
		if strings.EqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func netHTTPTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

// h1OwnPath serves stream on an h1Conn over an in-memory conn that hands
// out step bytes a read (0: all it has).
func h1OwnPath(t *testing.T, stream []byte, step int) h1Result {
	out := h1Result{lostAt: -1}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out.reqs = append(out.reqs, seeRequest(r))
		w.WriteHeader(http.StatusOK)
	})
	s := newH1Server(handler, Limits{MaxHeaderBytes: fuzzMaxHeaderBytes}, &Stats{}, h2Limits{}, log.New(io.Discard, "", 0))
	fc := &memConn{in: stream, step: step}
	c := newH1Conn(s, fc, context.Background())
	s.conns[c] = struct{}{}
	c.serve()
	if !fc.closed {
		t.Fatal("the own path left the connection open")
	}
	// The answers: an optional 100 Continue and a 200 per request, then a
	// refusal or nothing.
	br := bufio.NewReader(bytes.NewReader(fc.out.Bytes()))
	for i := range out.reqs {
		r := &out.reqs[i]
		for {
			resp, err := http.ReadResponse(br, &http.Request{Method: r.Method})
			if err != nil {
				t.Fatalf("answer %d: %v in %q", i, err, fc.out.Bytes())
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode == http.StatusContinue && !r.Continue {
				r.Continue = true
				continue
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("answer %d: status %d in %q", i, resp.StatusCode, fc.out.Bytes())
			}
			break
		}
		if r.BodyErr {
			out.bodyErr = true
		}
	}
	rest, _ := io.ReadAll(br)
	if len(rest) > 0 {
		for status, b := range refusals {
			if bytes.Equal(rest, b) {
				out.status = status
			}
		}
		if out.status == 0 {
			t.Fatalf("unexpected output after the answers: %q", rest)
		}
	}
	return out
}

// memConn is a net.Conn over a byte string: reads serve it, writes are
// kept, deadlines do nothing.
type memConn struct {
	in     []byte
	step   int
	out    bytes.Buffer
	closed bool
}

func (c *memConn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	if c.step > 0 && len(p) > c.step {
		p = p[:c.step]
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

func (c *memConn) Close() error {
	if c.closed {
		return errors.New("closed twice")
	}
	c.closed = true
	return nil
}

func (c *memConn) LocalAddr() net.Addr              { return memAddr }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

var memAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}

const (
	fzGet   = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	fzPost  = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
	fzChunk = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
)

// headOfSize is a GET head of n bytes.
func headOfSize(n int) string {
	const pre, post = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ", "\r\n\r\n"
	return pre + strings.Repeat("p", n-len(pre)-len(post)) + post
}

// trailerOfSize is a chunked POST whose trailer section is n bytes.
func trailerOfSize(n int) string {
	const pre, post = "X-Pad: ", "\r\n\r\n"
	return "POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n" +
		pre + strings.Repeat("p", n-len(pre)-len(post)) + post
}

// h1FuzzSeeds are the seed streams; findings of the fuzzer are added here.
var h1FuzzSeeds = []string{
	fzGet,
	fzGet + fzGet + fzGet,
	fzPost + fzGet,
	fzChunk + fzGet,
	fzPost + "\r\n" + fzGet,
	fzPost + "\r\n\r\n\r\n" + fzGet,
	"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-T, x-u\r\n\r\n5;a=b;c=\"d\"\r\nhello\r\nA \r\n0123456789\r\n0\r\nX-T: 1\r\nx-u: 2\r\nX-V: 3\r\n\r\n" + fzGet,
	"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"GET /a HTTP/1.1\nHost: x\nAccept: */*\n\nGET /b HTTP/1.1\nHost: y\n\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n" + fzGet,
	"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\n\tc\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + fzGet,
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc" + fzGet,
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd" + fzGet,
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" + fzGet,
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n" + fzGet,
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n" + fzGet,
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000005\r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\n" + fzGet,
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + fzGet,
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + fzGet,
	"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", fuzzHeadLimit) + "\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", fuzzMaxHeaderBytes) + "\r\n\r\n" + fzGet,
	"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: v\r\n", 600) + "\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok" + fzGet,
	"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue, foo\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nExpect: something\r\nContent-Length: 2\r\n\r\nok",
	"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
	"GET http://example.com:8080/p/a?q=1#f HTTP/1.1\r\nHost: other\r\n\r\n" + fzGet,
	"GET http://user:pw@example.com/ HTTP/1.1\r\nHost: x\r\n\r\n",
	"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
	"CONNECT /rpc HTTP/1.1\r\nHost: x\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /a%20b/%2F/c?x=%41&y HTTP/1.1\r\nHost: x\r\n\r\nGET /a? HTTP/1.1\r\nHost: x\r\n\r\nGET //x/../y;z HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /\xff\x80 HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nx-custom-name: v\r\nX-CUSTOM-NAME: w\r\nuser-agent: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n" + fzGet,
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + fzGet,
	"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + fzGet,
	"GET / HTTP/1.1\r\nHost: x\r\nPragma: no-cache\r\n\r\n",
	fzGet + "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	fzGet + "PRI * HTTP/2.0\r\nHost: x\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.2\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + fzGet,
	"GET / HTTP/0.9\r\n\r\n",
	"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1",
	"GET / HTTP/1.1\r\nHost: x\r\n",
	"\r\n" + fzGet,
	"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nhello",
	"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
	"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : y\r\n\r\n" + fzGet,
	"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\x01\r\n\r\n" + fzGet,
	"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strings.Repeat("1;"+strings.Repeat("e", 200)+"\r\nx\r\n", 100) + "0\r\n\r\n" + fzGet,
	headOfSize(fuzzHeadLimit), headOfSize(fuzzHeadLimit + 1), headOfSize(fuzzHeadLimit - 1)[:fuzzHeadLimit-3],
	trailerOfSize(maxTrailerBytes) + fzGet, trailerOfSize(maxTrailerBytes+1) + fzGet,
	"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("f", 4093) + "\r\n",
	fzPost + "\r\n\r\n\r" + fzGet,
	// Found by the fuzzer.
	"0 * HTTP/1.1\nHost:\nTrAnsfer-EnCoding:Chunked\n\n0\r\n0:\r\n",
	"0 * HTTP/0.0\nC :\n\n",
	"PRI * HTTP/2.0\n0:\n\n",
}
