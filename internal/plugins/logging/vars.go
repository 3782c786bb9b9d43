package logging

import (
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
)

// varKind is one variable a format may name.
type varKind uint8

const (
	varRequestURI varKind = iota
	varRequestMethod
	varRequestLength
	varStatus
	varResponseLength
	varRequestTime
	varUpstreamConnectTime
	varRemoteAddr
	varHost
	varURI
	varArgs
	varHTTP
	varSentHTTP
	varUpstreamAddr
	varUpstreamStatus
	varUpstreamResponseTime
	varRequestID
	varTimeISO8601
	varConsumer
	varRoute
	varService
	varTraceID
)

// variables are the names a format may use, but for the $http_ and
// $sent_http_ families.
var variables = map[string]varKind{
	"request_uri":               varRequestURI,
	"request_method":            varRequestMethod,
	"request_length":            varRequestLength,
	"status":                    varStatus,
	"response_length":           varResponseLength,
	"request_time_ms":           varRequestTime,
	"upstream_connect_time_ms":  varUpstreamConnectTime,
	"remote_addr":               varRemoteAddr,
	"host":                      varHost,
	"uri":                       varURI,
	"args":                      varArgs,
	"upstream_addr":             varUpstreamAddr,
	"upstream_status":           varUpstreamStatus,
	"upstream_response_time_ms": varUpstreamResponseTime,
	"request_id":                varRequestID,
	"time_iso8601":              varTimeISO8601,
	"consumer":                  varConsumer,
	"route":                     varRoute,
	"service":                   varService,
	"trace_id":                  varTraceID,
}

// numeric reports whether k is a number: a leaf that is k alone is
// written as a JSON number (null when there is none).
func (k varKind) numeric() bool {
	switch k {
	case varRequestLength, varStatus, varResponseLength, varRequestTime,
		varUpstreamConnectTime, varUpstreamStatus, varUpstreamResponseTime:
		return true
	}
	return false
}

// variable is a compiled reference: its kind and, for the header
// families, the header's canonical key.
type variable struct {
	kind   varKind
	header string
}

// lookupVariable resolves a variable name (without '$'), in any case as
// NGINX does.
func lookupVariable(name string) (variable, bool) {
	name = strings.ToLower(name)
	if k, ok := variables[name]; ok {
		return variable{kind: k}, true
	}
	for _, fam := range [...]struct {
		prefix string
		kind   varKind
	}{{"sent_http_", varSentHTTP}, {"http_", varHTTP}} {
		if h, ok := strings.CutPrefix(name, fam.prefix); ok && h != "" {
			// NGINX's $http_user_agent is the header User-Agent.
			key := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(h, "_", "-"))
			return variable{kind: fam.kind, header: key}, true
		}
	}
	return variable{}, false
}

// appendNumber appends a numeric variable's value; ok is false when the
// request has none (no upstream attempt).
func (v *variable) appendNumber(b []byte, c *plugin.Ctx) (_ []byte, ok bool) {
	r := c.Record
	switch v.kind {
	case varRequestLength:
		return strconv.AppendInt(b, c.RequestSize(), 10), true
	case varStatus:
		return strconv.AppendInt(b, int64(r.Status), 10), true
	case varResponseLength:
		return strconv.AppendInt(b, r.BytesSent, 10), true
	case varRequestTime:
		return appendMillis(b, r.Latency), true
	}
	a := attempt(r)
	if a == nil {
		return b, false
	}
	switch v.kind {
	case varUpstreamConnectTime:
		return appendMillis(b, a.Connected), true
	case varUpstreamStatus:
		if a.Status == 0 {
			return b, false
		}
		return strconv.AppendInt(b, int64(a.Status), 10), true
	default: // varUpstreamResponseTime
		d := a.End
		if d == 0 {
			d = a.Latency()
		}
		return appendMillis(b, d), true
	}
}

// attempt is the attempt whose response went to the client, else the
// last one tried; nil when the request reached no upstream.
func attempt(r *record.Record) *record.Attempt {
	if a := r.Answer(); a != nil {
		return a
	}
	if n := len(r.Attempts); n > 0 {
		return &r.Attempts[n-1]
	}
	return nil
}

// appendMillis writes d in milliseconds with microsecond precision, as
// the access log does.
func appendMillis(b []byte, d time.Duration) []byte {
	return strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', -1, 64)
}

// appendText appends a text variable's value, JSON-escaped without the
// quotes (the format's literal bytes hold them), credentials redacted.
func (v *variable) appendText(b []byte, c *plugin.Ctx) []byte {
	r := c.Record
	switch v.kind {
	case varRequestURI:
		path, query, hasQuery := strings.Cut(r.URI, "?")
		b = jsonw.AppendInner(b, path)
		if hasQuery {
			b = appendQuery(append(b, '?'), query, c)
		}
		return b
	case varRequestMethod:
		return jsonw.AppendInner(b, r.Method)
	case varRemoteAddr:
		return jsonw.AppendInner(b, r.ClientIP)
	case varHost:
		start := len(b)
		b = jsonw.AppendInner(b, plugin.HostOnly(r.Host))
		jsonw.LowerASCII(b[start:])
		return b
	case varURI:
		return jsonw.AppendInner(b, c.ClientPath)
	case varArgs:
		if c.Req == nil {
			return b
		}
		return appendQuery(b, c.Req.URL.RawQuery, c)
	case varHTTP:
		if c.Req == nil {
			return b
		}
		return appendHeader(b, c.Req.Header, v.header, c)
	case varSentHTTP:
		return appendHeader(b, c.Resp.Header, v.header, c)
	case varUpstreamAddr:
		if a := attempt(r); a != nil {
			b = jsonw.AppendInner(b, a.Target)
		}
		return b
	case varRequestID:
		return jsonw.AppendInner(b, r.RequestID)
	case varTimeISO8601:
		return r.Time.AppendFormat(b, "2006-01-02T15:04:05-07:00")
	case varConsumer:
		if p := c.Consumer; p != nil {
			b = jsonw.AppendInner(b, firstSet(p.Username, p.CustomID, p.ID))
		}
		return b
	case varRoute:
		if p := c.Route; p != nil {
			b = jsonw.AppendInner(b, firstSet(p.Name, p.ID))
		}
		return b
	case varService:
		if p := c.Service; p != nil {
			b = jsonw.AppendInner(b, firstSet(p.Name, p.ID))
		}
		return b
	case varTraceID:
		return jsonw.AppendInner(b, r.TraceID)
	}
	// A numeric variable inside text: its digits, nothing when absent.
	b, _ = v.appendNumber(b, c)
	return b
}

func firstSet(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// appendHeader writes the values of header key, joined by ", " as NGINX
// does, or Redacted when they carry a credential.
func appendHeader(b []byte, h http.Header, key string, c *plugin.Ctx) []byte {
	vs := h[key]
	if len(vs) == 0 {
		return b
	}
	if c.SecretHeader(key) {
		return append(b, plugin.Redacted...)
	}
	for i, s := range vs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = jsonw.AppendInner(b, s)
	}
	return b
}

// appendQuery writes a query string with the value of the argument that
// carried the request's credential (key-auth's key) redacted.
func appendQuery(b []byte, q string, c *plugin.Ctx) []byte {
	for i := 0; q != ""; i++ {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if i > 0 {
			b = append(b, '&')
		}
		name, _, hasValue := strings.Cut(pair, "=")
		if hasValue && c.SecretQuery(plugin.UnescapeArg(name)) {
			b = jsonw.AppendInner(b, name)
			b = append(b, '=')
			b = append(b, plugin.Redacted...)
			continue
		}
		b = jsonw.AppendInner(b, pair)
	}
	return b
}
