package opentelemetry

import (
	"math"
	"math/bits"

	"go.opentelemetry.io/otel/attribute"
)

// The OTLP protobuf is written here with no intermediate objects: a
// request's spans go straight from its record into one byte slice, and
// a batch is those slices behind a resource and scope encoded once. The
// SDK's path (ReadOnlySpan, then tracetransform to the generated types,
// then proto.Marshal) cost more than the request it traced (docs: arch
// notes). Field numbers are those of opentelemetry/proto v1.

// Wire types.
const (
	wireVarint = 0
	wireI64    = 1
	wireLen    = 2
	wireI32    = 5
)

// Fields of the messages written.
const (
	// ExportTraceServiceRequest
	fReqResourceSpans = 1
	// ResourceSpans
	fRSResource   = 1
	fRSScopeSpans = 2
	// Resource
	fResAttributes = 1
	// ScopeSpans
	fSSScope = 1
	fSSSpans = 2
	// InstrumentationScope
	fScopeName = 1
	// Span
	fSpanTraceID    = 1
	fSpanSpanID     = 2
	fSpanTraceState = 3
	fSpanParentID   = 4
	fSpanName       = 5
	fSpanKind       = 6
	fSpanStart      = 7
	fSpanEnd        = 8
	fSpanAttributes = 9
	fSpanStatus     = 15
	fSpanFlags      = 16
	// Status
	fStatusMessage = 2
	fStatusCode    = 3
	// KeyValue
	fKVKey   = 1
	fKVValue = 2
	// AnyValue
	fAnyString = 1
	fAnyBool   = 2
	fAnyInt    = 3
	fAnyDouble = 4
)

// Span flags: the W3C flags, and whether the parent is known to be
// remote (the SDK's exporter sets both bits).
const (
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// statusError is the Status code ERROR.
const statusError = 2

func tag(field, wire int) uint64 { return uint64(field<<3 | wire) }

func sizeVarint(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendFixed64(b []byte, v uint64) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
}

func appendFixed32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

// appendBytes writes a length-delimited field.
func appendBytes(b []byte, field int, v []byte) []byte {
	b = appendVarint(b, tag(field, wireLen))
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, field int, v string) []byte {
	b = appendVarint(b, tag(field, wireLen))
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

// sizeField is the size of a length-delimited field of n bytes whose
// tag takes one byte (fields 1 to 15).
func sizeField(n int) int { return 1 + sizeVarint(uint64(n)) + n }

// appendStrAttr writes a KeyValue with a string value, as field.
func appendStrAttr(b []byte, field int, key, v string) []byte {
	anyLen := sizeField(len(v))
	b = appendVarint(b, tag(field, wireLen))
	b = appendVarint(b, uint64(sizeField(len(key))+sizeField(anyLen)))
	b = appendString(b, fKVKey, key)
	b = appendVarint(b, tag(fKVValue, wireLen))
	b = appendVarint(b, uint64(anyLen))
	return appendString(b, fAnyString, v)
}

// appendIntAttr writes a KeyValue with an int value, as field.
func appendIntAttr(b []byte, field int, key string, v int64) []byte {
	anyLen := 1 + sizeVarint(uint64(v))
	b = appendVarint(b, tag(field, wireLen))
	b = appendVarint(b, uint64(sizeField(len(key))+sizeField(anyLen)))
	b = appendString(b, fKVKey, key)
	b = appendVarint(b, tag(fKVValue, wireLen))
	b = appendVarint(b, uint64(anyLen))
	b = appendVarint(b, tag(fAnyInt, wireVarint))
	return appendVarint(b, uint64(v))
}

// appendAttr writes a resource attribute: the types the config allows.
func appendAttr(b []byte, field int, kv attribute.KeyValue) []byte {
	key := string(kv.Key)
	switch kv.Value.Type() {
	case attribute.INT64:
		return appendIntAttr(b, field, key, kv.Value.AsInt64())
	case attribute.FLOAT64:
		b = appendVarint(b, tag(field, wireLen))
		b = appendVarint(b, uint64(sizeField(len(key))+sizeField(9)))
		b = appendString(b, fKVKey, key)
		b = append(b, byte(tag(fKVValue, wireLen)), 9, byte(tag(fAnyDouble, wireI64)))
		return appendFixed64(b, math.Float64bits(kv.Value.AsFloat64()))
	case attribute.BOOL:
		v := byte(0)
		if kv.Value.AsBool() {
			v = 1
		}
		b = appendVarint(b, tag(field, wireLen))
		b = appendVarint(b, uint64(sizeField(len(key))+sizeField(2)))
		b = appendString(b, fKVKey, key)
		return append(b, byte(tag(fKVValue, wireLen)), 2, byte(tag(fAnyBool, wireVarint)), v)
	default:
		return appendStrAttr(b, field, key, kv.Value.Emit())
	}
}

// msgReserve is the room left for a nested message's tag and length
// before its content is written: a one-byte tag and a length under
// 2^14 fit, a longer one moves the content.
const msgReserve = 3

// openMsg starts a nested message of unknown length.
func openMsg(b []byte) ([]byte, int) {
	return append(b, 0, 0, 0), len(b)
}

// closeMsg writes the tag and length of the message opened at start,
// moving its content to fit them.
func closeMsg(b []byte, start, field int) []byte {
	n := len(b) - start - msgReserve
	var hdr [11]byte
	h := appendVarint(hdr[:0], tag(field, wireLen))
	h = appendVarint(h, uint64(n))
	switch {
	case len(h) < msgReserve:
		copy(b[start+len(h):], b[start+msgReserve:])
		b = b[:start+len(h)+n]
	case len(h) > msgReserve:
		b = append(b, h[msgReserve:]...)
		copy(b[start+len(h):], b[start+msgReserve:start+msgReserve+n])
	}
	copy(b[start:], h)
	return b
}

// encodeResource is a ResourceSpans' resource and scope fields, the
// same for every batch of an instance: what precedes the spans, written
// once. The scope names the instrumentation.
func encodeResource(attrs []attribute.KeyValue) (resource, scope []byte) {
	var res []byte
	for _, kv := range attrs {
		res = appendAttr(res, fResAttributes, kv)
	}
	resource = appendBytes(nil, fRSResource, res)
	scope = appendBytes(nil, fSSScope, appendString(nil, fScopeName, "turnpike"))
	return resource, scope
}

// appendRequest writes an ExportTraceServiceRequest of one resource and
// scope holding spans (each a complete ScopeSpans.spans field).
func appendRequest(b, resource, scope []byte, spans []*spanChunk) []byte {
	n := 0
	for _, c := range spans {
		n += len(c.b)
	}
	ss := len(scope) + n
	rs := len(resource) + sizeField(ss)
	b = appendVarint(b, tag(fReqResourceSpans, wireLen))
	b = appendVarint(b, uint64(rs))
	b = append(b, resource...)
	b = appendVarint(b, tag(fRSScopeSpans, wireLen))
	b = appendVarint(b, uint64(ss))
	b = append(b, scope...)
	for _, c := range spans {
		b = append(b, c.b...)
	}
	return b
}
