package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// The HTTP/1.1 client side of the proxy. net/http's Transport hands every
// request to two goroutines per connection through channels; a gateway that
// already runs on the request's goroutine can write the request and read the
// response synchronously, which is where most of a Go proxy's CPU goes.

var errBadResponse = errors.New("invalid upstream response")

// upstreamHead is a parsed response status line and framing.
type upstreamHead struct {
	status        int
	contentLength int64 // -1 when not given
	chunked       bool
	close         bool // the upstream will close, or framing forbids reuse
	upgrade       bool // 101 Switching Protocols
	websocket     bool // the head names the WebSocket protocol in Upgrade
	budget        int  // what the limit leaves for the trailer
}

// errBadSwitch is a 101 to a request that asked for no upgrade, or to
// another protocol than the one it asked for (RFC 9110 15.2.2): relaying
// it would leave the client waiting on a protocol nobody speaks.
var errBadSwitch = fmt.Errorf("%w: 101 Switching Protocols to a protocol the request did not ask for", errBadResponse)

// DefaultMaxResponseHeaderBytes bounds an upstream response head unless
// Options say otherwise: the request side's default.
const DefaultMaxResponseHeaderBytes = 64 << 10

// errHeadTooLarge is a response head (with the interim ones before it)
// over the limit. It is never retried: every target would send the same.
var errHeadTooLarge = fmt.Errorf("%w: response head too large", errBadResponse)

// headRequest is what readHead needs to know of the request.
type headRequest struct {
	noBody    bool // HEAD: no body whatever the head says
	websocket bool // the request asked for a WebSocket upgrade
	maxBytes  int  // the most head bytes read, interim heads included
	// vals is room for the head's single values (nil: none), the
	// caller's for as long as dst lives.
	vals []string
}

// writeHead writes the request line and headers. Header values with CR or
// LF (only a plugin could put them there) are dropped rather than allowed to
// split the request.
func writeHead(bw *bufio.Writer, method, path, query, host string, h http.Header, contentLength int64, upgrade string) {
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(path)
	if query != "" {
		bw.WriteByte('?')
		bw.WriteString(query)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	for k, vs := range h {
		if skipRequestHeader(k) {
			continue
		}
		for _, v := range vs {
			if !validHeaderValue(v) {
				continue
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	switch {
	case upgrade != "":
		bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
		bw.WriteString(upgrade)
		bw.WriteString("\r\n")
	case contentLength > 0:
		bw.WriteString("Content-Length: ")
		var num [20]byte
		bw.Write(strconv.AppendInt(num[:0], contentLength, 10))
		bw.WriteString("\r\n")
	case contentLength < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case method == "POST" || method == "PUT" || method == "PATCH":
		// An empty body of a method that defines one is declared, as
		// net/http and Kong do, so the upstream does not wait for one.
		bw.WriteString("Content-Length: 0\r\n")
	}
	bw.WriteString("\r\n")
}

// validRequestLine reports whether the parts of the upstream request line
// and Host are safe to write: plugins and templates can put client input
// into them, and a CR, LF, space or other control byte there would split
// or smuggle a request to the upstream.
func validRequestLine(method, path, query, host string) bool {
	if method == "" || host == "" || path == "" {
		return false
	}
	for i := 0; i < len(method); i++ {
		if c := method[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	for _, s := range [...]string{path, query, host} {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c <= ' ' || c == 0x7f {
				return false
			}
		}
	}
	return strings.IndexByte(host, '/') < 0 && strings.IndexByte(host, '\\') < 0
}

// skipRequestHeader names the headers writeHead produces itself, and
// Proxy-Authorization, which is for the gateway (basic-auth may read it)
// and never for the upstream.
func skipRequestHeader(k string) bool {
	switch k {
	case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Expect", "Proxy-Authorization":
		return true
	}
	return false
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// writeBody sends the client's body: exactly contentLength bytes, or chunked
// when the length is unknown.
func writeBody(bw *bufio.Writer, body io.Reader, contentLength int64, buf []byte) error {
	if contentLength > 0 {
		n, err := io.CopyBuffer(bw, io.LimitReader(body, contentLength), buf)
		if err == nil && n < contentLength {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		return bw.Flush()
	}
	for {
		n, err := body.Read(buf)
		if n > 0 {
			var size [16]byte
			bw.Write(strconv.AppendInt(size[:0], int64(n), 16))
			bw.WriteString("\r\n")
			bw.Write(buf[:n])
			bw.WriteString("\r\n")
			if ferr := bw.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			bw.WriteString("0\r\n\r\n")
			return bw.Flush()
		}
		if err != nil {
			return err
		}
	}
}

// readHead reads a response head into dst (the client response's header
// map), dropping hop-by-hop headers. Interim 1xx responses other than 101
// are skipped; a 101 is accepted only as the switch to the WebSocket
// protocol the request asked for.
//
// The heads count against req.maxBytes together, as in net/http's client,
// so that a flood of interim responses is bounded as a large head is.
func readHead(br *bufio.Reader, dst http.Header, req headRequest) (upstreamHead, error) {
	budget := req.maxBytes
	for {
		head, err := readOneHead(br, dst, &budget, req.vals)
		if err != nil {
			return head, err
		}
		if head.status == http.StatusSwitchingProtocols && !(req.websocket && head.websocket) {
			return head, errBadSwitch
		}
		if head.status >= 200 || head.status == http.StatusSwitchingProtocols {
			if req.noBody || head.status == http.StatusNoContent || head.status == http.StatusNotModified {
				head.contentLength, head.chunked = 0, false
			}
			return head, nil
		}
		clear(dst)
	}
}

// headLine reads one line of a response head and charges it to *budget.
// A line longer than the reader's buffer (a large cookie or CSP field) is
// put together in a slice of its own.
func headLine(br *bufio.Reader, budget *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull && len(long) <= *budget {
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if len(line) > *budget {
		return nil, errHeadTooLarge
	}
	if err != nil {
		return nil, err
	}
	*budget -= len(line)
	return line, nil
}

func readOneHead(br *bufio.Reader, dst http.Header, budget *int, vals []string) (upstreamHead, error) {
	hp := headParse{head: upstreamHead{contentLength: -1}, dst: dst, vals: vals[:0]}
	line, err := headLine(br, budget)
	if err != nil {
		return hp.head, err
	}
	if err := hp.statusLine(trimEOL(line)); err != nil {
		return hp.head, err
	}
	for {
		line, err = headLine(br, budget)
		if err != nil {
			return hp.head, err
		}
		line = trimEOL(line)
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return hp.head, errBadResponse // obsolete line folding
		}
		rawKey, value, ok := splitField(line)
		if !ok {
			return hp.head, errBadResponse
		}
		key, group := commonKey(rawKey)
		if err := hp.field(key, group, value); err != nil {
			return hp.head, err
		}
	}
	hp.head.budget = *budget
	// finish completes hp.head (chunked, upgrade): it must run before
	// hp.head is read, an order a single return statement leaves open.
	err = hp.finish()
	return hp.head, err
}

// headParse is the state of reading one response head.
type headParse struct {
	head       upstreamHead
	dst        http.Header
	http10     bool
	sawCL      bool
	connTokens []byte
	// vals holds single values: one backing array per head (the
	// caller's, else allocated), each value with a full-capacity slice
	// of its own so that an append copies.
	vals []string
	// cl is the Content-Length value as received, when it is the
	// number's canonical form and came from the value cache.
	cl string
}

// statusLine reads HTTP/1.0 or HTTP/1.1, SP, 3DIGIT, then SP and the
// reason, if any.
func (hp *headParse) statusLine(line []byte) error {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || (line[7] != '0' && line[7] != '1') ||
		line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return errBadResponse
	}
	hp.http10 = line[7] == '0'
	hp.head.close = hp.http10
	s := line[9:12]
	if s[0] < '1' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9' {
		return errBadResponse
	}
	hp.head.status = int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0')
	return nil
}

// field takes one header field: framing and hop-by-hop fields into the
// head, the others into dst. group is key's in the value cache (0: none).
func (hp *headParse) field(key string, group int, value []byte) error {
	head := &hp.head
	switch key {
	case "Content-Length":
		n, ok := parseDigits(value)
		if !ok || (hp.sawCL && n != head.contentLength) {
			return errBadResponse
		}
		hp.sawCL = true
		head.contentLength = n
		if value[0] != '0' {
			hp.cl = lengthValue(n, value)
		}
		return nil
	case "Transfer-Encoding":
		// RFC 9112 6.3: chunked must be the final coding; a response
		// whose framing cannot be read as chunked is refused rather
		// than passed on with its framing stripped. A second field
		// lists more codings (RFC 9110 5.3): chunked applied twice
		// would leave the body chunked once read.
		if head.chunked {
			return errBadResponse
		}
		codings := bytes.Split(value, []byte{','})
		if !asciiEqualFold(bytes.TrimSpace(codings[len(codings)-1]), "chunked") {
			return errBadResponse
		}
		if len(codings) > 1 {
			// Other codings (gzip, ...) would have to be undone to
			// re-frame the body; the proxy does not do that.
			return errBadResponse
		}
		head.chunked = true
		return nil
	case "Connection":
		if asciiContainsToken(value, "close") {
			head.close = true
		} else if hp.http10 && asciiContainsToken(value, "keep-alive") {
			head.close = false
		}
		hp.connTokens = append(append(hp.connTokens, value...), ',')
		return nil
	case "Upgrade":
		head.websocket = asciiEqualFold(value, "websocket")
		return nil
	case "Keep-Alive", "Proxy-Connection", "Te", "Trailer":
		return nil
	}
	if prior, ok := hp.dst[key]; ok {
		hp.dst[key] = append(prior, string(value))
		return nil
	}
	hp.dst[key] = hp.single(headValue(group, value), 8)
	return nil
}

// single returns v in a full-capacity slice of vals.
func (hp *headParse) single(v string, room int) []string {
	if len(hp.vals) == cap(hp.vals) {
		hp.vals = make([]string, 0, room)
	}
	hp.vals = append(hp.vals, v)
	n := len(hp.vals)
	return hp.vals[n-1 : n : n]
}

// finish checks the framing and drops the fields Connection names.
func (hp *headParse) finish() error {
	head := &hp.head
	if head.chunked {
		// RFC 9112 6.1 and 6.3: Transfer-Encoding with Content-Length, or
		// in an HTTP/1.0 response, is faulty framing, the shape of a
		// response-splitting attempt; refused as NGINX refuses it.
		if hp.sawCL || hp.http10 {
			return errBadResponse
		}
		head.contentLength = -1
	}
	if head.status == http.StatusSwitchingProtocols {
		head.upgrade = true
	}
	if len(hp.connTokens) > 0 {
		for tok := range bytes.SplitSeq(hp.connTokens, []byte{','}) {
			if tok = bytes.TrimSpace(tok); len(tok) > 0 {
				delete(hp.dst, textproto.CanonicalMIMEHeaderKey(string(tok)))
			}
		}
	}
	if head.contentLength >= 0 {
		cl := hp.cl
		if cl == "" {
			cl = strconv.FormatInt(head.contentLength, 10)
		}
		hp.dst["Content-Length"] = hp.single(cl, 1)
	}
	return nil
}

// splitField splits a field line (without its line end) into name and
// value. The name must be a token right up to the colon, and the value
// have no control bytes but HTAB (RFC 9110 5.1, 5.5). Anything else is
// refused rather than repaired: a NUL or bare CR is read differently by
// the next parser, and "Transfer-Encoding :" is not framing here but may
// be downstream.
func splitField(line []byte) (name, value []byte, ok bool) {
	colon := 0
	for colon < len(line) && tokenByte[line[colon]] {
		colon++
	}
	if colon == 0 || colon == len(line) || line[colon] != ':' {
		return nil, nil, false
	}
	value = bytes.Trim(line[colon+1:], " \t")
	for _, c := range value {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return nil, nil, false
		}
	}
	return line[:colon], value, true
}

// tokenByte marks the bytes of a token (RFC 9110 5.6.2), which field
// names are made of.
var tokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// parseDigits parses a Content-Length: decimal digits only (no sign, no
// spaces inside), at most 18 of them.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// commonKeys interns the header names seen on most responses so that
// canonicalising them neither allocates nor re-scans, with their group in
// the value cache (0: their values are not cached).
var commonKeys = func() map[string]keyInfo {
	m := map[string]keyInfo{}
	for _, k := range []string{
		"Accept-Ranges", "Age", "Cache-Control", "Connection", "Content-Disposition",
		"Content-Encoding", "Content-Language", "Content-Length", "Content-Location",
		"Content-Range", "Content-Security-Policy", "Content-Type", "Date", "Etag",
		"Expires", "Keep-Alive", "Last-Modified", "Link", "Location", "Pragma",
		"Proxy-Connection", "Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Vary", "Via", "Www-Authenticate",
		"X-Content-Type-Options", "X-Frame-Options", "X-Request-Id", "Access-Control-Allow-Origin",
		"Access-Control-Allow-Credentials", "Access-Control-Expose-Headers", "Grpc-Status", "Grpc-Message",
	} {
		info := keyInfo{name: k}
		for i, c := range cachedValueKeys {
			if c == k {
				info.group = i + 1
			}
		}
		m[k] = info
		m[lower(k)] = info
	}
	return m
}()

// keyInfo is a common header name and its group in the value cache.
type keyInfo struct {
	name  string
	group int
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// commonKey is the canonical form of the field name raw, with its group
// in the value cache.
func commonKey(raw []byte) (string, int) {
	if k, ok := commonKeys[string(raw)]; ok {
		return k.name, k.group
	}
	return textproto.CanonicalMIMEHeaderKey(string(raw)), 0
}

func canonicalKey(raw []byte) string {
	k, _ := commonKey(raw)
	return k
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func asciiContainsToken(v []byte, token string) bool {
	for tok := range bytes.SplitSeq(v, []byte{','}) {
		if asciiEqualFold(bytes.TrimSpace(tok), token) {
			return true
		}
	}
	return false
}
