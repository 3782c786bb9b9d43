package zipkin

import (
	"encoding/hex"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/tracing"
	"github.com/turnpikegw/turnpike/internal/record"
)

// span is one Zipkin v2 span being written.
type span struct {
	name             string
	id, parent       []byte // parent nil: a root span
	kind             string
	start, end       time.Duration // from the request's start
	service          string        // remoteEndpoint.serviceName ("": none)
	addr             string        // remoteEndpoint host:port ("": none)
	tags             [][2]string
	annotations      []annotation
	trace            []byte
	t0               int64 // the request's start, unix µs
	localServiceName string
}

type annotation struct {
	value string
	at    time.Duration
}

// appendSpans writes the request's spans as JSON array elements joined by
// ',': the balancer tries, the proxy span, the request span (Kong's
// order of reporting).
func (in *instance) appendSpans(b []byte, c *plugin.Ctx, st *state) []byte {
	r := c.Record
	trace := st.ctx.TraceID[16-st.ctx.TraceLen:]
	name := r.Method
	if in.methodPath {
		name += " " + c.ClientPath
	}
	base := span{trace: trace, t0: r.Time.UnixMicro(), localServiceName: in.localService}
	svcTags := in.serviceTags(c)
	svcName := in.defaultService
	if c.Service != nil && c.Service.Name != "" {
		svcName = c.Service.Name
	}
	end := r.Latency
	for i, a := range r.Attempts {
		s := base
		var id [8]byte
		tracing.RandomID(id[:])
		s.name, s.id, s.parent, s.kind = name+" (balancer try "+strconv.Itoa(i+1)+")", id[:], st.ctx.ParentID[:], "CLIENT"
		s.start, s.end = a.Start, a.End
		if a.Connected > 0 {
			s.end = a.Connected
		}
		s.service, s.addr = svcName, a.Target
		s.tags = append(s.tags, [2]string{"kong.balancer.try", strconv.Itoa(i + 1)})
		if i < len(r.Attempts)-1 {
			s.tags = append(s.tags, [2]string{"error", "true"}, [2]string{"kong.balancer.state", balancerState(a)})
			if a.Status != 0 {
				s.tags = append(s.tags, [2]string{"http.status_code", strconv.Itoa(a.Status)})
			}
		}
		s.tags = append(s.tags, svcTags...)
		b = s.appendTo(b)
		b = append(b, ',')
	}

	proxy := base
	proxy.name, proxy.id, proxy.parent, proxy.kind = name+" (proxy)", st.ctx.SpanID[:], st.ctx.ParentID[:], "CLIENT"
	proxy.start, proxy.end = r.Routed, end
	proxy.service = svcName
	accessEnd, head := end, end
	if a := r.Answer(); a != nil {
		proxy.addr = a.Target
		head = a.Head
	}
	if len(r.Attempts) > 0 {
		accessEnd = r.Attempts[0].Start
	}
	if c.Service != nil && c.Service.Host != "" {
		proxy.tags = append(proxy.tags, [2]string{"peer.hostname", c.Service.Host})
	}
	proxy.tags = append(proxy.tags, svcTags...)
	if in.annotations {
		proxy.annotations = []annotation{{"kas", r.Routed}, {"kaf", accessEnd}, {"khs", head}, {"khf", head}, {"kbs", head}, {"kbf", end}}
	} else {
		proxy.tags = append(proxy.tags, [2]string{"kong.access.duration_ms", strconv.FormatInt((accessEnd - r.Routed).Milliseconds(), 10)})
	}
	b = proxy.appendTo(b)
	b = append(b, ',')

	req := base
	req.name, req.id, req.kind = name, st.ctx.ParentID[:], "SERVER"
	if st.parent.SpanID != [8]byte{} {
		req.parent = st.parent.SpanID[:]
	}
	req.end = end
	req.service = in.defaultService
	if ip := c.ForwardedIP; ip != "" {
		req.addr = ip
		if _, port, err := net.SplitHostPort(c.Req.RemoteAddr); err == nil {
			req.addr = net.JoinHostPort(ip, port)
		}
	}
	req.tags = in.requestTags(c, r)
	if in.annotations {
		req.annotations = []annotation{{"krs", 0}}
	}
	return req.appendTo(b)
}

func balancerState(a record.Attempt) string {
	if a.Outcome == record.OutcomeStatus {
		return "next"
	}
	return "failed"
}

// serviceTags are Kong's tag_with_service_and_route.
func (in *instance) serviceTags(c *plugin.Ctx) [][2]string {
	var t [][2]string
	if s := c.Service; s != nil && s.ID != "" {
		t = append(t, [2]string{"kong.service", s.ID})
		if s.Name != "" {
			t = append(t, [2]string{"kong.service_name", s.Name})
		}
	}
	if r := c.Route; r != nil {
		if r.ID != "" {
			t = append(t, [2]string{"kong.route", r.ID})
		}
		if r.Name != "" {
			t = append(t, [2]string{"kong.route_name", r.Name})
		}
	}
	return t
}

// requestTags are the request span's: Kong's, the static ones, those the
// client sent in tags_header, then the outcome's.
func (in *instance) requestTags(c *plugin.Ctx, r *record.Record) [][2]string {
	t := [][2]string{{"lc", "kong"}, {"http.method", r.Method}, {"http.host", r.Host}, {"http.path", c.ClientPath}}
	if r.Proto != "" {
		t = append(t, [2]string{"http.protocol", r.Proto})
	}
	t = append(t, in.staticTags...)
	t = appendRequestTags(t, c.Req.Header[in.tagsHeader])
	t = append(t, [2]string{"http.status_code", strconv.Itoa(r.Status)})
	if c.Consumer != nil {
		t = append(t, [2]string{"kong.consumer", c.Consumer.ID})
	}
	if in.includeCredential && c.Credential != "" {
		t = append(t, [2]string{"kong.credential", c.Credential})
	}
	if in.nodeID != "" {
		t = append(t, [2]string{"kong.node.id", in.nodeID})
	}
	return t
}

// maxRequestTags bounds the tags a client may add through tags_header.
const maxRequestTags = 32

// appendRequestTags parses Kong's `name=value;name=value` (white space
// around either trimmed, the name without spaces, the value not empty);
// items that do not parse are skipped.
func appendRequestTags(t [][2]string, values []string) [][2]string {
	added := 0
	for _, v := range values {
		for item := range strings.SplitSeq(v, ";") {
			if added == maxRequestTags {
				// Across all the header's values: a client repeating
				// the header gets no more tags than one that does not.
				return t
			}
			k, val, ok := strings.Cut(item, "=")
			k, val = strings.TrimSpace(k), strings.TrimSpace(val)
			if !ok || k == "" || val == "" || strings.ContainsAny(k, " \t") {
				continue
			}
			t = append(t, [2]string{k, val})
			added++
		}
	}
	return t
}

// appendTo writes s as Zipkin v2 JSON.
func (s *span) appendTo(b []byte) []byte {
	b = append(b, `{"traceId":"`...)
	b = hex.AppendEncode(b, s.trace)
	b = append(b, `","name":`...)
	b = jsonw.AppendString(b, s.name)
	if s.parent != nil {
		b = append(b, `,"parentId":"`...)
		b = hex.AppendEncode(b, s.parent)
		b = append(b, '"')
	}
	b = append(b, `,"id":"`...)
	b = hex.AppendEncode(b, s.id)
	b = append(b, `","kind":"`...)
	b = append(b, s.kind...)
	b = append(b, `","timestamp":`...)
	b = strconv.AppendInt(b, s.t0+s.start.Microseconds(), 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, max(s.end-s.start, 0).Microseconds(), 10)
	b = append(b, `,"localEndpoint":{"serviceName":`...)
	b = jsonw.AppendString(b, s.localServiceName)
	b = append(b, '}')
	b = s.appendRemote(b)
	if len(s.tags) > 0 {
		b = append(b, `,"tags":{`...)
		n := 0
		for _, t := range s.tags {
			if t[1] == "" {
				continue // Zipkin's tags are not empty
			}
			if n > 0 {
				b = append(b, ',')
			}
			b = jsonw.AppendString(b, t[0])
			b = append(b, ':')
			b = jsonw.AppendString(b, t[1])
			n++
		}
		b = append(b, '}')
	}
	if len(s.annotations) > 0 {
		b = append(b, `,"annotations":[`...)
		for i, a := range s.annotations {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"value":"`...)
			b = append(b, a.value...)
			b = append(b, `","timestamp":`...)
			b = strconv.AppendInt(b, s.t0+a.at.Microseconds(), 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendRemote writes remoteEndpoint: the service name, and the address
// as ipv4 or ipv6 with its port; nothing when neither is known.
func (s *span) appendRemote(b []byte) []byte {
	host, port, _ := net.SplitHostPort(s.addr)
	if s.service == "" && port == "" {
		return b
	}
	b = append(b, `,"remoteEndpoint":{`...)
	sep := ""
	if s.service != "" {
		b = append(b, `"serviceName":`...)
		b = jsonw.AppendString(b, s.service)
		sep = ","
	}
	if ip := net.ParseIP(host); ip != nil {
		kind := "ipv4"
		if ip.To4() == nil {
			kind = "ipv6"
		}
		b = append(b, sep+`"`+kind+`":`...)
		b = jsonw.AppendString(b, host)
		sep = ","
	}
	if n, err := strconv.Atoi(port); err == nil {
		b = append(b, sep+`"port":`...)
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return append(b, '}')
}
