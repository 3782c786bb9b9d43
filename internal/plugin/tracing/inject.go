package tracing

import (
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"strconv"
)

// idSize is Kong's choice of trace id size for a format: the size it
// came in (TraceLen; 0: made here) when the format allows it, else the
// format's first.
func (o *SpanContext) idSize(allowed ...int) int {
	for _, n := range allowed {
		if n == o.TraceLen {
			return n
		}
	}
	return allowed[0]
}

// traceHex appends the trace id in n bytes: the low ones when shorter,
// zero-padded when longer (Kong's to_id_size).
func (o *SpanContext) traceHex(b []byte, n int) []byte {
	return hex.AppendEncode(b, o.TraceID[16-n:])
}

// set replaces header key's values with v, reusing a one-value slice.
func set(h http.Header, key, v string) {
	if vs := h[key]; len(vs) == 1 {
		vs[0] = v
		return
	}
	h[key] = []string{v}
}

// Inject writes what the upstream is told into h in format f (never
// Preserve: the caller resolved it): the trace, SpanID as the span the
// upstream is the child of, ParentID as that span's parent, and the
// sampling decision. buf is scratch space; the grown buffer is returned.
func (o *SpanContext) Inject(h http.Header, f Format, buf []byte) []byte {
	b := buf[:0]
	sampled := o.Sampled == SampledYes
	flag := func(b []byte, yes, no string) []byte {
		if sampled {
			return append(b, yes...)
		}
		return append(b, no...)
	}
	switch f {
	case W3C:
		b = append(b, "00-"...)
		b = o.traceHex(b, 16)
		b = append(b, '-')
		b = hex.AppendEncode(b, o.SpanID[:])
		b = flag(b, "-01", "-00")
		set(h, hTraceparent, string(b))
	case B3:
		b = o.traceHex(b, o.idSize(16, 8))
		set(h, hB3TraceID, string(b))
		set(h, hB3SpanID, hex.EncodeToString(o.SpanID[:]))
		set(h, hB3ParentID, hex.EncodeToString(o.ParentID[:]))
		if o.Debug {
			set(h, hB3Flags, "1")
		} else {
			set(h, hB3Sampled, pick(sampled, "1", "0"))
		}
	case B3Single:
		b = o.traceHex(b, o.idSize(16, 8))
		b = append(b, '-')
		b = hex.AppendEncode(b, o.SpanID[:])
		switch {
		case o.Debug:
			b = append(b, "-d"...)
		default:
			b = flag(b, "-1", "-0")
		}
		b = append(b, '-')
		b = hex.AppendEncode(b, o.ParentID[:])
		set(h, hB3, string(b))
	case Jaeger:
		b = o.traceHex(b, o.idSize(16, 8))
		b = append(b, ':')
		b = hex.AppendEncode(b, o.SpanID[:])
		b = append(b, ':')
		b = hex.AppendEncode(b, o.ParentID[:])
		b = flag(b, ":01", ":00")
		set(h, hJaeger, string(b))
	case OT:
		b = o.traceHex(b, o.idSize(8, 16))
		set(h, hOTTraceID, string(b))
		set(h, hOTSpanID, hex.EncodeToString(o.SpanID[:]))
		set(h, hOTSampled, pick(sampled, "1", "0"))
	case AWS:
		b = append(b, "Root=1-"...)
		b = hex.AppendEncode(b, o.TraceID[:4])
		b = append(b, '-')
		b = hex.AppendEncode(b, o.TraceID[4:])
		b = append(b, ";Parent="...)
		b = hex.AppendEncode(b, o.SpanID[:])
		b = flag(b, ";Sampled=1", ";Sampled=0")
		set(h, hAWS, string(b))
	case GCP:
		b = o.traceHex(b, 16)
		b = append(b, '/')
		b = strconv.AppendUint(b, binary.BigEndian.Uint64(o.SpanID[:]), 10)
		b = flag(b, ";o=1", ";o=0")
		set(h, hGCP, string(b))
	case Datadog:
		set(h, hDDTraceID, strconv.FormatUint(binary.BigEndian.Uint64(o.TraceID[8:]), 10))
		set(h, hDDParentID, strconv.FormatUint(binary.BigEndian.Uint64(o.SpanID[:]), 10))
		set(h, hDDPriority, pick(sampled, "1", "0"))
	}
	return b
}

func pick(yes bool, a, b string) string {
	if yes {
		return a
	}
	return b
}
