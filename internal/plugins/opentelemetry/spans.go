package opentelemetry

import (
	"net"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
)

// Span names: Kong's, so that queries written for Kong's traces find
// Turnpike's. The server span alone is named by the HTTP semantic
// conventions ("GET /users", the route's path, never the request's).
const (
	spanRouter   = "kong.router"
	spanBalancer = "kong.balancer"
)

// knownMethods are the methods the semantic conventions name; others
// are _OTHER, so a client cannot make span names of its own.
var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true,
}

// Attributes per span at most: the server span's, then an attempt's.
const (
	rootAttrs    = 14
	attemptAttrs = 6
	callAttrs    = 4
)

// spans builds the request's spans from its record (the server span, the
// routing, each plugin's access and header filter runs, each upstream
// attempt and each call) with the record's times, and queues them. They
// share one slice and one attribute array: a few allocations a request.
func (in *Instance) spans(c *plugin.Ctx, st *traceState) {
	rec := c.Record
	t0 := rec.Time
	n := 1 + len(rec.Attempts) + len(rec.Calls())
	if rec.Routed > 0 {
		n++
	}
	for _, p := range rec.Plugins() {
		if traced(p.Phase) {
			n++
		}
	}
	spans := make([]span, n)
	attrs := make([]attribute.KeyValue, 0, rootAttrs+attemptAttrs*len(rec.Attempts)+callAttrs*len(rec.Calls()))

	root := &spans[0]
	root.sc = trace.NewSpanContext(trace.SpanContextConfig{TraceID: st.traceID, SpanID: st.rootID, TraceFlags: trace.FlagsSampled})
	if p := &st.parent; p.hasTrace() && p.spanID != ([8]byte{}) {
		ts, _ := trace.ParseTraceState(p.state)
		root.parent = trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: st.traceID, SpanID: p.spanID, TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true,
		})
		root.sc = root.sc.WithTraceState(ts)
	}
	root.name, root.kind, root.start, root.end = serverName(rec), trace.SpanKindServer, t0, t0.Add(rec.Latency)
	attrs = appendServerAttrs(attrs, c, rec)
	root.attrs, attrs = attrs[:len(attrs):len(attrs)], attrs[len(attrs):]
	if rec.Status >= 500 {
		root.status = sdktrace.Status{Code: codes.Error, Description: rec.Error}
	}

	i := 1
	child := func(name string, kind trace.SpanKind, start, end time.Duration) *span {
		s := &spans[i]
		i++
		s.name, s.kind, s.start, s.end, s.parent = name, kind, t0.Add(start), t0.Add(end), root.sc
		var id [8]byte
		randomID(id[:])
		s.sc = trace.NewSpanContext(trace.SpanContextConfig{TraceID: st.traceID, SpanID: id, TraceFlags: trace.FlagsSampled})
		return s
	}
	if rec.Routed > 0 {
		child(spanRouter, trace.SpanKindInternal, 0, rec.Routed)
	}
	for _, p := range rec.Plugins() {
		if traced(p.Phase) {
			child(in.spanName(p.Phase, p.Plugin), trace.SpanKindInternal, p.Start, p.Start+p.Duration)
		}
	}
	for j := range rec.Attempts {
		a := &rec.Attempts[j]
		s := child(spanBalancer, trace.SpanKindClient, a.Start, a.Start+attemptEnd(rec, a))
		if j == len(rec.Attempts)-1 {
			// The span the upstream was told is its parent.
			s.sc = s.sc.WithSpanID(st.upstreamID)
		}
		attrs = append(attrs, attribute.Int("try_count", j+1), attribute.String("turnpike.upstream.outcome", a.Outcome))
		attrs = appendPeer(attrs, a.Target)
		if j > 0 {
			attrs = append(attrs, attribute.Int("http.request.resend_count", j))
		}
		if a.Status != 0 {
			attrs = append(attrs, attribute.Int("http.response.status_code", a.Status))
		}
		s.attrs, attrs = attrs[:len(attrs):len(attrs)], attrs[len(attrs):]
		if a.Outcome != record.OutcomeResponse || a.Status >= 500 {
			s.status = sdktrace.Status{Code: codes.Error, Description: a.Outcome}
		}
	}
	for _, cl := range rec.Calls() {
		s := child(cl.Kind+" "+cl.Name, trace.SpanKindClient, cl.Start, cl.Start+cl.Duration)
		if cl.Kind == "redis" {
			attrs = append(attrs, attribute.String("db.system.name", "redis"), attribute.String("db.operation.name", cl.Name))
		}
		attrs = appendPeer(attrs, cl.Target)
		s.attrs, attrs = attrs[:len(attrs):len(attrs)], attrs[len(attrs):]
		if cl.Err {
			s.status = sdktrace.Status{Code: codes.Error}
		}
	}
	for k := range spans {
		spans[k].res = in.res
		in.q.push(&spans[k])
	}
}

// traced tells the phases whose plugin runs get a span: a body filter's
// time is that of wrapping the body, and the log phase runs after the
// response is out.
func traced(p record.Phase) bool { return p == record.PhaseAccess || p == record.PhaseHeaderFilter }

// attemptEnd is when an attempt ended, counted from its start.
func attemptEnd(rec *record.Record, a *record.Attempt) time.Duration {
	if a.End > 0 {
		return a.End
	}
	if l := a.Latency(); l > 0 {
		return l
	}
	return max(rec.Latency-a.Start, 0)
}

func serverName(rec *record.Record) string {
	method := rec.Method
	if !knownMethods[method] {
		method = "HTTP"
	}
	if rec.RoutePath == "" {
		return method
	}
	return method + " " + rec.RoutePath
}

func appendServerAttrs(attrs []attribute.KeyValue, c *plugin.Ctx, rec *record.Record) []attribute.KeyValue {
	method := rec.Method
	if !knownMethods[method] {
		method = "_OTHER"
	}
	attrs = append(attrs,
		attribute.String("http.request.method", method),
		attribute.String("url.path", urlPath(c, rec)),
		attribute.String("url.scheme", scheme(c)),
		attribute.String("server.address", hostOnly(rec.Host)),
		attribute.String("client.address", c.ForwardedIP),
		attribute.String("network.peer.address", rec.ClientIP),
		attribute.String("network.protocol.version", strings.TrimPrefix(rec.Proto, "HTTP/")),
		attribute.String("kong.request.id", rec.RequestID),
		attribute.Int("http.response.status_code", rec.Status),
	)
	for _, a := range [...]struct{ k, v string }{
		{"user_agent.original", rec.UserAgent}, {"http.route", rec.RoutePath},
		{"turnpike.route", rec.Route}, {"turnpike.service", rec.Service}, {"turnpike.consumer", rec.Consumer},
	} {
		if a.v != "" {
			attrs = append(attrs, attribute.String(a.k, a.v))
		}
	}
	return attrs
}

// appendPeer adds server.address and server.port of a host:port.
func appendPeer(attrs []attribute.KeyValue, target string) []attribute.KeyValue {
	if target == "" {
		return attrs
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return append(attrs, attribute.String("server.address", target))
	}
	attrs = append(attrs, attribute.String("server.address", host))
	if n, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int("server.port", n))
	}
	return attrs
}

// urlPath is the client's path without the query string, which may
// carry a credential (key-auth's query key).
func urlPath(c *plugin.Ctx, rec *record.Record) string {
	if c.ClientPath != "" {
		return c.ClientPath
	}
	p, _, _ := strings.Cut(rec.URI, "?")
	return p
}

func scheme(c *plugin.Ctx) string {
	if c.Scheme == "" {
		return "http"
	}
	return c.Scheme
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}
