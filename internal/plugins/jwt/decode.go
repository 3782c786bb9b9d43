package jwt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
)

// token is a decoded JWT, as Kong's jwt_parser sees it.
type token struct {
	// signed is the signing input: the header and payload segments.
	signed string
	header object
	claims object
	sig    []byte
	alg    string
}

// supportedAlg is Kong's list of algorithms a token may name.
func supportedAlg(alg string) bool {
	switch alg {
	case "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512",
		"PS256", "PS384", "PS512", "EdDSA":
		return true
	}
	return false
}

// decode is Kong's decode_token: the token is split at its first two dots,
// each part base64url-decoded, header and payload parsed as JSON; the
// error is the text after "Bad token; ". Kong checks, in order: both JSON
// documents (a missing part is invalid JSON too), the header's alg, the
// payload, the signature's encoding. The signature is read more strictly
// than Kong does (decodeSignature).
func decode(raw string) (token, string) {
	i := strings.IndexByte(raw, '.')
	if i < 0 {
		return token{}, errJSON
	}
	j := strings.IndexByte(raw[i+1:], '.')
	if j < 0 {
		return token{}, errJSON
	}
	j += i + 1
	hb, ok1 := decodeSegment(raw[:i])
	cb, ok2 := decodeSegment(raw[i+1 : j])
	if !ok1 || !ok2 || !json.Valid(hb) || !json.Valid(cb) {
		return token{}, errJSON
	}
	t := token{signed: raw[:j]}
	t.header, _ = parseObject(hb)
	alg, ok := t.header.str("alg")
	if !ok || !supportedAlg(alg) {
		return token{}, errAlg
	}
	t.alg = alg
	if t.claims, ok = parseObject(cb); !ok {
		return token{}, errClaims
	}
	if t.sig, ok = decodeSignature(raw[j+1:]); !ok {
		return token{}, errSignature
	}
	return t, ""
}

// decodeSignature decodes the signature segment, which, unlike Kong,
// must be written the one way a signer writes it: base64url whose unused
// trailing bits are zero, optionally padded with exactly the '=' that
// make its length a multiple of four, and nothing after. Kong ignores
// whatever follows the first '=' and the unused bits, so one signature has
// many spellings, each a different token string: each a new entry in a
// token cache, and a way past an upstream's check for replayed tokens.
func decodeSignature(s string) ([]byte, bool) {
	data := strings.TrimRight(s, "=")
	if pad := len(s) - len(data); pad > 0 && (pad > 2 || len(s)%4 != 0) {
		return nil, false
	}
	if strings.ContainsAny(data, "=\r\n") {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(data)
	return b, err == nil
}

// unpadded is tok without the padding of its signature, when that padding
// is one decodeSignature accepts: the cache key, the same for both
// spellings of a token. Any other token is returned as it is (and fails
// to decode).
func unpadded(tok string) string {
	n := len(tok)
	if n == 0 || tok[n-1] != '=' {
		return tok
	}
	i := strings.IndexByte(tok, '.')
	if i < 0 {
		return tok
	}
	j := strings.IndexByte(tok[i+1:], '.')
	if j < 0 {
		return tok
	}
	sig := tok[i+1+j+1:]
	data := strings.TrimRight(sig, "=")
	if pad := len(sig) - len(data); pad > 2 || len(sig)%4 != 0 {
		return tok
	}
	return tok[:n-(len(sig)-len(data))]
}

// decodeSegment is Kong's base64_decode: base64url, padding optional,
// decoding stops at the first '=', unused trailing bits are ignored, and
// any other character (CR and LF too, which Go would skip), or a length
// that leaves a lone 6-bit group, makes the segment invalid.
func decodeSegment(s string) ([]byte, bool) {
	if i := strings.IndexByte(s, '='); i >= 0 {
		s = s[:i]
	}
	if strings.ContainsAny(s, "\r\n") {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	return b, err == nil
}

// decodeSecret decodes a base64 secret (secret_is_base64). Kong decodes
// it as base64url; the standard alphabet, which people usually encode
// secrets with, is accepted too.
func decodeSecret(s string) ([]byte, bool) {
	if strings.ContainsAny(s, "+/") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case '+':
				return '-'
			case '/':
				return '_'
			}
			return r
		}, s)
	}
	return decodeSegment(s)
}

// object is the members of a JSON object in document order, duplicates
// included; a lookup finds the last one, as decoding into a map does.
type object []member

type member struct {
	// key is the member's name, unescaped.
	key []byte
	// raw is the value's JSON text.
	raw json.RawMessage
}

// parseObject splits a JSON document, already known to be valid, into its
// top-level members; ok is false when it is not an object. It only finds
// where members start and end: values are decoded when looked up.
func parseObject(b []byte) (object, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	// Members are separated by commas; nested ones make this an upper bound.
	o := make(object, 0, min(bytes.Count(b, []byte{','})+1, 64))
	i++
	for {
		i = skipSpace(b, i)
		switch b[i] {
		case '}':
			return o, true
		case ',':
			i = skipSpace(b, i+1)
		}
		end := stringEnd(b, i)
		key := b[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			if json.Unmarshal(b[i:end], &k) != nil {
				return nil, false
			}
			key = []byte(k)
		}
		i = skipSpace(b, end) // at ':'
		i = skipSpace(b, i+1)
		vend := valueEnd(b, i)
		o = append(o, member{key: key, raw: b[i:vend]})
		i = vend
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// stringEnd returns the index after the string that starts at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// valueEnd returns the index after the value that starts at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	// A number, true, false or null ends where the next token starts.
	j := i
	for ; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j
		}
	}
	return j
}

// get returns the value of the last member called name.
func (o object) get(name string) (json.RawMessage, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if string(o[i].key) == name {
			return o[i].raw, true
		}
	}
	return nil, false
}

// str returns the member called name when it is a JSON string.
func (o object) str(name string) (string, bool) {
	raw, ok := o.get(name)
	if !ok {
		return "", false
	}
	return jsonString(raw)
}

// jsonString decodes raw when it is a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// number is a claim Kong type-checks as a number.
type number struct {
	isNumber bool
	value    float64
}

func (o object) number(name string) number {
	raw, ok := o.get(name)
	if !ok || len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return number{}
	}
	// A JSON number out of float64's range is ±Inf, as for Lua cjson.
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !isRangeErr(err) {
		return number{}
	}
	return number{isNumber: true, value: f}
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// keyClaim is Kong's `claims[key_claim_name] or header[key_claim_name]`:
// absent or false in the payload falls back to the header. present is
// false when neither has a truthy value; ok is false when the value is
// not a string (it can name no credential).
func keyClaim(t *token, name string) (key string, present, ok bool) {
	for _, o := range [2]object{t.claims, t.header} {
		raw, has := o.get(name)
		if !has || string(raw) == "false" {
			continue
		}
		s, isString := jsonString(raw)
		return s, true, isString
	}
	return "", false, false
}

// headerValue renders a claim for an upstream header: a string as it is,
// an array as its elements joined with ", " (strings unquoted), anything
// else as compact JSON; null and values holding control characters are
// not sent.
func headerValue(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	switch raw[0] {
	case 'n':
		return ""
	case '"':
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return ""
		}
		parts := make([]string, len(items))
		for i, it := range items {
			var p string
			if len(it) > 0 && it[0] == '"' && json.Unmarshal(it, &p) == nil {
				parts[i] = p
			} else {
				parts[i] = compact(it)
			}
		}
		s = strings.Join(parts, ", ")
	default:
		s = compact(raw)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return ""
		}
	}
	return s
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return ""
	}
	return b.String()
}

// audience reports whether the `aud` claim (a string or an array of
// strings) holds one of want.
func audience(claims object, want []string) bool {
	raw, ok := claims.get("aud")
	if !ok || len(raw) == 0 {
		return false
	}
	var got []string
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return false
		}
		got = []string{s}
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return false
		}
		for _, it := range items {
			var s string
			if len(it) > 0 && it[0] == '"' && json.Unmarshal(it, &s) == nil {
				got = append(got, s)
			}
		}
	}
	for _, g := range got {
		for _, w := range want {
			if g == w {
				return true
			}
		}
	}
	return false
}
