package opentelemetry

import (
	"encoding/binary"
	"net/http"
	"strconv"
	"strings"
)

// format is a trace-context header format (Kong's propagation formats).
type format uint8

const (
	fmtNone format = iota
	fmtW3C
	fmtB3 // multi-header X-B3-*; extraction also reads the single b3
	fmtB3Single
	fmtJaeger
	fmtOT
	fmtAWS
	fmtGCP
	fmtDatadog
	// fmtPreserve, in inject only: the format the context was extracted
	// from, else default_format.
	fmtPreserve
)

var formatNames = map[string]format{
	"w3c": fmtW3C, "b3": fmtB3, "b3-single": fmtB3Single, "jaeger": fmtJaeger, "ot": fmtOT,
	"aws": fmtAWS, "gcp": fmtGCP, "datadog": fmtDatadog,
}

// kongExtractOrder is the order Kong tries formats in when propagation
// is configured through the deprecated header_type (its default).
var kongExtractOrder = []format{fmtB3, fmtW3C, fmtJaeger, fmtOT, fmtDatadog, fmtAWS, fmtGCP}

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
	sampledYes    = 1
	sampledNo     = -1
	sampledUnsaid = 0
)

// spanContext is a trace context as a header carries it. Ids are kept
// in Kong's sizes: a trace id of 8 bytes sits in the low half of traceID
// (traceLen remembers it, so that formats allowing 64-bit ids send it
// back as it came); a zero span id is none.
type spanContext struct {
	traceID  [16]byte
	traceLen int // 0: no trace id
	spanID   [8]byte
	parentID [8]byte
	sampled  int8 // sampledYes, sampledNo or sampledUnsaid
	debug    bool // B3's debug flag
	single   bool // B3 came in the single header
	from     format
	state    string // W3C tracestate as received
}

func (sc *spanContext) hasTrace() bool { return sc.traceLen != 0 }

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
func (sc *spanContext) decodeTraceID(s string) bool {
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
	sc.traceID, sc.traceLen = id, len(s)/2
	return true
}

// extract fills sc from the first of formats whose headers h carries;
// false when none does.
func extract(h http.Header, formats []format, sc *spanContext) bool {
	for _, f := range formats {
		*sc = spanContext{}
		var ok bool
		switch f {
		case fmtW3C:
			ok = extractW3C(h, sc)
		case fmtB3:
			ok = extractB3(h, sc)
		case fmtJaeger:
			ok = extractJaeger(h, sc)
		case fmtOT:
			ok = extractOT(h, sc)
		case fmtAWS:
			ok = extractAWS(h, sc)
		case fmtGCP:
			ok = extractGCP(h, sc)
		case fmtDatadog:
			ok = extractDatadog(h, sc)
		}
		if ok {
			sc.from = f
			return true
		}
	}
	*sc = spanContext{}
	return false
}

// extractW3C reads traceparent (version 00, or a later one by its first
// four fields) and tracestate.
func extractW3C(h http.Header, sc *spanContext) bool {
	v, ok := first(h, hTraceparent)
	if !ok || len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return false
	}
	var ver [1]byte
	if !decodeHexByte(ver[:], v[:2]) || ver[0] == 0xff || ver[0] == 0 && len(v) != 55 || len(v) > 55 && v[55] != '-' {
		return false
	}
	var flags [1]byte
	if !sc.decodeTraceID(v[3:35]) || !decodeID(sc.spanID[:], v[36:52]) || !decodeHexByte(flags[:], v[53:55]) {
		return false
	}
	sc.sampled = sampledNo
	if flags[0]&1 == 1 {
		sc.sampled = sampledYes
	}
	if vs := h[hTracestate]; len(vs) > 0 {
		sc.state = strings.Join(vs, ",")
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
func extractB3(h http.Header, sc *spanContext) bool {
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
		sc.single = true
		readB3Single(single, sc)
	}
	if sc.sampled == sampledUnsaid {
		switch v, _ := first(h, hB3Sampled); v {
		case "1", "true":
			sc.sampled = sampledYes
		case "0", "false":
			sc.sampled = sampledNo
		}
	}
	if v, _ := first(h, hB3Flags); v == "1" {
		sc.debug, sc.sampled = true, sampledYes
	}
	if !sc.hasTrace() {
		tid, _ := first(h, hB3TraceID)
		sid, _ := first(h, hB3SpanID)
		pid, hasPid := first(h, hB3ParentID)
		var t spanContext
		if t.decodeTraceID(tid) && decodeID(t.spanID[:], sid) && (!hasPid || decodeID(t.parentID[:], pid)) {
			sc.traceID, sc.traceLen, sc.spanID, sc.parentID = t.traceID, t.traceLen, t.spanID, t.parentID
		}
	}
	return true
}

// readB3Single parses b3: {trace}-{span}[-{sampled}[-{parent}]], or just
// a sampling state (1, 0, d).
func readB3Single(v string, sc *spanContext) {
	switch v {
	case "1":
		sc.sampled = sampledYes
		return
	case "d":
		sc.sampled, sc.debug = sampledYes, true
		return
	case "0":
		sc.sampled = sampledNo
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
	var t spanContext
	if n < 2 || !t.decodeTraceID(parts[0]) || !decodeID(t.spanID[:], parts[1]) {
		return
	}
	sampled, parent := parts[2], parts[3]
	if n == 3 && len(sampled) == 16 { // trace-span-parent is no valid form
		return
	}
	switch sampled {
	case "1":
		t.sampled = sampledYes
	case "d":
		t.sampled, t.debug = sampledYes, true
	case "0":
		t.sampled = sampledNo
	case "":
	default:
		return
	}
	if n == 4 && !decodeID(t.parentID[:], parent) {
		return
	}
	t.single = true
	*sc = t
}

// extractJaeger reads uber-trace-id: {trace}:{span}:{parent}:{flags},
// ids of up to 32 and 16 hex digits (Jaeger drops leading zeros).
func extractJaeger(h http.Header, sc *spanContext) bool {
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
	if !sc.decodeTraceID(tid) || !decodeID(sc.spanID[:], strings.Repeat("0", 16-len(f[1]))+f[1]) {
		*sc = spanContext{}
		return false
	}
	if len(f[2]) == 16 {
		decodeID(sc.parentID[:], f[2])
	}
	flags, err := strconv.ParseUint(f[3], 16, 8)
	if err != nil {
		*sc = spanContext{}
		return false
	}
	sc.sampled = sampledNo
	if flags&1 == 1 {
		sc.sampled = sampledYes
	}
	return true
}

// extractOT reads the ot-tracer-* headers.
func extractOT(h http.Header, sc *spanContext) bool {
	tid, hasT := first(h, hOTTraceID)
	sid, hasS := first(h, hOTSpanID)
	smp, hasSmp := first(h, hOTSampled)
	if !hasT && !hasS && !hasSmp {
		return false
	}
	switch smp {
	case "1", "true":
		sc.sampled = sampledYes
	case "0", "false":
		sc.sampled = sampledNo
	}
	var t spanContext
	if t.decodeTraceID(tid) && decodeID(t.spanID[:], sid) {
		sc.traceID, sc.traceLen, sc.spanID = t.traceID, t.traceLen, t.spanID
	}
	return true
}

// extractAWS reads X-Amzn-Trace-Id: Root=1-{8 hex}-{24 hex};Parent={16
// hex};Sampled={0|1}, in any order, other keys ignored.
func extractAWS(h http.Header, sc *spanContext) bool {
	v, ok := first(h, hAWS)
	if !ok {
		return false
	}
	var t spanContext
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
			if !decodeID(t.spanID[:], val) {
				return false
			}
		case "Sampled":
			switch val {
			case "1":
				t.sampled = sampledYes
			case "0":
				t.sampled = sampledNo
			default:
				return false
			}
		}
	}
	*sc = t
	return true
}

// extractGCP reads X-Cloud-Trace-Context: {32 hex}/{decimal span}[;o={flag}].
func extractGCP(h http.Header, sc *spanContext) bool {
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
		*sc = spanContext{}
		return false
	}
	binary.BigEndian.PutUint64(sc.spanID[:], n)
	sc.sampled = sampledNo
	if hasOpt {
		if len(opt) != 3 || opt[:2] != "o=" || opt[2] < '0' || opt[2] > '9' {
			*sc = spanContext{}
			return false
		}
		if opt[2] == '1' {
			sc.sampled = sampledYes
		}
	}
	return true
}

// extractDatadog reads the x-datadog-* headers (decimal 64-bit ids).
func extractDatadog(h http.Header, sc *spanContext) bool {
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
			sc.sampled = sampledNo
			if n > 0 {
				sc.sampled = sampledYes
			}
		}
	}
	t, err1 := strconv.ParseUint(tid, 10, 64)
	p, err2 := strconv.ParseUint(pid, 10, 64)
	if err1 == nil && err2 == nil && t != 0 && p != 0 {
		binary.BigEndian.PutUint64(sc.traceID[8:], t)
		sc.traceLen = 8
		binary.BigEndian.PutUint64(sc.spanID[:], p)
	}
	return true
}
