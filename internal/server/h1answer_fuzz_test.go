package server

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzH1AnswerDifferential runs one handler script (ansScript) as the
// handler of the own HTTP/1.x path and of a plain net/http server, sends
// both the same request on a raw TCP connection and fails on any
// difference in the answer: the interim answers, status line, header set,
// framing, body, trailer, what the handler's calls returned, and whether
// the connection serves a second request.
//
// Normalised, as docs/ARCHITECTURE.md documents them ("Own HTTP/1.1
// server"): the Date value (a per-second cache), the order of the header
// fields (no sorting) and the Content-Type net/http sniffs when the
// handler set none.
func FuzzH1AnswerDifferential(f *testing.F) {
	for _, c := range ansCases {
		f.Add(c.s.encode())
	}
	own, std := startAnswerServers(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := decodeAnsScript(data)
		if msg := ansCompare(t, s, own, std); msg != "" {
			t.Fatalf("script %s:\n%s", s, msg)
		}
	})
}

// TestH1AnswerDifferential runs the scripts that show each framing and
// rule, and those the fuzzer found.
func TestH1AnswerDifferential(t *testing.T) {
	own, std := startAnswerServers(t)
	for _, c := range ansCases {
		t.Run(c.name, func(t *testing.T) {
			if msg := ansCompare(t, c.s, own, std); msg != "" {
				t.Fatalf("script %s:\n%s", c.s, msg)
			}
		})
	}
}

// Header bits of a script: fields the handler sets before its first call.
const (
	ahContentType = 1 << iota // Content-Type: text/plain
	ahConnClose               // Connection: close
	ahConnKeep                // Connection: keep-alive
	ahTEChunked               // Transfer-Encoding: chunked
	ahTEIdentity              // Transfer-Encoding: identity
	ahTrailerKey              // "Trailer:X-Tp": tp (http.TrailerPrefix)
	ahTrailerDecl             // Trailer: X-Td (its value set by opTrailer)
	ahBadValue                // X-Bad: a value with CR LF in it
	ahBadName                 // a name that is not a token
	ahDate                    // Date set by the handler
	ahNoDate                  // Date: nil (none)
	ahMulti                   // X-Multi: a, then b
	ahLink                    // Link (what a 103 carries)
	ahCount
)

var ahNames = []string{"ct", "conn-close", "conn-keep", "te-chunked", "te-identity", "trailer-key", "trailer-decl", "bad-value", "bad-name", "date", "no-date", "multi", "link"}

// Content-Length modes: what the handler declares against what it writes.
const (
	clNone  = iota
	clExact // the sum of the writes
	clShort // one less
	clLong  // ten more
	clPlus  // "+N", which strconv.ParseInt takes
	clSpace // " N"
	clBad   // not a number
	clCount
)

var clNames = []string{"none", "exact", "short", "long", "plus", "space", "bad"}

// Operations of a script, in the handler's order.
const (
	opWrite       = iota // Write of ansSizes[arg] bytes
	opFlush              // http.ResponseController.Flush
	opWriteHeader        // WriteHeader(ansStatuses[arg])
	opLate               // a field set after the head is written
	opTrailer            // X-Td's value (the declared trailer)
	opTrailerKey         // "Trailer:X-Tk": tk, as the proxy sets an upstream's trailer
	opCount
)

var (
	ansSizes    = []int{0, 1, 5, 100, 2047, 2048, 2049, 3000, 4096, 4097, 5000, 9000}
	ansStatuses = []int{200, 201, 204, 304, 500, 103, 102, 299, 101, 404}
	// The request: its method, and a POST's body framing.
	ansMethods = []string{"GET", "HEAD", "POST", "POST", "POST"}
	ansBodies  = []string{"", "", "", "chunked", "expect-100"}
	// Request protocol and Connection field.
	ansProtos = []struct{ proto, conn string }{
		{"HTTP/1.1", ""}, {"HTTP/1.1", "close"}, {"HTTP/1.0", ""}, {"HTTP/1.0", "keep-alive"},
	}
)

type ansOp struct{ kind, arg uint8 }

// ansScript is a request and what the handler does with it.
type ansScript struct {
	method, proto uint8 // ansMethods, ansProtos indexes
	readBody      bool  // a POST's body is read before the answer
	header        uint16
	cl            uint8
	ops           []ansOp
}

const ansMaxOps = 12

func decodeAnsScript(data []byte) ansScript {
	at := func(i int) uint8 {
		if i < len(data) {
			return data[i]
		}
		return 0
	}
	s := ansScript{
		method:   at(0) % uint8(len(ansMethods)),
		proto:    at(1) % uint8(len(ansProtos)),
		readBody: at(2)&1 != 0,
		header:   (uint16(at(3)) | uint16(at(4))<<8) & (ahCount - 1),
		cl:       at(5) % clCount,
	}
	if s.method == mPOSTChunked && ansProtos[s.proto].proto == "HTTP/1.0" {
		// The own path refuses a chunked body on HTTP/1.0 by design
		// (docs/ARCHITECTURE.md): that is FuzzH1Differential's.
		s.proto -= 2
	}
	for i := 6; i+1 < len(data) && len(s.ops) < ansMaxOps; i += 2 {
		op := ansOp{kind: data[i] % opCount, arg: data[i+1]}
		switch op.kind {
		case opWrite:
			op.arg %= uint8(len(ansSizes))
		case opWriteHeader:
			op.arg %= uint8(len(ansStatuses))
		default:
			op.arg = 0
		}
		s.ops = append(s.ops, op)
	}
	return s
}

func (s ansScript) encode() []byte {
	b := []byte{s.method, s.proto, 0, byte(s.header), byte(s.header >> 8), s.cl}
	if s.readBody {
		b[2] = 1
	}
	for _, op := range s.ops {
		b = append(b, op.kind, op.arg)
	}
	return b
}

func (s ansScript) String() string {
	p := ansProtos[s.proto]
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", ansMethods[s.method], p.proto)
	if body := ansBodies[s.method]; body != "" {
		b.WriteString(" " + body)
	}
	if p.conn != "" {
		b.WriteString(" Connection:" + p.conn)
	}
	if s.readBody && ansMethods[s.method] == http.MethodPost {
		b.WriteString(" read-body")
	}
	b.WriteString(" | header")
	for i, n := range ahNames {
		if s.header&(1<<i) != 0 {
			b.WriteString(" " + n)
		}
	}
	b.WriteString(" cl-" + clNames[s.cl] + " |")
	for _, op := range s.ops {
		switch op.kind {
		case opWrite:
			fmt.Fprintf(&b, " write(%d)", ansSizes[op.arg])
		case opFlush:
			b.WriteString(" flush")
		case opWriteHeader:
			fmt.Fprintf(&b, " WriteHeader(%d)", ansStatuses[op.arg])
		case opLate:
			b.WriteString(" late-field")
		case opTrailer:
			b.WriteString(" trailer-value")
		case opTrailerKey:
			b.WriteString(" trailer-key")
		}
	}
	fmt.Fprintf(&b, " (seed %q)", s.encode())
	return b.String()
}

// hasTrailer says whether the handler sets a Trailer field or a key under
// http.TrailerPrefix.
func (s ansScript) hasTrailer() bool {
	return s.header&(ahTrailerKey|ahTrailerDecl) != 0 || slices.Contains(s.ops, ansOp{kind: opTrailerKey})
}

func (s ansScript) written() int {
	n := 0
	for _, op := range s.ops {
		if op.kind == opWrite {
			n += ansSizes[op.arg]
		}
	}
	return n
}

// request is the raw request; its path carries the script to the handler.
func (s ansScript) request() string {
	p := ansProtos[s.proto]
	req := ansMethods[s.method] + " /s/" + hex.EncodeToString(s.encode()) + " " + p.proto + "\r\nHost: x\r\n"
	if p.conn != "" {
		req += "Connection: " + p.conn + "\r\n"
	}
	switch s.method {
	case mPOST:
		req += "Content-Length: 7\r\n\r\npayload"
	case mPOSTChunked:
		req += "Transfer-Encoding: chunked\r\n\r\n7\r\npayload\r\n0\r\n\r\n"
	case mPOSTExpect:
		// The body follows at once, as clients that wait a moment send it.
		req += "Expect: 100-continue\r\nContent-Length: 7\r\n\r\npayload"
	default:
		req += "\r\n"
	}
	return req
}

// run plays the script as a handler and returns what its calls returned.
func (s ansScript) run(w http.ResponseWriter, r *http.Request) []string {
	h := w.Header()
	set := func(bit uint16, name string, vs ...string) {
		if s.header&bit != 0 {
			h[name] = vs
		}
	}
	set(ahContentType, "Content-Type", "text/plain")
	set(ahConnClose, "Connection", "close")
	set(ahConnKeep, "Connection", "keep-alive")
	set(ahTEChunked, "Transfer-Encoding", "chunked")
	set(ahTEIdentity, "Transfer-Encoding", "identity")
	set(ahTrailerKey, http.TrailerPrefix+"X-Tp", "tp")
	set(ahTrailerDecl, "Trailer", "X-Td")
	set(ahBadValue, "X-Bad", "a\r\nX-Injected: 1")
	set(ahBadName, "X Bad", "v")
	set(ahDate, "Date", "Mon, 01 Jan 2001 00:00:00 GMT")
	if s.header&ahNoDate != 0 {
		h["Date"] = nil
	}
	set(ahMulti, "X-Multi", "a", "b")
	set(ahLink, "Link", "</style.css>; rel=preload")
	n := s.written()
	switch s.cl {
	case clExact:
		h.Set("Content-Length", strconv.Itoa(n))
	case clShort:
		h.Set("Content-Length", strconv.Itoa(max(n-1, 0)))
	case clLong:
		h.Set("Content-Length", strconv.Itoa(n+10))
	case clPlus:
		h.Set("Content-Length", "+"+strconv.Itoa(n))
	case clSpace:
		h.Set("Content-Length", " "+strconv.Itoa(n))
	case clBad:
		h.Set("Content-Length", "x")
	}
	var seen []string
	if s.readBody && r.Method == http.MethodPost {
		b, err := io.ReadAll(r.Body)
		seen = append(seen, fmt.Sprintf("read body %q %v", b, err))
	}
	rc := http.NewResponseController(w)
	for i, op := range s.ops {
		switch op.kind {
		case opWrite:
			n, err := w.Write(ansPayload(i, ansSizes[op.arg]))
			seen = append(seen, fmt.Sprintf("write %d: %d %v", ansSizes[op.arg], n, err))
		case opFlush:
			seen = append(seen, fmt.Sprintf("flush: %v", rc.Flush()))
		case opWriteHeader:
			w.WriteHeader(ansStatuses[op.arg])
		case opLate:
			h.Set("X-Late", "1")
		case opTrailer:
			h.Set("X-Td", "td")
		case opTrailerKey:
			h[http.TrailerPrefix+"X-Tk"] = []string{"tk"}
		}
	}
	return seen
}

// ansPayload is the body of the script's i-th operation: letters, so that
// a misplaced piece shows.
func ansPayload(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte('a' + (i+j)%26)
	}
	return b
}

// ansServer is one side: its address and what its handler saw of the last
// script.
type ansServer struct {
	addr string
	seen chan []string
}

func (a *ansServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	enc, ok := strings.CutPrefix(r.URL.Path, "/s/")
	if !ok {
		io.WriteString(w, "second")
		return
	}
	data, err := hex.DecodeString(enc)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.seen <- decodeAnsScript(data).run(w, r)
}

func startAnswerServers(t testing.TB) (own, std *ansServer) {
	own = &ansServer{seen: make(chan []string, 1)}
	_, own.addr = startOwnH1(t, own)
	std = &ansServer{seen: make(chan []string, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: std, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: time.Minute}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	std.addr = ln.Addr().String()
	return own, std
}

// ansResult is what a client sees of one exchange, and what the handler's
// calls returned.
type ansResult struct {
	Handler []string
	Interim []string // each 1xx's status line, then its sorted fields
	Status  string
	Header  []string // sorted "Name: value" lines
	Framing string   // none, length, chunked or close
	Body    string
	Trailer []string
	End     string // how reading the answer failed, if it did
	Next    string // the answer to a second request, or "closed"
}

const (
	ansDateValue    = "<date>"
	ansSecondServed = "HTTP/1.1 200 OK second"
)

func ansCompare(t *testing.T, s ansScript, own, std *ansServer) string {
	want := ansExchange(t, s, std)
	got := ansExchange(t, s, own)
	// net/http sniffs a Content-Type the own path does not.
	if s.header&ahContentType == 0 {
		want.Header = dropFields(want.Header, "Content-Type: ")
	}
	for _, a := range ansAccepted {
		a.fix(s, &want, &got)
	}
	return ansDiff(want, got)
}

// ansAccepted are the differences judged acceptable that
// docs/ARCHITECTURE.md does not list: each takes its difference out only
// for the scripts that make it, and only that difference.
var ansAccepted = []struct {
	name string
	fix  func(s ansScript, want, got *ansResult)
}{{
	// net/http writes "+5" as the handler set it (strconv.ParseInt takes
	// it), and chunks when the value is not a number but left in the
	// header; where it does not chunk (HTTP/1.0) it writes " 5" or "x" on
	// the wire, which no client can read. The own path drops all three
	// and frames the body as if the handler had set none.
	"a Content-Length that is not all digits",
	func(s ansScript, want, got *ansResult) {
		if s.cl < clPlus {
			return
		}
		// net/http may close after a length it wrote but did not take.
		if got.Next == "closed" || got.Next == ansSecondServed {
			want.Next = got.Next
		}
		sameFraming(want, got)
		if strings.HasPrefix(want.End, "Content-Length ") {
			want.End, want.Body, want.Next = got.End, got.Body, got.Next
		}
	},
}, {
	// net/http chunks when the handler set "chunked", even a small body
	// that gets a length otherwise (and drops a Content-Length with it);
	// it closes after a body whose handler set "identity", and it drops a
	// Content-Length set with either. The own path frames as if the
	// handler had set no Transfer-Encoding: it keeps the connection, and
	// keeps the Content-Length (so a shorter body ends in a close).
	"a Transfer-Encoding set by the handler",
	func(s ansScript, want, got *ansResult) {
		if s.header&(ahTEChunked|ahTEIdentity) == 0 {
			return
		}
		sameFraming(want, got)
		if want.Next == "closed" || s.cl != clNone {
			want.Next = got.Next
		}
		if s.cl != clNone {
			want.End, want.Body = got.End, got.Body
		}
	},
}, {
	// On an HTTP/1.0 answer the own path says "Connection: close" when it
	// closes; net/http says nothing, the protocol's default.
	"Connection: close on an HTTP/1.0 answer",
	func(s ansScript, want, got *ansResult) {
		if ansProtos[s.proto].proto == "HTTP/1.0" && !slices.ContainsFunc(want.Header, func(l string) bool { return strings.HasPrefix(l, "Connection: ") }) {
			got.Header = dropFields(got.Header, "Connection: close")
		}
	},
}, {
	// For a code without a reason phrase net/http writes "status code
	// 299"; the own path leaves it empty, as RFC 9112 4 allows.
	"the reason phrase of a code unknown to net/http",
	func(s ansScript, want, got *ansResult) {
		if len(got.Status) == len("HTTP/1.1 299 ") && want.Status == got.Status+"status code "+got.Status[9:12] {
			want.Status = got.Status
		}
	},
}, {
	// net/http writes the handler's Connection field (keep-alive on a
	// kept connection, any value on a 1xx); the own path writes only the
	// Connection it decides on.
	"the handler's Connection field",
	func(s ansScript, want, got *ansResult) {
		if s.header&(ahConnClose|ahConnKeep) == 0 {
			return
		}
		want.Interim = dropFields(want.Interim, "Connection: ")
		if !slices.Contains(got.Header, "Connection: keep-alive") {
			want.Header = dropFields(want.Header, "Connection: keep-alive")
		}
	},
}, {
	// A Write past the declared Content-Length fails on both; net/http
	// counts its bytes all the same and so closes the connection after
	// the answer, which is whole. The own path keeps it.
	"a Write past the declared length",
	func(s ansScript, want, got *ansResult) {
		if want.Next == "closed" && got.End == "" && slices.ContainsFunc(got.Handler, func(l string) bool { return strings.HasSuffix(l, http.ErrContentLength.Error()) }) {
			want.Next = got.Next
		}
	},
}, {
	// An HTTP/1.0 answer cannot carry a trailer. net/http gives one with a
	// trailer (a Trailer field or a key under http.TrailerPrefix) no
	// length and closes after it; the own path gives it the length of a
	// small finished body and keeps the connection.
	"trailers on an HTTP/1.0 answer",
	func(s ansScript, want, got *ansResult) {
		if ansProtos[s.proto].proto == "HTTP/1.0" && s.hasTrailer() && want.Framing == "close" && got.Framing == "length" {
			sameFraming(want, got)
			want.Next = got.Next
		}
	},
}, {
	// A value set after WriteHeader under a name the Trailer field
	// announced is not sent: the head is written at WriteHeader
	// (h1writer.go's appendTrailer).
	"a trailer declared by the Trailer field",
	func(s ansScript, want, got *ansResult) {
		if slices.Contains(s.ops, ansOp{kind: opTrailer}) {
			want.Trailer = dropFields(want.Trailer, "X-Td: ")
		}
	},
}}

// sameFraming takes the framing, and what follows from it, out of both:
// the framing fields, and the trailer unless both chunk (only a chunked
// body has room for one).
func sameFraming(want, got *ansResult) {
	if want.Framing != "chunked" || got.Framing != "chunked" {
		want.Trailer = got.Trailer
	}
	for _, r := range []*ansResult{want, got} {
		for _, f := range []string{"Content-Length: ", "Transfer-Encoding: ", "Connection: "} {
			r.Header = dropFields(r.Header, f)
		}
		r.Framing = ""
	}
}

func dropFields(fields []string, prefix string) []string {
	return slices.DeleteFunc(fields, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

func ansDiff(want, got ansResult) string {
	var b strings.Builder
	field := func(name string, w, g any) {
		if ws, gs := fmt.Sprintf("%q", w), fmt.Sprintf("%q", g); ws != gs {
			fmt.Fprintf(&b, "%s differs:\n  net/http %s\n  own path %s\n", name, ws, gs)
		}
	}
	field("handler's calls", want.Handler, got.Handler)
	field("interim answers", want.Interim, got.Interim)
	field("status line", want.Status, got.Status)
	field("header", want.Header, got.Header)
	field("framing", want.Framing, got.Framing)
	if want.Body != got.Body {
		i := 0
		for i < len(want.Body) && i < len(got.Body) && want.Body[i] == got.Body[i] {
			i++
		}
		fmt.Fprintf(&b, "body differs: net/http %d bytes, own path %d, first difference at %d\n", len(want.Body), len(got.Body), i)
	}
	field("trailer", want.Trailer, got.Trailer)
	field("end", want.End, got.End)
	field("second request", want.Next, got.Next)
	return b.String()
}

// ansExchange sends s's request to srv, reads the answer and tries a
// second request on the connection.
func ansExchange(t *testing.T, s ansScript, srv *ansServer) ansResult {
	select {
	case <-srv.seen:
	default:
	}
	c, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, s.request()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var res ansResult
	if err := readRawAnswer(br, ansMethods[s.method], &res); err != nil {
		res.End = err.Error()
	}
	select {
	case res.Handler = <-srv.seen:
	case <-time.After(5 * time.Second):
		res.Handler = []string{"handler did not return"}
	}
	switch {
	case res.End != "":
	case res.Framing == "close":
		res.Next = "closed"
	default:
		res.Next = secondExchange(c, br)
	}
	return res
}

// secondExchange sends a GET on the connection and returns its answer, or
// "closed" when the server does not serve it.
func secondExchange(c net.Conn, br *bufio.Reader) string {
	if _, err := io.WriteString(c, "GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return "closed"
	}
	if _, err := br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
			return "closed"
		}
		return err.Error()
	}
	var next ansResult
	if err := readRawAnswer(br, "GET", &next); err != nil {
		return fmt.Sprintf("unreadable: %v (status %q)", err, next.Status)
	}
	rest, _ := io.ReadAll(br)
	out := next.Status + " " + next.Body
	if len(rest) > 0 {
		out += fmt.Sprintf(" then %q", rest)
	}
	return out
}

// readRawAnswer reads the interim answers and the answer to a request of
// method from br, with its framing as a client finds it (RFC 9112 6.3).
func readRawAnswer(br *bufio.Reader, method string, res *ansResult) error {
	for {
		status, fields, err := readRawHead(br)
		res.Status, res.Header = status, fields
		if err != nil {
			return err
		}
		code := 0
		if len(status) >= 12 {
			code, _ = strconv.Atoi(status[9:12])
		}
		if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
			res.Interim = append(append(res.Interim, status), fields...)
			continue
		}
		get := func(name string) (string, bool) {
			for _, f := range fields {
				if v, ok := strings.CutPrefix(f, name+": "); ok {
					return v, true
				}
			}
			return "", false
		}
		te, hasTE := get("Transfer-Encoding")
		cl, hasCL := get("Content-Length")
		switch {
		case method == http.MethodHead || code < 200 || code == 204 || code == 304:
			res.Framing = "none"
		case hasTE && strings.HasSuffix(te, "chunked"):
			res.Framing = "chunked"
			return readRawChunked(br, res)
		case hasTE:
			res.Framing = "close"
		case hasCL:
			res.Framing = "length"
			n, err := strconv.ParseInt(strings.TrimPrefix(cl, "+"), 10, 64)
			if err != nil {
				return fmt.Errorf("Content-Length %q", cl)
			}
			b := make([]byte, n)
			k, err := io.ReadFull(br, b)
			res.Body = string(b[:k])
			if err != nil {
				return fmt.Errorf("body: %d of %d bytes: %v", k, n, ansErr(err))
			}
		default:
			res.Framing = "close"
		}
		if res.Framing == "close" {
			b, err := io.ReadAll(br)
			res.Body = string(b)
			if err != nil {
				return fmt.Errorf("body to the close: %v", ansErr(err))
			}
		}
		return nil
	}
}

// ansErr words err for comparison: the same failure reads the same on
// both sides.
func ansErr(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "reset"):
		return "reset"
	}
	return err.Error()
}

func readRawLine(br *bufio.Reader) (string, error) {
	l, err := br.ReadString('\n')
	if err != nil {
		return l, fmt.Errorf("line %q: %v", l, ansErr(err))
	}
	if !strings.HasSuffix(l, "\r\n") {
		return l, fmt.Errorf("line %q without CR", l)
	}
	return l[:len(l)-2], nil
}

// readRawHead reads a status line and its fields, sorted, the Date value
// replaced.
func readRawHead(br *bufio.Reader) (string, []string, error) {
	status, err := readRawLine(br)
	if err != nil {
		return status, nil, err
	}
	fields, err := readRawFields(br)
	return status, fields, err
}

func readRawFields(br *bufio.Reader) ([]string, error) {
	var fields []string
	for {
		l, err := readRawLine(br)
		if err != nil {
			return fields, err
		}
		if l == "" {
			slices.Sort(fields)
			return fields, nil
		}
		if strings.HasPrefix(l, "Date: ") {
			if _, err := http.ParseTime(l[6:]); err != nil {
				return fields, fmt.Errorf("date %q", l)
			}
			l = "Date: " + ansDateValue
		}
		fields = append(fields, l)
	}
}

func readRawChunked(br *bufio.Reader, res *ansResult) error {
	var body strings.Builder
	defer func() { res.Body = body.String() }()
	for {
		l, err := readRawLine(br)
		if err != nil {
			return fmt.Errorf("chunk size: %v", err)
		}
		n, err := strconv.ParseUint(l, 16, 32)
		if err != nil {
			return fmt.Errorf("chunk size %q", l)
		}
		if n == 0 {
			res.Trailer, err = readRawFields(br)
			return err
		}
		b := make([]byte, n+2)
		k, err := io.ReadFull(br, b)
		body.Write(b[:min(k, int(n))])
		if err != nil {
			return fmt.Errorf("chunk: %d of %d bytes: %v", k, n, ansErr(err))
		}
		if string(b[n:]) != "\r\n" {
			return fmt.Errorf("chunk of %d ends in %q", n, b[n:])
		}
	}
}

func aops(o ...ansOp) []ansOp { return o }

func aw(size int) ansOp  { return ansOp{opWrite, uint8(slices.Index(ansSizes, size))} }
func awh(code int) ansOp { return ansOp{opWriteHeader, uint8(slices.Index(ansStatuses, code))} }

var (
	aFlush      = ansOp{kind: opFlush}
	aLate       = ansOp{kind: opLate}
	aTrailer    = ansOp{kind: opTrailer}
	aTrailerKey = ansOp{kind: opTrailerKey}
)

const (
	mGET, mHEAD, mPOST, mPOSTChunked, mPOSTExpect = 0, 1, 2, 3, 4
	p11, p11Close, p10, p10KeepAlive              = 0, 1, 2, 3
)

var ansCases = []struct {
	name string
	s    ansScript
}{
	{"empty", ansScript{}},
	{"small body", ansScript{ops: aops(aw(5))}},
	{"small body typed", ansScript{header: ahContentType, ops: aops(aw(5))}},
	{"2048 gets a length", ansScript{ops: aops(aw(2048))}},
	{"2049 is chunked", ansScript{ops: aops(aw(2049))}},
	{"big writes", ansScript{ops: aops(aw(3000), aw(5000), aw(9000), aw(1))}},
	{"flush then small", ansScript{ops: aops(aFlush, aw(5))}},
	{"small flush small", ansScript{ops: aops(aw(5), aFlush, aw(100), aFlush, aw(0))}},
	{"length exact", ansScript{cl: clExact, ops: aops(aw(100), aw(4097))}},
	{"length short", ansScript{cl: clShort, ops: aops(aw(100), aw(5))}},
	{"length long", ansScript{cl: clLong, ops: aops(aw(100))}},
	{"length zero, write past it", ansScript{cl: clShort, ops: aops(aw(1))}},
	{"length plus", ansScript{cl: clPlus, ops: aops(aw(5))}},
	{"length space", ansScript{cl: clSpace, ops: aops(aw(5))}},
	{"length bad", ansScript{cl: clBad, ops: aops(aw(5))}},
	{"1.0 small", ansScript{proto: p10, ops: aops(aw(5))}},
	{"1.0 big", ansScript{proto: p10, ops: aops(aw(3000))}},
	{"1.0 keep-alive small", ansScript{proto: p10KeepAlive, ops: aops(aw(5))}},
	{"1.0 keep-alive big", ansScript{proto: p10KeepAlive, ops: aops(aw(3000))}},
	{"1.0 keep-alive length", ansScript{proto: p10KeepAlive, cl: clExact, ops: aops(aw(3000))}},
	{"1.1 close", ansScript{proto: p11Close, ops: aops(aw(5))}},
	{"handler close", ansScript{header: ahConnClose, ops: aops(aw(5))}},
	{"handler close chunked", ansScript{header: ahConnClose, ops: aops(aw(3000))}},
	{"HEAD empty", ansScript{method: mHEAD}},
	{"HEAD big", ansScript{method: mHEAD, ops: aops(aw(3000))}},
	{"HEAD length", ansScript{method: mHEAD, cl: clExact, ops: aops(aw(5))}},
	{"POST unread", ansScript{method: mPOST, ops: aops(aw(5))}},
	{"POST read", ansScript{method: mPOST, readBody: true, ops: aops(aw(5))}},
	{"POST chunked unread", ansScript{method: mPOSTChunked, ops: aops(aw(5))}},
	{"POST chunked read", ansScript{method: mPOSTChunked, readBody: true, ops: aops(aw(3000))}},
	{"POST 100-continue unread", ansScript{method: mPOSTExpect, ops: aops(aw(5))}},
	{"POST 100-continue read", ansScript{method: mPOSTExpect, readBody: true, ops: aops(aw(5))}},
	{"POST 100-continue 103 unread", ansScript{method: mPOSTExpect, header: ahLink, ops: aops(awh(103), aw(5))}},
	{"POST 100-continue 1.0 read", ansScript{method: mPOSTExpect, proto: p10KeepAlive, readBody: true, ops: aops(aw(5))}},
	{"204", ansScript{ops: aops(awh(204), aw(5))}},
	{"204 length", ansScript{cl: clExact, header: ahContentType, ops: aops(awh(204))}},
	{"304", ansScript{header: ahContentType, ops: aops(awh(304), aw(5))}},
	{"500", ansScript{ops: aops(awh(500), aw(5))}},
	{"no reason phrase", ansScript{ops: aops(awh(299), aw(5))}},
	{"103 then 200", ansScript{header: ahLink, ops: aops(awh(103), awh(200), aw(5))}},
	{"103 with length", ansScript{header: ahLink | ahConnClose, cl: clExact, ops: aops(awh(103), aw(5))}},
	{"102", ansScript{ops: aops(awh(102), aw(5))}},
	{"101", ansScript{ops: aops(awh(101))}},
	{"WriteHeader twice", ansScript{ops: aops(awh(500), awh(200), aw(5))}},
	{"write before WriteHeader", ansScript{ops: aops(aw(5), awh(500))}},
	{"late field", ansScript{ops: aops(awh(200), aLate, aw(5))}},
	{"late field after flush", ansScript{ops: aops(aw(5), aFlush, aLate)}},
	{"te chunked small", ansScript{header: ahTEChunked, ops: aops(aw(5))}},
	{"te chunked length", ansScript{header: ahTEChunked, cl: clExact, ops: aops(aw(5))}},
	{"te chunked 1.0", ansScript{proto: p10, header: ahTEChunked, ops: aops(aw(5))}},
	{"te chunked with a length too short", ansScript{header: ahTEChunked | ahLink | ahMulti | ahBadName | ahBadValue | ahConnKeep, cl: clShort, ops: aops(aw(0), aw(0), aw(5))}},
	{"trailer key, te chunked, no body", ansScript{header: ahTEChunked | ahTrailerKey}},
	{"te identity with a trailer key", ansScript{header: ahTEIdentity | ahTrailerKey}},
	{"te chunked with a length and a trailer key", ansScript{header: ahTEChunked | ahTrailerKey | ahLink, cl: clExact}},
	{"length +0 with trailers", ansScript{header: ahContentType | ahTrailerKey | ahTrailerDecl | ahLink, cl: clPlus}},
	{"te identity", ansScript{header: ahTEIdentity, ops: aops(aw(5))}},
	{"trailer key chunked", ansScript{header: ahTrailerKey, ops: aops(aw(3000))}},
	{"1.0 trailer", ansScript{proto: p10, header: ahTrailerDecl | ahTrailerKey, ops: aops(aw(5))}},
	{"1.0 trailer, length not a number", ansScript{proto: p10, header: ahContentType | ahTrailerDecl | ahLink, cl: clBad, ops: aops(aw(0))}},
	{"1.0 keep-alive trailer, length +0, flush", ansScript{proto: p10KeepAlive, header: ahContentType | ahTrailerDecl | ahLink, cl: clPlus, ops: aops(aFlush)}},
	{"1.0 keep-alive trailer, length space", ansScript{proto: p10KeepAlive, header: ahContentType | ahTrailerDecl | ahLink, cl: clSpace}},
	{"1.0 keep-alive trailer, length not a number", ansScript{proto: p10KeepAlive, header: ahContentType | ahTrailerDecl | ahLink, cl: clBad}},
	// As the proxy passes an upstream's trailer on: after WriteHeader,
	// which both take the head at, so that a small body gets a length and
	// the trailer is lost on both.
	{"trailer key after a small body", ansScript{ops: aops(awh(200), aw(5), aTrailerKey)}},
	{"trailer key after a big body", ansScript{ops: aops(awh(200), aw(3000), aTrailerKey)}},
	{"trailer declared", ansScript{header: ahTrailerDecl, ops: aops(aw(3000), aTrailer)}},
	{"bad value", ansScript{header: ahBadValue, ops: aops(aw(5))}},
	{"bad name", ansScript{header: ahBadName, ops: aops(aw(5))}},
	{"date set", ansScript{header: ahDate, ops: aops(aw(5))}},
	{"no date", ansScript{header: ahNoDate, ops: aops(aw(5))}},
	{"multi", ansScript{header: ahMulti, ops: aops(aw(5))}},
	{"keep-alive field", ansScript{header: ahConnKeep, ops: aops(aw(5))}},
	// Differences that are bugs of the own path (the commit that adds
	// them says why): HEAD writes are not counted or checked as net/http
	// counts and checks them,
	{"HEAD small", ansScript{method: mHEAD, ops: aops(aw(5))}},
	{"HEAD write past the length", ansScript{method: mHEAD, cl: clShort, ops: aops(aw(1))}},
	{"HEAD 204 write", ansScript{method: mHEAD, ops: aops(awh(204), aw(5))}},
	// an empty Write after a bodyless status fails,
	{"204 empty write", ansScript{ops: aops(awh(204), aw(0))}},
	{"101 empty write", ansScript{ops: aops(awh(101), aw(0))}},
	// and a trailer set before the head does not keep a small body from
	// getting a length (and losing the trailer).
	{"trailer key small", ansScript{header: ahTrailerKey, ops: aops(aw(5))}},
	{"Trailer field, small body", ansScript{header: ahTrailerDecl, ops: aops(aw(5), aTrailer)}},
}
