package tracing

import (
	"encoding/binary"
	"net/http"
	"strconv"
	"strings"
)

// Format is a trace-context header format (Kong's propagation formats).
type Format uint8

const (
	None Format = iota
	W3C
	B3 // multi-header X-B3-*; extraction also reads the single b3
	B3Single
	Jaeger
	OT
	AWS
	GCP
	Datadog
	// Preserve, in inject only: the format the context was extracted
	// from, else default_format.
	Preserve
)

var FormatNames = map[string]Format{
	"w3c": W3C, "b3": B3, "b3-single": B3Single, "jaeger": Jaeger, "ot": OT,
	"aws": AWS, "gcp": GCP, "datadog": Datadog,
}

// KongExtractOrder is the order Kong tries formats in when propagation
// is configured through the deprecated header_type (its default).
var KongExtractOrder = []Format{B3, W3C, Jaeger, OT, Datadog, AWS, GCP}

// Canonical header keys, read from and written to the header map
// directly so that no lookup canonicalises (allocates).
const (
	hTraceparent  = "Traceparent"
	hTracestate   = "Tracestate"
	hB3           = "B3"
	hB3TraceID    = "X-B3-Traceid"
	hB3SpanID     = "X-B3-Spanid"
	hB3ParentID   = "X-B3-Parentspanid"
	hB3Sampled    = "X-B3-Sampled"
	hB3Flags      = "X-B3-Flags"
	hJaeger       = "Uber-Trace-Id"
	hOTTraceID    = "Ot-Tracer-Traceid"
	hOTSpanID     = "Ot-Tracer-Spanid"
	hOTSampled    = "Ot-Tracer-Sampled"
	hAWS          = "X-Amzn-Trace-Id"
	hGCP          = "X-Cloud-Trace-Context"
	hDDTraceID    = "X-Datadog-Trace-Id"
	hDDParentID   = "X-Datadog-Parent-Id"
	hDDPriority   = "X-Datadog-Sampling-Priority"
	hDDOrigin     = "X-Datadog-Origin"
	SampledYes    = 1
	SampledNo     = -1
	SampledUnsaid = 0
)

// SpanContext is a trace context as a header carries it. Ids are kept
// in Kong's sizes: a trace id of 8 bytes sits in the low half of TraceID
// (TraceLen remembers it, so that formats allowing 64-bit ids send it
// back as it came); a zero span id is none.
type SpanContext struct {
	TraceID  [16]byte
	TraceLen int // 0: no trace id
	SpanID   [8]byte
	ParentID [8]byte
	Sampled  int8 // SampledYes, SampledNo or SampledUnsaid
	Debug    bool // B3's debug flag
	Single   bool // B3 came in the single header
	From     Format
	State    string // W3C tracestate as received
}

// HasTrace reports whether a trace id was found.
func (sc *SpanContext) HasTrace() bool { return sc.TraceLen != 0 }

func first(h http.Header, key string) (string, bool) {
	if vs := h[key]; len(vs) > 0 {
		return vs[0], true
	}
	return "", false
}

// decodeID decodes the hex id s (len(s) == 2*len(dst)); false when it is
// not hex or is all zeros.
func decodeID(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := 0; i < len(dst); i++ {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	for _, b := range dst {
		if b != 0 {
			return true
		}
	}
	return false
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeTraceID reads a trace id of 16 or 32 hex digits into sc.
func (sc *SpanContext) decodeTraceID(s string) bool {
	var id [16]byte
	switch len(s) {
	case 32:
		if !decodeID(id[:], s) {
			return false
		}
	case 16:
		if !decodeID(id[8:], s) {
			return false
		}
	default:
		return false
	}
	sc.TraceID, sc.TraceLen = id, len(s)/2
	return true
}

// extract fills sc from the first of formats whose headers h carries;
// false when none does.
func Extract(h http.Header, formats []Format, sc *SpanContext) bool {
	for _, f := range formats {
		*sc = SpanContext{}
		var ok bool
		switch f {
		case W3C:
			ok = extractW3C(h, sc)
		case B3:
			ok = extractB3(h, sc)
		case Jaeger:
			ok = extractJaeger(h, sc)
		case OT:
			ok = extractOT(h, sc)
		case AWS:
			ok = extractAWS(h, sc)
		case GCP:
			ok = extractGCP(h, sc)
		case Datadog:
			ok = extractDatadog(h, sc)
		}
		if ok {
			sc.From = f
			return true
		}
	}
	*sc = SpanContext{}
	return false
}

// extractW3C reads traceparent (version 00, or a later one by its first
// four fields) and tracestate.
func extractW3C(h http.Header, sc *SpanContext) bool {
	v, ok := first(h, hTraceparent)
	if !ok || len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return false
	}
	var ver [1]byte
	if !decodeHexByte(ver[:], v[:2]) || ver[0] == 0xff || ver[0] == 0 && len(v) != 55 || len(v) > 55 && v[55] != '-' {
		return false
	}
	var flags [1]byte
	if !sc.decodeTraceID(v[3:35]) || !decodeID(sc.SpanID[:], v[36:52]) || !decodeHexByte(flags[:], v[53:55]) {
		return false
	}
	sc.Sampled = SampledNo
	if flags[0]&1 == 1 {
		sc.Sampled = SampledYes
	}
	if vs := h[hTracestate]; len(vs) > 0 {
		sc.State = strings.Join(vs, ",")
	}
	return true
}

// decodeHexByte decodes two hex digits into dst[0].
func decodeHexByte(dst []byte, s string) bool {
	hi, ok1 := unhex(s[0])
	lo, ok2 := unhex(s[1])
	dst[0] = hi<<4 | lo
	return ok1 && ok2
}

// extractB3 reads the single b3 header, completed by the multi-header
// form as Kong does (the single header's values win).
func extractB3(h http.Header, sc *SpanContext) bool {
	single, hasSingle := first(h, hB3)
	any := hasSingle
	for _, k := range [...]string{hB3TraceID, hB3SpanID, hB3ParentID, hB3Sampled, hB3Flags} {
		if _, ok := h[k]; ok {
			any = true
		}
	}
	if !any {
		return false
	}
	if hasSingle {
		sc.Single = true
		readB3Single(single, sc)
	}
	if sc.Sampled == SampledUnsaid {
		switch v, _ := first(h, hB3Sampled); v {
		case "1", "true":
			sc.Sampled = SampledYes
		case "0", "false":
			sc.Sampled = SampledNo
		}
	}
	if v, _ := first(h, hB3Flags); v == "1" {
		sc.Debug, sc.Sampled = true, SampledYes
	}
	if !sc.HasTrace() {
		tid, _ := first(h, hB3TraceID)
		sid, _ := first(h, hB3SpanID)
		pid, hasPid := first(h, hB3ParentID)
		var t SpanContext
		if t.decodeTraceID(tid) && decodeID(t.SpanID[:], sid) && (!hasPid || decodeID(t.ParentID[:], pid)) {
			sc.TraceID, sc.TraceLen, sc.SpanID, sc.ParentID = t.TraceID, t.TraceLen, t.SpanID, t.ParentID
		}
	}
	return true
}

// readB3Single parses b3: {trace}-{span}[-{sampled}[-{parent}]], or just
// a sampling state (1, 0, d).
func readB3Single(v string, sc *SpanContext) {
	switch v {
	case "1":
		sc.Sampled = SampledYes
		return
	case "d":
		sc.Sampled, sc.Debug = SampledYes, true
		return
	case "0":
		sc.Sampled = SampledNo
		return
	}
	parts := [4]string{}
	n := 0
	for n < 4 {
		i := strings.IndexByte(v, '-')
		if i < 0 {
			parts[n] = v
			n++
			break
		}
		parts[n], v = v[:i], v[i+1:]
		n++
		if n == 4 {
			return // too many fields
		}
	}
	var t SpanContext
	if n < 2 || !t.decodeTraceID(parts[0]) || !decodeID(t.SpanID[:], parts[1]) {
		return
	}
	sampled, parent := parts[2], parts[3]
	if n == 3 && len(sampled) == 16 { // trace-span-parent is no valid form
		return
	}
	switch sampled {
	case "1":
		t.Sampled = SampledYes
	case "d":
		t.Sampled, t.Debug = SampledYes, true
	case "0":
		t.Sampled = SampledNo
	case "":
	default:
		return
	}
	if n == 4 && !decodeID(t.ParentID[:], parent) {
		return
	}
	t.Single = true
	*sc = t
}

// extractJaeger reads uber-trace-id: {trace}:{span}:{parent}:{flags},
// ids of up to 32 and 16 hex digits (Jaeger drops leading zeros).
func extractJaeger(h http.Header, sc *SpanContext) bool {
	v, ok := first(h, hJaeger)
	if !ok {
		return false
	}
	f := strings.Split(v, ":")
	if len(f) != 4 || len(f[0]) == 0 || len(f[0]) > 32 || len(f[1]) == 0 || len(f[1]) > 16 || len(f[3]) == 0 || len(f[3]) > 2 {
		return false
	}
	tid := f[0]
	switch {
	case len(tid) <= 16:
		tid = strings.Repeat("0", 16-len(tid)) + tid
	default:
		tid = strings.Repeat("0", 32-len(tid)) + tid
	}
	if !sc.decodeTraceID(tid) || !decodeID(sc.SpanID[:], strings.Repeat("0", 16-len(f[1]))+f[1]) {
		*sc = SpanContext{}
		return false
	}
	if len(f[2]) == 16 {
		decodeID(sc.ParentID[:], f[2])
	}
	flags, err := strconv.ParseUint(f[3], 16, 8)
	if err != nil {
		*sc = SpanContext{}
		return false
	}
	sc.Sampled = SampledNo
	if flags&1 == 1 {
		sc.Sampled = SampledYes
	}
	return true
}

// extractOT reads the ot-tracer-* headers.
func extractOT(h http.Header, sc *SpanContext) bool {
	tid, hasT := first(h, hOTTraceID)
	sid, hasS := first(h, hOTSpanID)
	smp, hasSmp := first(h, hOTSampled)
	if !hasT && !hasS && !hasSmp {
		return false
	}
	switch smp {
	case "1", "true":
		sc.Sampled = SampledYes
	case "0", "false":
		sc.Sampled = SampledNo
	}
	var t SpanContext
	if t.decodeTraceID(tid) && decodeID(t.SpanID[:], sid) {
		sc.TraceID, sc.TraceLen, sc.SpanID = t.TraceID, t.TraceLen, t.SpanID
	}
	return true
}

// extractAWS reads X-Amzn-Trace-Id: Root=1-{8 hex}-{24 hex};Parent={16
// hex};Sampled={0|1}, in any order, other keys ignored.
func extractAWS(h http.Header, sc *SpanContext) bool {
	v, ok := first(h, hAWS)
	if !ok {
		return false
	}
	var t SpanContext
	for v != "" {
		var kv string
		kv, v, _ = strings.Cut(v, ";")
		k, val, _ := strings.Cut(kv, "=")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		switch k {
		case "Root":
			if len(val) != 35 || val[:2] != "1-" || val[10] != '-' || !t.decodeTraceID(val[2:10]+val[11:]) {
				return false
			}
		case "Parent":
			if !decodeID(t.SpanID[:], val) {
				return false
			}
		case "Sampled":
			switch val {
			case "1":
				t.Sampled = SampledYes
			case "0":
				t.Sampled = SampledNo
			default:
				return false
			}
		}
	}
	*sc = t
	return true
}

// extractGCP reads X-Cloud-Trace-Context: {32 hex}/{decimal span}[;o={flag}].
func extractGCP(h http.Header, sc *SpanContext) bool {
	v, ok := first(h, hGCP)
	if !ok {
		return false
	}
	tid, rest, ok := strings.Cut(v, "/")
	if !ok || len(tid) != 32 || strings.ToLower(tid) != tid {
		return false
	}
	sid, opt, hasOpt := strings.Cut(rest, ";")
	if len(sid) == 0 || len(sid) > 20 {
		return false
	}
	n, err := strconv.ParseUint(sid, 10, 64)
	if err != nil || !sc.decodeTraceID(tid) {
		*sc = SpanContext{}
		return false
	}
	binary.BigEndian.PutUint64(sc.SpanID[:], n)
	sc.Sampled = SampledNo
	if hasOpt {
		if len(opt) != 3 || opt[:2] != "o=" || opt[2] < '0' || opt[2] > '9' {
			*sc = SpanContext{}
			return false
		}
		if opt[2] == '1' {
			sc.Sampled = SampledYes
		}
	}
	return true
}

// extractDatadog reads the x-datadog-* headers (decimal 64-bit ids).
func extractDatadog(h http.Header, sc *SpanContext) bool {
	tid, hasT := first(h, hDDTraceID)
	pid, hasP := first(h, hDDParentID)
	prio, hasPrio := first(h, hDDPriority)
	if !hasT && !hasP && !hasPrio {
		if _, ok := h[hDDOrigin]; !ok {
			return false
		}
	}
	if hasPrio {
		if n, err := strconv.ParseInt(prio, 10, 64); err == nil {
			sc.Sampled = SampledNo
			if n > 0 {
				sc.Sampled = SampledYes
			}
		}
	}
	t, err1 := strconv.ParseUint(tid, 10, 64)
	p, err2 := strconv.ParseUint(pid, 10, 64)
	if err1 == nil && err2 == nil && t != 0 && p != 0 {
		binary.BigEndian.PutUint64(sc.TraceID[8:], t)
		sc.TraceLen = 8
		binary.BigEndian.PutUint64(sc.SpanID[:], p)
	}
	return true
}
