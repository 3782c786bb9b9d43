package opentelemetry

import (
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"strconv"
)

// outgoing is what the upstream is told: the trace, the span it is the
// child of (the last upstream attempt's), that span's parent (the
// server span) and the sampling decision. traceLen is the size the trace
// id came in (0: made here), kept where a format allows it.
type outgoing struct {
	spanContext
}

// idSize is Kong's choice of trace id size for a format: the size it
// came in when the format allows it, else the format's first.
func (o *outgoing) idSize(allowed ...int) int {
	for _, n := range allowed {
		if n == o.traceLen {
			return n
		}
	}
	return allowed[0]
}

// traceHex appends the trace id in n bytes: the low ones when shorter,
// zero-padded when longer (Kong's to_id_size).
func (o *outgoing) traceHex(b []byte, n int) []byte {
	return hex.AppendEncode(b, o.traceID[16-n:])
}

// set replaces header key's values with v, reusing a one-value slice.
func set(h http.Header, key, v string) {
	if vs := h[key]; len(vs) == 1 {
		vs[0] = v
		return
	}
	h[key] = []string{v}
}

// inject writes the context into h in format f (never fmtPreserve: the
// caller resolved it). buf is scratch space; the grown buffer is
// returned.
func (o *outgoing) inject(h http.Header, f format, buf []byte) []byte {
	b := buf[:0]
	sampled := o.sampled == sampledYes
	flag := func(b []byte, yes, no string) []byte {
		if sampled {
			return append(b, yes...)
		}
		return append(b, no...)
	}
	switch f {
	case fmtW3C:
		b = append(b, "00-"...)
		b = o.traceHex(b, 16)
		b = append(b, '-')
		b = hex.AppendEncode(b, o.spanID[:])
		b = flag(b, "-01", "-00")
		set(h, hTraceparent, string(b))
	case fmtB3:
		b = o.traceHex(b, o.idSize(16, 8))
		set(h, hB3TraceID, string(b))
		set(h, hB3SpanID, hex.EncodeToString(o.spanID[:]))
		set(h, hB3ParentID, hex.EncodeToString(o.parentID[:]))
		if o.debug {
			set(h, hB3Flags, "1")
		} else {
			set(h, hB3Sampled, pick(sampled, "1", "0"))
		}
	case fmtB3Single:
		b = o.traceHex(b, o.idSize(16, 8))
		b = append(b, '-')
		b = hex.AppendEncode(b, o.spanID[:])
		switch {
		case o.debug:
			b = append(b, "-d"...)
		default:
			b = flag(b, "-1", "-0")
		}
		b = append(b, '-')
		b = hex.AppendEncode(b, o.parentID[:])
		set(h, hB3, string(b))
	case fmtJaeger:
		b = o.traceHex(b, o.idSize(16, 8))
		b = append(b, ':')
		b = hex.AppendEncode(b, o.spanID[:])
		b = append(b, ':')
		b = hex.AppendEncode(b, o.parentID[:])
		b = flag(b, ":01", ":00")
		set(h, hJaeger, string(b))
	case fmtOT:
		b = o.traceHex(b, o.idSize(8, 16))
		set(h, hOTTraceID, string(b))
		set(h, hOTSpanID, hex.EncodeToString(o.spanID[:]))
		set(h, hOTSampled, pick(sampled, "1", "0"))
	case fmtAWS:
		b = append(b, "Root=1-"...)
		b = hex.AppendEncode(b, o.traceID[:4])
		b = append(b, '-')
		b = hex.AppendEncode(b, o.traceID[4:])
		b = append(b, ";Parent="...)
		b = hex.AppendEncode(b, o.spanID[:])
		b = flag(b, ";Sampled=1", ";Sampled=0")
		set(h, hAWS, string(b))
	case fmtGCP:
		b = o.traceHex(b, 16)
		b = append(b, '/')
		b = strconv.AppendUint(b, binary.BigEndian.Uint64(o.spanID[:]), 10)
		b = flag(b, ";o=1", ";o=0")
		set(h, hGCP, string(b))
	case fmtDatadog:
		set(h, hDDTraceID, strconv.FormatUint(binary.BigEndian.Uint64(o.traceID[8:]), 10))
		set(h, hDDParentID, strconv.FormatUint(binary.BigEndian.Uint64(o.spanID[:]), 10))
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
