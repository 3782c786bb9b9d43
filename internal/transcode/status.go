package transcode

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Error is a client's mistake found while building a request message: Status is the HTTP status to
// answer (400) and Message names the field or parameter at fault.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func badRequest(msg string) *Error { return &Error{Status: 400, Message: msg} }

// httpStatus is grpc-gateway's standard mapping, indexed by gRPC code.
var httpStatus = [...]int{
	0:  200, // OK
	1:  499, // CANCELED
	2:  500, // UNKNOWN
	3:  400, // INVALID_ARGUMENT
	4:  504, // DEADLINE_EXCEEDED
	5:  404, // NOT_FOUND
	6:  409, // ALREADY_EXISTS
	7:  403, // PERMISSION_DENIED
	8:  429, // RESOURCE_EXHAUSTED
	9:  400, // FAILED_PRECONDITION
	10: 409, // ABORTED
	11: 400, // OUT_OF_RANGE
	12: 501, // UNIMPLEMENTED
	13: 500, // INTERNAL
	14: 503, // UNAVAILABLE
	15: 500, // DATA_LOSS
	16: 401, // UNAUTHENTICATED
}

// HTTPStatus maps a gRPC status code to the HTTP status grpc-gateway answers with; a code outside
// the table is 500.
func HTTPStatus(code int) int {
	if code < 0 || code >= len(httpStatus) {
		return 500
	}
	return httpStatus[code]
}

// ErrorJSON appends grpc-gateway's error body, {"code":N,"message":"...","details":[...]}, to dst.
// message is the already decoded grpc-message (see DecodeMessage). detailsBin is the raw
// grpc-status-details-bin value, base64 of a google.rpc.Status whose details are rendered through
// the set's types and the google.rpc ones; a detail whose type is unknown is rendered as its type
// URL and base64 value, and a details value that does not decode is left out: the status code and
// message are what the client needs, and they came through.
func (s *Set) ErrorJSON(dst []byte, code int, message, detailsBin string, o Options) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, message)
	dst = append(dst, `,"details":[`...)
	if st := decodeStatus(detailsBin); st != nil {
		mo := s.marshalOptions(o)
		for i, d := range st.GetDetails() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendAny(dst, d, mo)
		}
	}
	return append(dst, "]}"...)
}

func decodeStatus(bin string) *status.Status {
	if bin == "" {
		return nil
	}
	raw, err := base64.RawStdEncoding.DecodeString(trimPadding(bin))
	if err != nil {
		return nil
	}
	st := new(status.Status)
	if proto.Unmarshal(raw, st) != nil {
		return nil
	}
	return st
}

func trimPadding(s string) string {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return s
}

func appendAny(dst []byte, a *anypb.Any, mo protojson.MarshalOptions) []byte {
	if out, err := marshalCompact(mo, dst, a); err == nil {
		return out
	}
	dst = append(dst, `{"@type":`...)
	dst = appendJSONString(dst, a.GetTypeUrl())
	dst = append(dst, `,"value":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, a.GetValue())
	return append(dst, `"}`...)
}

// DecodeMessage undoes grpc-message's percent-encoding. An invalid escape is kept as it is, as
// gRPC's spec asks, so a malformed value still reads.
func DecodeMessage(v string) string {
	i := 0
	for i < len(v) && v[i] != '%' {
		i++
	}
	if i == len(v) {
		return v
	}
	b := make([]byte, 0, len(v))
	b = append(b, v[:i]...)
	for ; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
			b = append(b, unhex(v[i+1])<<4|unhex(v[i+2]))
			i += 2
			continue
		}
		b = append(b, v[i])
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// appendJSONString appends s as a JSON string escaped as protojson escapes it (\", \\, the short
// escapes \b \f \n \r \t, \u00XX for the other control characters), so the direct renderer's
// bytes are protojson's; invalid UTF-8 becomes U+FFFD so an error body stays valid JSON whatever an
// upstream put in grpc-message. Runs of plain bytes are copied whole.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || n != 1 {
				i += n
				continue
			}
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			if c < 0x20 {
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				dst = append(dst, "\ufffd"...)
			}
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
