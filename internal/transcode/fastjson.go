package transcode

import (
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The direct renderer writes JSON straight from a response's wire bytes, the same JSON protojson
// writes for it, without building a dynamic message: on the guide's User it is several times
// cheaper. It covers the plain shapes that are the bulk of REST answers (proto3 scalars, strings,
// bytes, enums, repeated fields, nested plain messages and Timestamp) and declines, so the caller
// falls back to protojson, for anything else: maps, oneofs, explicit presence, other well-known
// types, and messages past the work budget below.

// Each field's value is found by a pass over the message's records, so a message costs fields ×
// records steps: directBudget bounds that product, past it the message takes protojson's path.
// stackRecords records are indexed without allocating, enough for any message but long lists.
const (
	directBudget = 1 << 16
	stackRecords = 64
)

// errFieldNumber is a tag past protobuf's largest field number, which protowire leaves to its
// callers to refuse.
var errFieldNumber = errors.New("invalid field number")

// errDecline asks the caller to render with protojson instead.
var errDecline = errors.New("not rendered directly")

// plan is how to render one message type directly; nil when the type is not covered.
type plan struct {
	fields []planField    // in declaration order, as protojson writes them
	byKey  map[string]int // JSON and proto names to fields' indexes, for decoding
}

type planField struct {
	fd                protoreflect.FieldDescriptor
	num               protowire.Number
	kind              protoreflect.Kind
	list, timestamp   bool
	jsonKey, protoKey string // quoted and followed by a colon
	sub               *plan
	enumByName        map[string]protoreflect.EnumNumber // for decoding, without a string per value
}

// newPlan builds the plan of md, or nil. seen breaks recursion: a recursive type is not covered.
func newPlan(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) *plan {
	// proto3 only: its strings are always UTF-8 and its scalars have implicit presence.
	if md.ParentFile().Syntax() != protoreflect.Proto3 || seen[md.FullName()] || md.Oneofs().Len() > 0 {
		return nil
	}
	seen[md.FullName()] = true
	defer delete(seen, md.FullName())
	fields := md.Fields()
	p := &plan{fields: make([]planField, 0, fields.Len()), byKey: make(map[string]int, 2*fields.Len())}
	for i := range fields.Len() {
		fd := fields.Get(i)
		f := planField{fd: fd, num: fd.Number(), kind: fd.Kind(), list: fd.IsList(),
			jsonKey: strconv.Quote(fd.JSONName()) + ":", protoKey: strconv.Quote(string(fd.Name())) + ":"}
		switch {
		case fd.IsMap() || fd.Kind() == protoreflect.GroupKind:
			return nil
		case fd.Kind() == protoreflect.MessageKind:
			if fd.Message().FullName() == "google.protobuf.Timestamp" {
				f.timestamp = true
			} else if f.sub = newPlan(fd.Message(), seen); f.sub == nil {
				return nil
			}
		case fd.HasPresence():
			return nil
		case fd.Kind() == protoreflect.EnumKind:
			values := fd.Enum().Values()
			f.enumByName = make(map[string]protoreflect.EnumNumber, values.Len())
			for j := range values.Len() {
				f.enumByName[string(values.Get(j).Name())] = values.Get(j).Number()
			}
		}
		p.byKey[fd.JSONName()] = len(p.fields)
		p.byKey[string(fd.Name())] = len(p.fields)
		p.fields = append(p.fields, f)
	}
	return p
}

// record is one field of a message's wire form, parsed once: a scalar's value, or the span of a
// length-delimited payload.
type record struct {
	num        protowire.Number
	typ        protowire.Type
	start, end int
	bits       uint64
}

// render appends msg's JSON to dst, errDecline when the message is outside the plan's reach.
func (p *plan) render(dst, msg []byte, o Options) ([]byte, error) {
	var buf [stackRecords]record
	recs, err := index(buf[:0], msg, max(stackRecords, directBudget/max(1, len(p.fields))))
	if err != nil {
		return nil, err
	}
	dst = append(dst, '{')
	first := true
	for i := range p.fields {
		f := &p.fields[i]
		mark := len(dst)
		if !first {
			dst = append(dst, ',')
		}
		if o.UseProtoNames {
			dst = append(dst, f.protoKey...)
		} else {
			dst = append(dst, f.jsonKey...)
		}
		var wrote bool
		if f.list {
			dst, wrote, err = f.listValue(dst, msg, recs, o)
		} else {
			dst, wrote, err = f.value(dst, msg, recs, o)
		}
		if err != nil {
			return nil, err
		}
		if wrote {
			first = false
		} else {
			dst = dst[:mark]
		}
	}
	return append(dst, '}'), nil
}

// index parses msg's records into recs, errDecline past limit records.
func index(recs []record, msg []byte, limit int) ([]record, error) {
	for off := 0; off < len(msg); {
		num, typ, tl := protowire.ConsumeTag(msg[off:])
		if tl < 0 {
			return nil, protowire.ParseError(tl)
		}
		if num > protowire.MaxValidNumber {
			return nil, errFieldNumber
		}
		l := protowire.ConsumeFieldValue(num, typ, msg[off+tl:])
		if l < 0 {
			return nil, protowire.ParseError(l)
		}
		if len(recs) == limit {
			return nil, errDecline
		}
		r := record{num: num, typ: typ, end: off + tl + l}
		val := msg[off+tl : r.end]
		switch typ {
		case protowire.BytesType:
			v, _ := protowire.ConsumeBytes(val)
			r.start = r.end - len(v)
		case protowire.VarintType:
			r.bits, _ = protowire.ConsumeVarint(val)
		case protowire.Fixed32Type:
			v, _ := protowire.ConsumeFixed32(val)
			r.bits = uint64(v)
		case protowire.Fixed64Type:
			r.bits, _ = protowire.ConsumeFixed64(val)
		}
		recs = append(recs, r)
		off = r.end
	}
	return recs, nil
}

// value writes the field's JSON value; wrote is false when protojson would leave the field out.
// The last occurrence of a scalar wins, as in protobuf.
func (f *planField) value(dst, msg []byte, recs []record, o Options) ([]byte, bool, error) {
	want := f.wireType()
	var last *record
	count := 0
	for i := range recs {
		// A record of the wrong wire type is an unknown field to protobuf too.
		if recs[i].num == f.num && recs[i].typ == want {
			last = &recs[i]
			count++
		}
	}
	switch {
	case f.kind == protoreflect.MessageKind && count > 1:
		return nil, false, errDecline // several occurrences merge: protojson's job
	case f.kind == protoreflect.MessageKind && count == 0:
		if o.EmitUnpopulated {
			return append(dst, "null"...), true, nil
		}
		return dst, false, nil
	case f.kind == protoreflect.MessageKind:
		out, err := f.message(dst, msg[last.start:last.end], o)
		return out, err == nil, err
	}
	var bits uint64
	var b []byte
	if last != nil {
		bits, b = last.bits, msg[last.start:last.end]
	}
	if !o.EmitUnpopulated && isZero(f.kind, bits, b) {
		return dst, false, nil
	}
	out, err := f.scalar(dst, bits, b, o)
	return out, err == nil, err
}

func (f *planField) listValue(dst, msg []byte, recs []record, o Options) ([]byte, bool, error) {
	mark := len(dst)
	dst = append(dst, '[')
	want := f.wireType()
	n := 0
	for i := range recs {
		r := &recs[i]
		if r.num != f.num {
			continue
		}
		var err error
		switch {
		case r.typ == want:
			dst, err = f.element(dst, n, r.bits, msg[r.start:r.end], o)
			n++
		case r.typ == protowire.BytesType && f.packable():
			dst, n, err = f.packed(dst, n, msg[r.start:r.end], o)
		}
		if err != nil {
			return nil, false, err
		}
	}
	if n == 0 && !o.EmitUnpopulated {
		return dst[:mark], false, nil
	}
	return append(dst, ']'), true, nil
}

func (f *planField) element(dst []byte, n int, bits uint64, b []byte, o Options) ([]byte, error) {
	if n > 0 {
		dst = append(dst, ',')
	}
	if f.kind == protoreflect.MessageKind {
		return f.message(dst, b, o)
	}
	return f.scalar(dst, bits, b, o)
}

func (f *planField) packed(dst []byte, n int, b []byte, o Options) ([]byte, int, error) {
	for len(b) > 0 {
		var bits uint64
		var l int
		switch f.wireType() {
		case protowire.VarintType:
			bits, l = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, l = protowire.ConsumeFixed32(b)
			bits = uint64(v)
		default:
			bits, l = protowire.ConsumeFixed64(b)
		}
		if l < 0 {
			return nil, 0, protowire.ParseError(l)
		}
		b = b[l:]
		var err error
		if dst, err = f.element(dst, n, bits, nil, o); err != nil {
			return nil, 0, err
		}
		n++
	}
	return dst, n, nil
}

func (f *planField) message(dst, b []byte, o Options) ([]byte, error) {
	if f.timestamp {
		return appendTimestamp(dst, b)
	}
	return f.sub.render(dst, b, o)
}

func (f *planField) packable() bool {
	return f.kind != protoreflect.StringKind && f.kind != protoreflect.BytesKind && f.kind != protoreflect.MessageKind
}

func (f *planField) wireType() protowire.Type {
	switch f.kind {
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return protowire.BytesType
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	}
	return protowire.VarintType
}

// isZero is proto3's implicit presence: a field at its zero value is not populated. A negative
// zero float is populated, as protobuf-go has it.
func isZero(kind protoreflect.Kind, bits uint64, b []byte) bool {
	switch kind {
	case protoreflect.StringKind, protoreflect.BytesKind:
		return len(b) == 0
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.EnumKind, protoreflect.Uint32Kind:
		return uint32(bits) == 0 // the high bits of a 32-bit varint are dropped on decoding
	}
	return bits == 0
}

func (f *planField) scalar(dst []byte, bits uint64, b []byte, o Options) ([]byte, error) {
	switch f.kind {
	case protoreflect.StringKind:
		if !utf8.Valid(b) {
			return nil, errors.New("field " + string(f.fd.FullName()) + ": invalid UTF-8")
		}
		return appendJSONString(dst, string(b)), nil
	case protoreflect.BytesKind:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, b)
		return append(dst, '"'), nil
	case protoreflect.BoolKind:
		return strconv.AppendBool(dst, bits != 0), nil
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(dst, int64(int32(bits)), 10), nil
	case protoreflect.Sint32Kind:
		return strconv.AppendInt(dst, int64(int32(protowire.DecodeZigZag(bits&math.MaxUint32))), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(dst, uint64(uint32(bits)), 10), nil
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		return append(strconv.AppendInt(append(dst, '"'), int64(bits), 10), '"'), nil
	case protoreflect.Sint64Kind:
		return append(strconv.AppendInt(append(dst, '"'), protowire.DecodeZigZag(bits), 10), '"'), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return append(strconv.AppendUint(append(dst, '"'), bits, 10), '"'), nil
	case protoreflect.FloatKind:
		return appendFloat(dst, float64(math.Float32frombits(uint32(bits))), 32), nil
	case protoreflect.DoubleKind:
		return appendFloat(dst, math.Float64frombits(bits), 64), nil
	}
	// EnumKind: the name when the number has one, the number otherwise, as protojson does.
	n := protoreflect.EnumNumber(int32(bits))
	if !o.EnumsAsInts {
		if ev := f.fd.Enum().Values().ByNumber(n); ev != nil {
			return appendJSONString(dst, string(ev.Name())), nil
		}
	}
	return strconv.AppendInt(dst, int64(n), 10), nil
}

// appendFloat writes a float as JSON does: NaN and the infinities as protojson's strings, exponent
// form only for very small or very large magnitudes.
func appendFloat(dst []byte, v float64, bitSize int) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(dst, `"-Infinity"`...)
	}
	format := byte('f')
	abs := math.Abs(v)
	if bitSize == 32 {
		abs = float64(float32(abs))
	}
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, v, format, -1, bitSize)
	if format == 'e' {
		// 1e-07 reads better as 1e-7, and JSON takes both.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// Timestamp's JSON range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
const (
	minTimestamp = -62135596800
	maxTimestamp = 253402300799
)

// appendTimestamp writes a google.protobuf.Timestamp as RFC 3339 in UTC with 0, 3, 6 or 9
// fractional digits, as protojson does; out of range is an error, as there.
func appendTimestamp(dst, b []byte) ([]byte, error) {
	var secs int64
	var nanos int32
	var buf [stackRecords]record
	recs, err := index(buf[:0], b, stackRecords)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		switch {
		case r.typ == protowire.VarintType && r.num == 1:
			secs = int64(r.bits)
		case r.typ == protowire.VarintType && r.num == 2:
			nanos = int32(r.bits)
		}
	}
	if secs < minTimestamp || secs > maxTimestamp || nanos < 0 || nanos >= 1e9 {
		return nil, errors.New("invalid google.protobuf.Timestamp value")
	}
	dst = append(dst, '"')
	dst = time.Unix(secs, int64(nanos)).UTC().AppendFormat(dst, "2006-01-02T15:04:05")
	if nanos != 0 {
		var buf [10]byte
		frac := strconv.AppendInt(buf[:0], int64(nanos)+1e9, 10)[1:]
		switch {
		case nanos%1e6 == 0:
			frac = frac[:3]
		case nanos%1e3 == 0:
			frac = frac[:6]
		}
		dst = append(append(dst, '.'), frac...)
	}
	return append(dst, `Z"`...), nil
}
