package logs

import (
	"crypto/tls"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
)

// Bounds of the header and querystring maps of a log entry, so that a
// request with huge or many headers or arguments cannot make a huge
// entry: at most MaxMapEntries entries (Kong's own default of
// get_headers and get_query) and MaxMapBytes of JSON per map, counted as
// written (escaped: a control character takes 6 bytes); an entry that
// would pass either bound is left out, with all after it.
const (
	MaxMapEntries = 100
	MaxMapBytes   = 16 << 10
)

// kongWorkspaceID is the id of the one workspace of a Kong DB-less node
// (Kong's DECLARATIVE_DEFAULT_WORKSPACE_ID), which its log object names.
const kongWorkspaceID = "0dc6f45b-8f8d-40d2-a504-473544ee190b"

// AppendEntry appends the request's log object, Kong's kong.log.serialize()
// as JSON, built from the log phase's Ctx and its complete Record.
// Credentials are written as plugin.Redacted. The fields plugins added
// (Ctx.SetLogValue: correlation-id's correlation_id) come last.
func AppendEntry(b []byte, c *plugin.Ctx) []byte {
	r := c.Record
	b = append(b, `{"request":{"id":`...)
	b = jsonw.AppendString(b, c.RequestID)
	path, query, hasQuery := strings.Cut(r.URI, "?")
	redact := hasQuery && secretArg(query, c)
	b = append(b, `,"uri":"`...)
	b = appendURI(b, path, query, hasQuery, redact, c)
	b = append(b, `","url":"`...)
	b = appendURL(b, c, r)
	b = appendURI(b, path, query, hasQuery, redact, c)
	b = append(b, '"')
	b = append(b, `,"querystring":`...)
	b = appendQuery(b, c)
	b = append(b, `,"method":`...)
	b = jsonw.AppendString(b, r.Method)
	b = append(b, `,"headers":`...)
	b, reqHeaders := appendHeaders(b, c.Req.Header, r.Host, c, c.GatewayHeaders)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, c.RequestSizeOf(reqHeaders), 10)
	if cs := c.Req.TLS; cs != nil {
		b = appendTLS(b, cs)
	}
	b = append(b, `},"upstream_uri":"`...)
	// An aggregation's calls each had a URI of their own: none is the
	// upstream's.
	if len(r.Attempts) > 0 && !r.Aggregated() {
		b = appendURI(b, c.Path, c.RawQuery, c.RawQuery != "", c.RawQuery != "" && secretArg(c.RawQuery, c), c)
	}
	b = append(b, `","upstream_status":"`...)
	b = appendUpstreamStatus(b, r)
	b = append(b, `","response":{"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"headers":`...)
	b, respHeaders := appendHeaders(b, c.Resp.Header, "", c, nil)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, responseSize(respHeaders, r), 10)
	b = append(b, `},"latencies":`...)
	b = appendLatencies(b, r)
	b = appendTries(b, r)
	if c.Consumer != nil {
		if c.Credential != "" {
			b = append(b, `,"authenticated_entity":{"id":`...)
			b = jsonw.AppendString(b, c.Credential)
			b = append(b, `,"consumer_id":`...)
			b = jsonw.AppendString(b, c.Consumer.ID)
			b = append(b, '}')
		}
		b = append(b, `,"consumer":{"id":`...)
		b = jsonw.AppendString(b, c.Consumer.ID)
		if c.Consumer.Username != "" {
			b = append(b, `,"username":`...)
			b = jsonw.AppendString(b, c.Consumer.Username)
		}
		if c.Consumer.CustomID != "" {
			b = append(b, `,"custom_id":`...)
			b = jsonw.AppendString(b, c.Consumer.CustomID)
		}
		b = append(b, '}')
	}
	if c.Route != nil && c.Route.Entity != nil {
		b = append(b, `,"route":`...)
		b = append(b, c.Route.Entity.Bytes()...)
	}
	if c.Service != nil && c.Service.Entity != nil {
		b = append(b, `,"service":`...)
		b = append(b, c.Service.Entity.Bytes()...)
	}
	if r.TraceID != "" {
		b = append(b, `,"trace_id":{"w3c":`...)
		b = jsonw.AppendString(b, r.TraceID)
		b = append(b, '}')
	}
	b = append(b, `,"client_ip":`...)
	b = jsonw.AppendString(b, r.ClientIP)
	b = append(b, `,"started_at":`...)
	b = strconv.AppendInt(b, r.Time.UnixMilli(), 10)
	b = append(b, `,"source":`...)
	if r.Source == record.SourceUpstream {
		b = append(b, `"upstream"`...)
	} else {
		b = append(b, `"kong"`...)
	}
	b = append(b, `,"workspace":"`+kongWorkspaceID+`","workspace_name":"default"`...)
	for _, v := range c.LogValues() {
		b = append(b, ',')
		b = jsonw.AppendString(b, v.Key)
		b = append(b, ':')
		b = jsonw.AppendString(b, v.Value)
	}
	return append(b, '}')
}

// appendURI writes path?query inside a JSON string; with redact (the
// query holds the request's credential: secretArg), the value of the
// argument that carries it is replaced by plugin.Redacted.
func appendURI(b []byte, path, query string, hasQuery, redact bool, c *plugin.Ctx) []byte {
	b = jsonw.AppendInner(b, path)
	if !hasQuery {
		return b
	}
	b = append(b, '?')
	if !redact {
		return jsonw.AppendInner(b, query)
	}
	first := true
	for arg := range strings.SplitSeq(query, "&") {
		if !first {
			b = append(b, '&')
		}
		first = false
		name, _, hasValue := strings.Cut(arg, "=")
		if hasValue && c.SecretQuery(plugin.UnescapeArg(name)) {
			b = jsonw.AppendInner(b, name)
			b = append(b, "="+plugin.Redacted...)
			continue
		}
		b = jsonw.AppendInner(b, arg)
	}
	return b
}

// secretArg reports whether one of query's arguments carries the
// request's credential.
func secretArg(query string, c *plugin.Ctx) bool {
	for arg := range strings.SplitSeq(query, "&") {
		name, _, _ := strings.Cut(arg, "=")
		if c.SecretQuery(plugin.UnescapeArg(name)) {
			return true
		}
	}
	return false
}

// appendURL writes the scheme://host:port part of Kong's request.url
// (the URI follows) inside a JSON string; the port is the listener's.
func appendURL(b []byte, c *plugin.Ctx, r *record.Record) []byte {
	b = append(b, c.Scheme...)
	b = append(b, "://"...)
	b = jsonw.AppendInner(b, plugin.HostOnly(r.Host))
	if addr, ok := c.Req.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(addr.Port), 10)
	}
	return b
}

// queryArg is one argument of a query string, decoded.
type queryArg struct {
	name, value string
	// flag is an argument without '=' (Kong's true).
	flag bool
}

// appendQuery writes the client's query arguments as Kong's
// kong.request.get_query() gives them: a name without '=' is true, a
// repeated name an array; within the map bounds.
func appendQuery(b []byte, c *plugin.Ctx) []byte {
	if c.Req.URL.RawQuery == "" {
		// Most requests have none: skip zeroing the parse array.
		return append(b, "{}"...)
	}
	var parsed [MaxMapEntries]queryArg
	n := 0
	for arg := range strings.SplitSeq(c.Req.URL.RawQuery, "&") {
		if arg == "" {
			continue
		}
		if n == len(parsed) {
			break
		}
		name, value, hasValue := strings.Cut(arg, "=")
		parsed[n] = queryArg{name: plugin.UnescapeArg(name), value: plugin.UnescapeArg(value), flag: !hasValue}
		n++
	}
	args := parsed[:n]
	start := len(b)
	b = append(b, '{')
outer:
	for i := range args {
		a := &args[i]
		for j := range i {
			if args[j].name == a.name {
				continue outer
			}
		}
		count := 0
		for j := i; j < len(args); j++ {
			if args[j].name == a.name {
				count++
			}
		}
		mark := len(b)
		if mark > start+1 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, a.name)
		b = append(b, ':')
		secret := c.SecretQuery(a.name)
		if count > 1 {
			b = append(b, '[')
		}
		for j, k := i, 0; j < len(args); j++ {
			if args[j].name != a.name {
				continue
			}
			if k > 0 {
				b = append(b, ',')
			}
			k++
			b = appendArgValue(b, &args[j], secret)
		}
		if count > 1 {
			b = append(b, ']')
		}
		if len(b)-start > MaxMapBytes {
			b = b[:mark]
			break
		}
	}
	return append(b, '}')
}

func appendArgValue(b []byte, a *queryArg, secret bool) []byte {
	switch {
	case a.flag:
		return append(b, "true"...)
	case secret:
		return append(b, `"`+plugin.Redacted+`"`...)
	}
	return jsonw.AppendString(b, a.value)
}

// appendHeaders writes h as Kong's get_headers() gives it: names in
// lower case, a repeated header an array, credentials redacted; host,
// when set, first (Go keeps it out of the map); within the map bounds.
// It returns h's plugin.HeaderSize too, counted on the same pass; the
// skipped headers are left out of both, so that request.size is the
// client's request, as the headers are.
func appendHeaders(b []byte, h http.Header, host string, c *plugin.Ctx, skip []string) ([]byte, int64) {
	start := len(b)
	b = append(b, '{')
	n := 0
	if host != "" {
		b = append(b, `"host":`...)
		b = jsonw.AppendString(b, host)
		n++
	}
	headerSize := int64(2)
	full := false
	for name, vals := range h {
		if slices.Contains(skip, name) {
			continue
		}
		size := 0
		for _, v := range vals {
			size += len(v)
		}
		headerSize += int64(size + len(vals)*(len(name)+4))
		size += len(name)
		if full || n == MaxMapEntries || len(vals) == 0 {
			continue
		}
		// Raw bytes are fewer than escaped ones: a header that cannot
		// fit is not written at all, so one huge header does not grow
		// the buffer (which the queue counts whole).
		mark := len(b)
		if mark-start+size > MaxMapBytes {
			full = true
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		nameAt := len(b)
		b = jsonw.AppendString(b, name)
		jsonw.LowerASCII(b[nameAt:])
		b = append(b, ':')
		switch {
		case c.SecretHeader(name):
			b = append(b, `"`+plugin.Redacted+`"`...)
		case len(vals) == 1:
			b = jsonw.AppendString(b, vals[0])
		default:
			b = append(b, '[')
			for i, v := range vals {
				if i > 0 {
					b = append(b, ',')
				}
				b = jsonw.AppendString(b, v)
			}
			b = append(b, ']')
		}
		if len(b)-start > MaxMapBytes {
			b = b[:mark]
			full = true
		}
	}
	return append(b, '}'), headerSize
}

// responseSize is Kong's response.size (NGINX's $bytes_sent): status
// line, headers (headerSize, their plugin.HeaderSize) and body, counted
// as HTTP/1.1 frames them.
func responseSize(headerSize int64, r *record.Record) int64 {
	return int64(len("HTTP/1.1 200 \r\n")+len(http.StatusText(r.Status))) + headerSize + r.BytesSent
}

func appendTLS(b []byte, cs *tls.ConnectionState) []byte {
	b = append(b, `,"tls":{"version":"`...)
	switch cs.Version {
	case tls.VersionTLS10:
		b = append(b, "TLSv1"...)
	case tls.VersionTLS11:
		b = append(b, "TLSv1.1"...)
	case tls.VersionTLS12:
		b = append(b, "TLSv1.2"...)
	default:
		b = append(b, "TLSv1.3"...)
	}
	b = append(b, `","cipher":"`...)
	b = append(b, tls.CipherSuiteName(cs.CipherSuite)...)
	b = append(b, `","client_verify":"`...)
	switch {
	case len(cs.PeerCertificates) == 0:
		b = append(b, "NONE"...)
	case len(cs.VerifiedChains) > 0:
		b = append(b, "SUCCESS"...)
	default:
		b = append(b, "FAILED:unverified"...)
	}
	return append(b, `"}`...)
}

// appendUpstreamStatus writes NGINX's $upstream_status: each attempt's
// status, 502 for one that got no response, 504 for one that timed out.
func appendUpstreamStatus(b []byte, r *record.Record) []byte {
	for i := range r.Attempts {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(b, int64(r.Attempts[i].Code()), 10)
	}
	return b
}

// appendLatencies writes Kong's latencies in whole milliseconds: proxy is
// the answering attempt's time to its response head (-1 when none
// answered), receive the time its body took, kong the rest.
func appendLatencies(b []byte, r *record.Record) []byte {
	request := r.Latency.Milliseconds()
	proxy, receive := int64(-1), int64(0)
	kong := request
	if a := r.Answer(); a != nil {
		proxy = a.Head.Milliseconds()
		if a.End > a.Head {
			receive = (a.End - a.Head).Milliseconds()
		}
		kong = max(request-proxy-receive, 0)
	}
	b = append(b, `{"kong":`...)
	b = strconv.AppendInt(b, kong, 10)
	b = append(b, `,"proxy":`...)
	b = strconv.AppendInt(b, proxy, 10)
	b = append(b, `,"request":`...)
	b = strconv.AppendInt(b, request, 10)
	b = append(b, `,"receive":`...)
	b = strconv.AppendInt(b, receive, 10)
	return append(b, '}')
}

// appendTries writes Kong's tries, one per upstream attempt (absent when
// there was none): a try whose response did not go to the client has
// Kong's state ("next" after a retryable status, "failed" otherwise) and
// code. An aggregation's calls each name their call; a call answered with
// a 2xx is no failure though no one answer went to the client.
func appendTries(b []byte, r *record.Record) []byte {
	if len(r.Attempts) == 0 {
		return b
	}
	b = append(b, `,"tries":[`...)
	for i := range r.Attempts {
		a := &r.Attempts[i]
		if i > 0 {
			b = append(b, ',')
		}
		host, port, err := net.SplitHostPort(a.Target)
		if err != nil {
			host, port = a.Target, "0"
		}
		b = append(b, `{"ip":`...)
		b = jsonw.AppendString(b, host)
		b = append(b, `,"port":`...)
		b = appendPort(b, port)
		b = append(b, `,"balancer_start":`...)
		b = strconv.AppendInt(b, r.Time.Add(a.Start).UnixMilli(), 10)
		b = append(b, `,"balancer_latency":0`...)
		if a.Call != "" {
			b = append(b, `,"call":`...)
			b = jsonw.AppendString(b, a.Call)
		}
		if i+1 != r.Answered && !(a.Call != "" && callSucceeded(a)) {
			b = append(b, `,"state":"`...)
			if a.Outcome == record.OutcomeStatus {
				b = append(b, "next"...)
			} else {
				b = append(b, "failed"...)
			}
			b = append(b, `","code":`...)
			b = strconv.AppendInt(b, int64(a.Code()), 10)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendPort(b []byte, port string) []byte {
	p, err := strconv.Atoi(port)
	if err != nil {
		p = 0
	}
	return strconv.AppendInt(b, int64(p), 10)
}

// callSucceeded tells an aggregation call that got a 2xx answer.
func callSucceeded(a *record.Attempt) bool {
	return a.Outcome == record.OutcomeResponse && a.Status >= 200 && a.Status <= 299
}
