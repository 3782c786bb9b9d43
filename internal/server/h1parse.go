package server

import (
	"math"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/turnpikegw/turnpike/internal/jsonw"
)

// The HTTP/1.x request head parser of the own server path (h1conn.go).
//
// It accepts exactly what net/http's server accepts and the smuggling
// detector (smuggle.go) lets through, and it fills the request as net/http
// would, checking in net/http's order so that a bad head gets the status
// net/http gives it; FuzzH1Differential holds it to that. Beyond net/http
// it refuses, with 400 and a closed connection: Content-Length with
// Transfer-Encoding, Transfer-Encoding on other than HTTP/1.1 (net/http
// ignores it on HTTP/1.0), obs-fold, and a CR anywhere but before LF; the
// smuggling detector refuses the same on the net/http path.
//
// The head is one string (an arena copy, see h1arena.go); the method,
// target, names and values are substrings of it. Names are canonical as
// net/textproto makes them: a name already canonical is used as it is, a
// well-known one comes from a table, any other is canonicalised into the
// arena.

// h1Head is the framing of one parsed request.
type h1Head struct {
	// contentLength is the body's declared size; -1: chunked.
	contentLength int64
	close         bool
	// continue100: the client waits for 100 Continue before its body.
	continue100 bool
	// status, when not 0, refuses the request with that status.
	status int
}

// h1Parser holds what a connection's requests reuse.
type h1Parser struct {
	vals []string // backing array of the header values
	url  url.URL
}

func (h *h1Head) refuse(status int) { h.status = status }

// parse fills r and h from head, which ends with the blank line. The
// caller has skipped the up to 4 stray CR or LF bytes net/http tolerates
// after a POST.
func (p *h1Parser) parse(a *arena, head string, r *http.Request, h *h1Head) {
	*h = h1Head{}
	line, rest := cutLine(head)
	method, uri, proto, ok := splitRequestLine(line)
	if !ok || !validMethod(method) {
		h.refuse(http.StatusBadRequest)
		return
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok {
		h.refuse(http.StatusBadRequest)
		return
	}
	r.Method, r.RequestURI, r.Proto, r.ProtoMajor, r.ProtoMinor = method, uri, proto, major, minor
	if !p.setURL(r, method, uri) {
		h.refuse(http.StatusBadRequest)
		return
	}
	p.vals = p.vals[:0]
	hdr := r.Header
	var cl, te, conn, expect, host []string
	badName := false
	for rest != "" {
		line, rest = cutLine(rest)
		if line == "" {
			break
		}
		if c := line[0]; c == ' ' || c == '\t' {
			h.refuse(http.StatusBadRequest) // obs-fold
			return
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 { // no colon, or an empty name
			h.refuse(http.StatusBadRequest)
			return
		}
		name, value := line[:colon], textproto.TrimString(line[colon+1:])
		name, ok = canonicalName(a, name)
		spaced := !ok && spacedName(line[:colon])
		if !ok && !spaced || !httpguts.ValidHeaderFieldValue(value) {
			h.refuse(http.StatusBadRequest)
			return
		}
		if spaced {
			// net/textproto takes a name with spaces in it; net/http
			// refuses it only after its other checks.
			badName = true
			continue
		}
		vs := p.add(hdr, name, value)
		switch name {
		case "Content-Length":
			cl = vs
		case "Transfer-Encoding":
			te = vs
		case "Connection":
			conn = vs
		case "Expect":
			expect = vs
		case "Host":
			host = vs
		}
	}
	if len(host) > 1 {
		h.refuse(http.StatusBadRequest)
		return
	}
	r.Host = r.URL.Host
	if r.Host == "" && len(host) == 1 {
		r.Host = host[0]
	}
	delete(hdr, "Host")
	if pv := hdr["Pragma"]; len(pv) > 0 && pv[0] == "no-cache" {
		if _, ok := hdr["Cache-Control"]; !ok {
			p.add(hdr, "Cache-Control", "no-cache")
		}
	}
	h.close = minor == 0 && !httpguts.HeaderValuesContainsToken(conn, "keep-alive") ||
		httpguts.HeaderValuesContainsToken(conn, "close")
	r.Close = h.close
	if !p.framing(r, h, cl, te) {
		return
	}
	// net/http takes "PRI * HTTP/2.0" (an h2c preface after the first
	// request) as a request with the checks below and hands it to the
	// handler; this path refuses it after them.
	pri := major == 2 && minor == 0 && method == "PRI" && uri == "*"
	if major != 1 && !pri {
		h.refuse(http.StatusHTTPVersionNotSupported)
		return
	}
	if len(host) == 1 && !httpguts.ValidHostHeader(host[0]) ||
		(major > 1 || minor >= 1) && len(host) == 0 && method != http.MethodConnect && !(pri && len(hdr) == 0) ||
		badName {
		h.refuse(http.StatusBadRequest)
		return
	}
	if len(expect) > 0 {
		if hasToken(expect[0], "100-continue") {
			h.continue100 = minor >= 1 && r.ContentLength != 0
		} else if expect[0] != "" {
			h.refuse(http.StatusExpectationFailed)
			return
		}
	}
	if pri {
		h.refuse(http.StatusHTTPVersionNotSupported)
	}
}

// framing reads the body's framing from Content-Length and
// Transfer-Encoding.
func (p *h1Parser) framing(r *http.Request, h *h1Head, cl, te []string) bool {
	if len(te) > 0 {
		switch {
		case len(cl) > 0 || r.ProtoMajor != 1 || r.ProtoMinor != 1:
			// The smuggling shape, and a coding HTTP/1.0 does not have
			// (nor do other versions here: the detector stops at them).
			h.refuse(http.StatusBadRequest)
			return false
		case len(te) != 1 || !strings.EqualFold(te[0], "chunked"):
			h.refuse(http.StatusNotImplemented)
			return false
		}
		delete(r.Header, "Transfer-Encoding")
		r.TransferEncoding = chunkedTE
		r.ContentLength, h.contentLength = -1, -1
		return p.trailer(r, h)
	}
	r.TransferEncoding = nil
	if len(cl) == 0 {
		r.ContentLength = 0
		return true
	}
	first := textproto.TrimString(cl[0])
	for _, v := range cl[1:] {
		if textproto.TrimString(v) != first {
			h.refuse(http.StatusBadRequest)
			return false
		}
	}
	n, ok := parseContentLength(first)
	if !ok {
		h.refuse(http.StatusBadRequest)
		return false
	}
	if len(cl) > 1 {
		r.Header["Content-Length"] = cl[:1]
	}
	r.ContentLength, h.contentLength = n, n
	return true
}

// trailer declares the trailer fields a chunked request names in its
// Trailer field and drops the field, as net/http does (and refuses the same
// names).
func (p *h1Parser) trailer(r *http.Request, h *h1Head) bool {
	vs, ok := r.Header["Trailer"]
	if !ok {
		return true
	}
	delete(r.Header, "Trailer")
	for _, v := range vs {
		for key := range strings.SplitSeq(v, ",") {
			if key = textproto.TrimString(key); key == "" {
				continue
			}
			key = textproto.CanonicalMIMEHeaderKey(key)
			switch key {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				h.refuse(http.StatusBadRequest)
				return false
			}
			if r.Trailer == nil {
				r.Trailer = make(http.Header)
			}
			r.Trailer[key] = nil
		}
	}
	return true
}

var chunkedTE = []string{"chunked"}

// add appends a value to hdr[name], from the connection's backing array.
func (p *h1Parser) add(hdr http.Header, name, value string) []string {
	vs, ok := hdr[name]
	if ok {
		vs = append(vs, value)
	} else {
		i := len(p.vals)
		p.vals = append(p.vals, value)
		vs = p.vals[i : i+1 : i+1]
	}
	hdr[name] = vs
	return vs
}

// setURL fills r.URL from the request target as url.ParseRequestURI would,
// without allocating for the common origin-form target.
func (p *h1Parser) setURL(r *http.Request, method, uri string) bool {
	if uri == "" || uri[0] != '/' || method == http.MethodConnect {
		return slowURL(r, method, uri)
	}
	path, query := uri, ""
	for i := 0; i < len(uri); i++ {
		c := uri[i]
		if c == '?' {
			path, query = uri[:i], uri[i+1:]
			break
		}
		if !plainPathByte[c] {
			return slowURL(r, method, uri)
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	p.url = url.URL{Path: path, RawQuery: query, ForceQuery: query == "" && len(path) < len(uri)}
	r.URL = &p.url
	return true
}

func slowURL(r *http.Request, method, uri string) bool {
	justAuthority := method == http.MethodConnect && !strings.HasPrefix(uri, "/")
	raw := uri
	if justAuthority {
		raw = "http://" + uri
	}
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		return false
	}
	if justAuthority {
		u.Scheme = ""
	}
	r.URL = u
	return true
}

// plainPathByte marks the bytes a path may hold for url.ParseRequestURI to
// keep it as it is, with no RawPath: letters, digits and "-_.~$&+,/:;=@".
var plainPathByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-_.~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()

// cutLine splits off the first line of s, without its LF and the CR
// before it.
func cutLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, ""
	}
	line, rest = s[:i], s[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

func splitRequestLine(line string) (method, uri, proto string, ok bool) {
	method, rest, ok1 := strings.Cut(line, " ")
	uri, proto, ok2 := strings.Cut(rest, " ")
	return method, uri, proto, ok1 && ok2
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if !isTokenByte(m[i]) {
			return false
		}
	}
	return true
}

func parseContentLength(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// hasToken reports whether v names token, as net/http's Expect check reads
// it (net/http's hasToken): token case-insensitively, between the start or
// end of v, spaces, tabs and commas.
func hasToken(v, token string) bool {
	for sp := 0; sp+len(token) <= len(v); sp++ {
		if sp > 0 && !isTokenBoundary(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end < len(v) && !isTokenBoundary(v[end]) {
			continue
		}
		if strings.EqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(c byte) bool { return c == ' ' || c == ',' || c == '\t' }

// canonicalName returns name as net/textproto canonicalises it, refusing
// a name that is not a token.
func canonicalName(a *arena, name string) (string, bool) {
	canonical, upper := true, true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isTokenByte(c) {
			return "", false
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canonical = false
		}
		upper = c == '-'
	}
	if canonical {
		return name, true
	}
	var lower [32]byte
	if k, ok := commonNames[string(lowerKey(lower[:0], name))]; ok {
		return k, true
	}
	b := make([]byte, 0, 64)
	b = append(b, name...)
	upper = true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			b[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return a.copyString(b), true
}

// spacedName reports whether name is a token but for spaces in it, which
// net/textproto accepts in a name.
func spacedName(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c != ' ' && !isTokenByte(c) {
			return false
		}
	}
	return name != ""
}

// lowerKey appends name in lower case to dst, or nothing when it is longer
// than dst's room (no common name is): the caller looks it up without
// making a string.
func lowerKey(dst []byte, name string) []byte {
	if len(name) > cap(dst)-len(dst) {
		return dst
	}
	dst = append(dst, name...)
	jsonw.LowerASCII(dst[len(dst)-len(name):])
	return dst
}

// commonNames maps lower-case names clients send in lower case (HTTP/2
// habits, curl's and libraries' own) to their canonical form.
var commonNames = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control",
		"Connection", "Content-Length", "Content-Type", "Cookie", "Expect", "Host",
		"If-Modified-Since", "If-None-Match", "Origin", "Pragma", "Referer",
		"Transfer-Encoding", "Upgrade", "User-Agent", "X-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id",
		"Apikey", "X-Api-Key", "Trailer", "Te", "Range", "Sec-Websocket-Key",
		"Sec-Websocket-Version", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions",
	} {
		m[strings.ToLower(k)] = k
	}
	return m
}()
