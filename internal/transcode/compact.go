package transcode

import (
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// marshalCompact appends m's JSON to dst without the spaces protojson
// scatters at random in its output (on purpose, so that nobody relies on
// its bytes): a gateway's answers should be the same bytes for the same
// message, for caches, ETags and tests alike.
func marshalCompact(mo protojson.MarshalOptions, dst []byte, m proto.Message) ([]byte, error) {
	start := len(dst)
	out, err := mo.MarshalAppend(dst, m)
	if err != nil {
		return nil, err
	}
	return append(out[:start], compact(out[start:])...), nil
}

// compact removes the whitespace outside strings of valid JSON, in place.
func compact(b []byte) []byte {
	w := 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		} else {
			switch c {
			case ' ', '\n', '\t', '\r':
				continue
			case '"':
				inString = true
			}
		}
		b[w] = c
		w++
	}
	return b[:w]
}
