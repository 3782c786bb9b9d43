package transcode

import (
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The direct encoder is the request side's counterpart of the direct renderer: it writes a JSON
// body's wire form without a dynamic message. It takes a strict subset of what protojson takes (an
// object of known fields, each once; strings without escapes; integers written plainly, bare or
// quoted; true and false; enum names or numbers; arrays and nested objects of the same) and
// declines everything else (floats, bytes, null, escapes, Timestamp, anything protojson would
// refuse), which then takes protojson's path and gets its answer or its error. So it never decides
// alone what a body means: a fuzz test checks that what it accepts, protojson reads the same.

// maxDirectFields bounds a message's fields for the duplicate check's bit set.
const maxDirectFields = 64

// encodeJSON appends the wire form of the JSON object body to dst.
func (p *plan) encodeJSON(dst, body []byte) ([]byte, error) {
	d := jsonDecoder{b: body}
	out, ok := d.object(p, dst)
	if !ok || d.skipSpace() != len(d.b) {
		return nil, errDecline
	}
	return out, nil
}

type jsonDecoder struct {
	b   []byte
	pos int
}

// skipSpace moves past JSON whitespace and returns the position.
func (d *jsonDecoder) skipSpace() int {
	for d.pos < len(d.b) {
		switch d.b[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return d.pos
		}
	}
	return d.pos
}

// consume moves past c (after whitespace) when it is next.
func (d *jsonDecoder) consume(c byte) bool {
	if d.skipSpace() < len(d.b) && d.b[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

func (d *jsonDecoder) object(p *plan, dst []byte) ([]byte, bool) {
	if len(p.fields) > maxDirectFields || !d.consume('{') {
		return nil, false
	}
	if d.consume('}') {
		return dst, true
	}
	var seen uint64
	for {
		key, ok := d.plainString()
		if !ok || !d.consume(':') {
			return nil, false
		}
		i, known := p.byKey[string(key)]
		if !known || seen&(1<<i) != 0 {
			return nil, false
		}
		seen |= 1 << i
		if dst, ok = d.field(&p.fields[i], dst); !ok {
			return nil, false
		}
		if d.consume('}') {
			return dst, true
		}
		if !d.consume(',') {
			return nil, false
		}
	}
}

func (d *jsonDecoder) field(f *planField, dst []byte) ([]byte, bool) {
	if f.timestamp {
		return nil, false
	}
	if !f.list {
		return d.value(f, dst, true)
	}
	if !d.consume('[') {
		return nil, false
	}
	if d.consume(']') {
		return dst, true
	}
	for {
		var ok bool
		if dst, ok = d.value(f, dst, false); !ok {
			return nil, false
		}
		if d.consume(']') {
			return dst, true
		}
		if !d.consume(',') {
			return nil, false
		}
	}
}

// value encodes one value of f. A singular field at its zero value is left out, as proto3's
// implicit presence has it; list elements are all kept.
func (d *jsonDecoder) value(f *planField, dst []byte, singular bool) ([]byte, bool) {
	if f.kind == protoreflect.MessageKind {
		return d.message(f, dst)
	}
	var v protoreflect.Value
	var ok bool
	switch f.kind {
	case protoreflect.StringKind:
		var s []byte
		if s, ok = d.plainString(); ok {
			if singular && len(s) == 0 {
				return dst, true
			}
			dst = protowire.AppendTag(dst, f.num, protowire.BytesType)
			return protowire.AppendBytes(dst, s), true
		}
		return nil, false
	case protoreflect.BoolKind:
		v, ok = d.boolean()
	case protoreflect.EnumKind:
		v, ok = d.enum(f.enumByName)
	case protoreflect.FloatKind, protoreflect.DoubleKind, protoreflect.BytesKind:
		return nil, false
	default:
		v, ok = d.integer(f.kind)
	}
	if !ok {
		return nil, false
	}
	if singular && isZeroValue(f.kind, v) {
		return dst, true
	}
	return appendScalar(dst, f.fd, v), true
}

func isZeroValue(kind protoreflect.Kind, v protoreflect.Value) bool {
	switch kind {
	case protoreflect.BoolKind:
		return !v.Bool()
	case protoreflect.EnumKind:
		return v.Enum() == 0
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return v.Uint() == 0
	}
	return v.Int() == 0
}

// message encodes a nested object as a length-delimited record: the body is written first, then
// moved up to make room for its length, which is not known before.
func (d *jsonDecoder) message(f *planField, dst []byte) ([]byte, bool) {
	dst = protowire.AppendTag(dst, f.num, protowire.BytesType)
	start := len(dst)
	dst, ok := d.object(f.sub, dst)
	if !ok {
		return nil, false
	}
	n := len(dst) - start
	size := protowire.SizeVarint(uint64(n))
	var pad [10]byte
	dst = append(dst, pad[:size]...)
	copy(dst[start+size:], dst[start:start+n])
	protowire.AppendVarint(dst[start:start], uint64(n))
	return dst, true
}

// plainString reads a string without escapes, control characters or invalid UTF-8 (the rest is
// protojson's to decode or refuse).
func (d *jsonDecoder) plainString() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	start := d.pos
	for d.pos < len(d.b) {
		switch c := d.b[d.pos]; {
		case c == '"':
			s := d.b[start:d.pos]
			d.pos++
			return s, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		}
		d.pos++
	}
	return nil, false
}

func (d *jsonDecoder) boolean() (protoreflect.Value, bool) {
	rest := d.b[d.skipSpace():]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		d.pos += 4
		return protoreflect.ValueOfBool(true), true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		d.pos += 5
		return protoreflect.ValueOfBool(false), true
	}
	return protoreflect.Value{}, false
}

func (d *jsonDecoder) enum(byName map[string]protoreflect.EnumNumber) (protoreflect.Value, bool) {
	if d.skipSpace() < len(d.b) && d.b[d.pos] == '"' {
		name, ok := d.plainString()
		if !ok {
			return protoreflect.Value{}, false
		}
		n, known := byName[string(name)]
		return protoreflect.ValueOfEnum(n), known
	}
	digits, ok := d.digits(true)
	if !ok {
		return protoreflect.Value{}, false
	}
	n, err := strconv.ParseInt(string(digits), 10, 32)
	return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), err == nil
}

// integer reads an integer written plainly, bare or quoted, in the range of kind.
func (d *jsonDecoder) integer(kind protoreflect.Kind) (protoreflect.Value, bool) {
	quoted := d.consume('"')
	digits, ok := d.digits(!quoted)
	if !ok || quoted && (d.pos >= len(d.b) || d.b[d.pos] != '"') {
		return protoreflect.Value{}, false
	}
	if quoted {
		d.pos++
	}
	s := string(digits)
	switch kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		return protoreflect.ValueOfInt32(int32(n)), err == nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(s, 10, 64)
		return protoreflect.ValueOfInt64(n), err == nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(s, 10, 32)
		return protoreflect.ValueOfUint32(uint32(n)), err == nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(s, 10, 64)
		return protoreflect.ValueOfUint64(n), err == nil
	}
	return protoreflect.Value{}, false
}

// digits reads -?(0|[1-9][0-9]*) not followed by a fraction or exponent, after whitespace when
// space is set (not inside quotes).
func (d *jsonDecoder) digits(space bool) ([]byte, bool) {
	if space {
		d.skipSpace()
	}
	start := d.pos
	if d.pos < len(d.b) && d.b[d.pos] == '-' {
		d.pos++
	}
	first := d.pos
	for d.pos < len(d.b) && d.b[d.pos] >= '0' && d.b[d.pos] <= '9' {
		d.pos++
	}
	n := d.pos - first
	if n == 0 || n > 1 && d.b[first] == '0' || n > 20 {
		return nil, false
	}
	if d.pos < len(d.b) && (d.b[d.pos] == '.' || d.b[d.pos] == 'e' || d.b[d.pos] == 'E') {
		return nil, false
	}
	return d.b[start:d.pos], true
}
