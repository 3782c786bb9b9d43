package hmacauth

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

type algorithm uint8

const (
	hmacSHA1 algorithm = iota
	hmacSHA256
	hmacSHA384
	hmacSHA512
	numAlgorithms
)

// algorithmNames are Kong's, in Kong's order (its validation message
// lists them so).
var algorithmNames = [numAlgorithms]string{"hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"}

var algorithmHashes = [numAlgorithms]func() hash.Hash{sha1.New, sha256.New, sha512.New384, sha512.New}

func algorithmByName(s string) (algorithm, bool) {
	for i, n := range algorithmNames {
		if n == s {
			return algorithm(i), true
		}
	}
	return numAlgorithms, false
}

// params are the parsed Authorization parameters.
type params struct {
	username string
	// algorithm is numAlgorithms for a name Kong does not know.
	algorithm algorithm
	// headers is the space-separated list as sent; Kong splits it on each
	// single space, so two spaces make an empty name.
	headers   string
	signature string
}

// parseAuthorization reads an hmac Authorization value as Kong's pattern
//
//	\s*[Hh]mac\s*username="(.+)",\s*algorithm="(.+)",\s*headers="(.+)",\s*signature="(.+)"
//
// does (unanchored, each value greedy, PCRE's leftmost-first choice), in
// one pass from the right: each greedy value ends at the last separator
// after which the rest can still match, which does not depend on where
// the value starts. A regexp costs 7 µs a request here; this, a few
// hundred ns. ok is false when the value holds no parameters (Kong's
// missing username). TestParseMatchesPattern holds it to the pattern.
func parseAuthorization(v string) (p params, ok bool) {
	// A header value never holds a newline, which '.' would not match.
	if v == "" || strings.IndexByte(v, '\n') >= 0 {
		return p, false
	}
	end4 := strings.LastIndexByte(v, '"')
	end3, start4 := lastSeparator(v, "signature=\"", end4)
	end2, start3 := lastSeparator(v, "headers=\"", end3)
	end1, start2 := lastSeparator(v, "algorithm=\"", end2)
	if end1 < 0 {
		return p, false
	}
	start1 := usernameStart(v, end1)
	if start1 < 0 {
		return p, false
	}
	p.username = v[start1:end1]
	p.algorithm, _ = algorithmByName(v[start2:end2])
	p.headers = v[start3:end3]
	p.signature = v[start4:end4]
	return p, true
}

// lastSeparator finds the last `",` + spaces + name before limit that
// leaves at least one byte before limit: at is where it starts (the end
// of the value before it), after where it ends (the start of the next
// value); at is -1 when there is none or limit is negative.
func lastSeparator(v, name string, limit int) (at, after int) {
	for end := limit; end > 0; {
		i := strings.LastIndex(v[:end], "\",")
		if i < 0 {
			return -1, -1
		}
		j := skipSpace(v, i+2)
		if strings.HasPrefix(v[j:], name) && j+len(name) < limit {
			return i, j + len(name)
		}
		end = i + 1
	}
	return -1, -1
}

// usernameStart finds the first `hmac` or `Hmac`, spaces and `username="`
// whose value would start before limit, and returns where the value
// starts, or -1.
func usernameStart(v string, limit int) int {
	for i := 0; i+3 < len(v); i++ {
		j := strings.Index(v[i:], "mac")
		if j < 0 {
			return -1
		}
		i += j
		if i == 0 || (v[i-1] != 'h' && v[i-1] != 'H') {
			continue
		}
		k := skipSpace(v, i+3)
		if !strings.HasPrefix(v[k:], "username=\"") {
			continue
		}
		if start := k + len("username=\""); start < limit {
			return start
		}
		return -1
	}
	return -1
}

// skipSpace skips RE2's \s (PCRE's but for vertical tab) from i.
func skipSpace(v string, i int) int {
	for i < len(v) {
		switch v[i] {
		case ' ', '\t', '\n', '\f', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// signs reports whether name is among the signed headers.
func (p *params) signs(name string) bool {
	for rest := p.headers; ; {
		h, after, more := strings.Cut(rest, " ")
		if h == name {
			return true
		}
		if !more {
			return false
		}
		rest = after
	}
}

// coversHeader reports whether the signature covers the request header
// name (lower case), spelt as header() reads a signed name: any case, '_'
// for '-'.
func (p *params) coversHeader(name string) bool {
	for rest := p.headers; ; {
		h, after, more := strings.Cut(rest, " ")
		if len(h) == len(name) {
			same := true
			for i := 0; i < len(h) && same; i++ {
				c := h[i]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				} else if c == '_' {
					c = '-'
				}
				same = c == name[i]
			}
			if same {
				return true
			}
		}
		if !more {
			return false
		}
		rest = after
	}
}

// maxSignature is the largest digest (SHA-512).
const maxSignature = sha512.Size

// maxSigningString bounds the signing string. A client chooses the names
// it signs and may name one large header a thousand times; a legitimate
// signing string is a few lines. Past the bound the signature cannot
// match.
const maxSigningString = 64 << 10

// scratch is one verification's buffers, pooled: handed to a hash through
// its interface they would otherwise escape to the heap on every request.
type scratch struct {
	line []byte
	sum  [maxSignature]byte
	sent [base64Max / 4 * 3]byte
}

var scratchPool = sync.Pool{New: func() any { return &scratch{line: make([]byte, 0, 512)} }}

// putScratch pools s again, without a line buffer one huge header grew.
func putScratch(s *scratch) {
	if cap(s.line) > 2*maxSigningString {
		s.line = make([]byte, 0, 512)
	}
	scratchPool.Put(s)
}

// verifySignature recomputes the signature over Kong's signing string and
// compares it with the one sent, in constant time.
func verifySignature(r *http.Request, p *params, st *state) bool {
	s := scratchPool.Get().(*scratch)
	defer putScratch(s)
	if len(p.signature) > base64Max {
		return false
	}
	sent, ok := plugin.AppendDecodeBase64(s.sent[:0], p.signature)
	if !ok {
		return false
	}
	s.line, ok = appendSigningString(s.line[:0], r, p.headers)
	if !ok {
		return false
	}
	mac := st.mac(p.algorithm)
	defer st.macs[p.algorithm].Put(mac)
	mac.Reset()
	mac.Write(s.line)
	return hmac.Equal(mac.Sum(s.sum[:0]), sent)
}

// appendSigningString appends Kong's signing string: per signed name, in
// order and joined by newlines, "name: value" for a header the request
// has; for "@request-target", "@request-target: " and the lower-cased
// method, a space and the request URI; for "request-line", the request
// line as the client sent it with the version as "HTTP/1.1", "HTTP/2.0";
// and "name:" for any other name. The two special names are always the
// request's own: Kong lets a header named Request-Line stand for the
// request line, which would let a captured signature be replayed to any
// method and path.
func appendSigningString(b []byte, r *http.Request, names string) ([]byte, bool) {
	for rest, i := names, 0; ; i++ {
		name, after, more := strings.Cut(rest, " ")
		if i > 0 {
			b = append(b, '\n')
		}
		switch name {
		case "@request-target":
			b = append(b, "@request-target: "...)
			for j := 0; j < len(r.Method); j++ {
				c := r.Method[j]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				b = append(b, c)
			}
			b = append(b, ' ')
			b = append(b, r.RequestURI...)
		case "request-line":
			b = append(b, r.Method...)
			b = append(b, ' ')
			b = append(b, r.RequestURI...)
			b = append(b, " HTTP/"...)
			b = strconv.AppendInt(b, int64(r.ProtoMajor), 10)
			b = append(b, '.')
			b = strconv.AppendInt(b, int64(r.ProtoMinor), 10)
		default:
			if v, ok := header(r, name); ok {
				b = append(b, name...)
				b = append(b, ": "...)
				b = append(b, v...)
			} else {
				b = append(b, name...)
				b = append(b, ':')
			}
		}
		if len(b) > maxSigningString {
			return b[:0], false
		}
		if !more {
			return b, true
		}
		rest = after
	}
}

// header is Kong's kong.request.get_header(name) for a name the client
// chose: case-insensitive, '_' read as '-', the first value. Host is the
// request's host (Go keeps it out of the header map).
func header(r *http.Request, name string) (string, bool) {
	var buf [64]byte
	if name == "" || len(name) > len(buf) {
		return "", false
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_':
			c = '-'
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		upper = c == '-'
		buf[i] = c
	}
	key := buf[:len(name)]
	if string(key) == "Host" {
		return r.Host, r.Host != ""
	}
	vs := r.Header[string(key)]
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// base64Max is the longest Base64 text of a maxSignature digest.
const base64Max = (maxSignature + 2) / 3 * 4
