package transcode

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// parseScalar converts a path or query value to a non-message field's type. name is the variable
// or parameter, for the client's error message.
func parseScalar(fd protoreflect.FieldDescriptor, name, s string) (protoreflect.Value, error) {
	var err error
	switch fd.Kind() {
	case protoreflect.StringKind:
		if !utf8.ValidString(s) {
			return protoreflect.Value{}, badRequest(name + ": invalid UTF-8")
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BoolKind:
		var v bool
		if v, err = strconv.ParseBool(s); err == nil {
			return protoreflect.ValueOfBool(v), nil
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		var v int64
		if v, err = strconv.ParseInt(s, 10, 32); err == nil {
			return protoreflect.ValueOfInt32(int32(v)), nil
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		var v int64
		if v, err = strconv.ParseInt(s, 10, 64); err == nil {
			return protoreflect.ValueOfInt64(v), nil
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		var v uint64
		if v, err = strconv.ParseUint(s, 10, 32); err == nil {
			return protoreflect.ValueOfUint32(uint32(v)), nil
		}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		var v uint64
		if v, err = strconv.ParseUint(s, 10, 64); err == nil {
			return protoreflect.ValueOfUint64(v), nil
		}
	case protoreflect.FloatKind:
		var v float64
		if v, err = strconv.ParseFloat(s, 32); err == nil {
			return protoreflect.ValueOfFloat32(float32(v)), nil
		}
	case protoreflect.DoubleKind:
		var v float64
		if v, err = strconv.ParseFloat(s, 64); err == nil {
			return protoreflect.ValueOfFloat64(v), nil
		}
	case protoreflect.BytesKind:
		var v []byte
		if v, err = decodeBase64(s); err == nil {
			return protoreflect.ValueOfBytes(v), nil
		}
	case protoreflect.EnumKind:
		ed := fd.Enum()
		if ev := ed.Values().ByName(protoreflect.Name(s)); ev != nil {
			return protoreflect.ValueOfEnum(ev.Number()), nil
		}
		var v int64
		if v, err = strconv.ParseInt(s, 10, 32); err == nil {
			if ed.IsClosed() && ed.Values().ByNumber(protoreflect.EnumNumber(v)) == nil {
				return protoreflect.Value{}, badRequest(name + ": " + strconv.Quote(s) + " is not a value of " + string(ed.FullName()))
			}
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(v)), nil
		}
		return protoreflect.Value{}, badRequest(name + ": " + strconv.Quote(s) + " is not a value of " + string(ed.FullName()))
	}
	return protoreflect.Value{}, badRequest(name + ": invalid " + fd.Kind().String() + " value " + strconv.Quote(s))
}

// decodeBase64 takes the standard and the URL alphabet, padded or not, as grpc-gateway does.
func decodeBase64(s string) ([]byte, error) {
	s = trimPadding(s)
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// parseScalarLike sets a well-known message (see scalarLike) from its string form: the wrappers
// through their value field, Timestamp, Duration and FieldMask through their JSON string.
func parseScalarLike(m protoreflect.Message, name, s string) error {
	md := m.Descriptor()
	switch md.FullName() {
	case "google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask":
		js := appendJSONString(make([]byte, 0, len(s)+2), s)
		if err := protojson.Unmarshal(js, m.Interface()); err != nil {
			return badRequest(name + ": invalid " + string(md.Name()) + " value " + strconv.Quote(s))
		}
		return nil
	}
	fd := md.Fields().ByNumber(1)
	v, err := parseScalar(fd, name, s)
	if err != nil {
		return err
	}
	m.Set(fd, v)
	return nil
}

// appendScalar encodes a top-level scalar field straight to the wire, for requests made of path
// variables only; it is what proto.Marshal writes for the same message.
func appendScalar(dst []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	num := fd.Number()
	switch fd.Kind() {
	case protoreflect.StringKind:
		dst = protowire.AppendTag(dst, num, protowire.BytesType)
		return protowire.AppendString(dst, v.String())
	case protoreflect.BytesKind:
		dst = protowire.AppendTag(dst, num, protowire.BytesType)
		return protowire.AppendBytes(dst, v.Bytes())
	case protoreflect.BoolKind:
		dst = protowire.AppendTag(dst, num, protowire.VarintType)
		return protowire.AppendVarint(dst, protowire.EncodeBool(v.Bool()))
	case protoreflect.Int32Kind, protoreflect.Int64Kind:
		dst = protowire.AppendTag(dst, num, protowire.VarintType)
		return protowire.AppendVarint(dst, uint64(v.Int()))
	case protoreflect.EnumKind:
		dst = protowire.AppendTag(dst, num, protowire.VarintType)
		return protowire.AppendVarint(dst, uint64(v.Enum()))
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		dst = protowire.AppendTag(dst, num, protowire.VarintType)
		return protowire.AppendVarint(dst, v.Uint())
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		dst = protowire.AppendTag(dst, num, protowire.VarintType)
		return protowire.AppendVarint(dst, protowire.EncodeZigZag(v.Int()))
	case protoreflect.Sfixed32Kind:
		dst = protowire.AppendTag(dst, num, protowire.Fixed32Type)
		return protowire.AppendFixed32(dst, uint32(v.Int()))
	case protoreflect.Fixed32Kind:
		dst = protowire.AppendTag(dst, num, protowire.Fixed32Type)
		return protowire.AppendFixed32(dst, uint32(v.Uint()))
	case protoreflect.FloatKind:
		dst = protowire.AppendTag(dst, num, protowire.Fixed32Type)
		return protowire.AppendFixed32(dst, math.Float32bits(float32(v.Float())))
	case protoreflect.Sfixed64Kind:
		dst = protowire.AppendTag(dst, num, protowire.Fixed64Type)
		return protowire.AppendFixed64(dst, uint64(v.Int()))
	case protoreflect.Fixed64Kind:
		dst = protowire.AppendTag(dst, num, protowire.Fixed64Type)
		return protowire.AppendFixed64(dst, v.Uint())
	default: // DoubleKind: message kinds never take this path
		dst = protowire.AppendTag(dst, num, protowire.Fixed64Type)
		return protowire.AppendFixed64(dst, math.Float64bits(v.Float()))
	}
}
