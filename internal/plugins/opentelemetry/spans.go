package opentelemetry

import (
	"context"
	"net"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
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

// spans builds the request's spans from its record: the server span,
// the routing, each plugin's access and header filter runs, each
// upstream attempt and each call (Redis), with the record's times.
func (in *Instance) spans(c *plugin.Ctx, st *traceState) {
	rec := c.Record
	t0 := rec.Time
	ctx := context.Background()
	if p := &st.parent; p.hasTrace() && p.spanID != ([8]byte{}) {
		ts, _ := trace.ParseTraceState(p.state)
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: st.traceID, SpanID: p.spanID, TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true,
		}))
	}
	ctx = context.WithValue(ctx, fixedIDsKey{}, &fixedIDs{trace: st.traceID, span: st.rootID})

	method, name := rec.Method, rec.Method
	if !knownMethods[method] {
		method, name = "_OTHER", "HTTP"
	}
	if rec.RoutePath != "" {
		name += " " + rec.RoutePath
	}
	attrs := make([]attribute.KeyValue, 0, 16)
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
	_, root := in.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(t0),
		trace.WithAttributes(attrs...))
	if rec.Status >= 500 {
		root.SetStatus(codes.Error, rec.Error)
	}
	child := trace.ContextWithSpan(context.Background(), root)

	if rec.Routed > 0 {
		_, s := in.tracer.Start(child, spanRouter, trace.WithTimestamp(t0))
		s.End(trace.WithTimestamp(t0.Add(rec.Routed)))
	}
	for _, p := range rec.Plugins() {
		if p.Phase != record.PhaseAccess && p.Phase != record.PhaseHeaderFilter {
			continue
		}
		_, s := in.tracer.Start(child, in.spanName(p.Phase.String(), p.Plugin), at(t0, p.Start))
		s.End(trace.WithTimestamp(t0.Add(p.Start + p.Duration)))
	}
	in.attemptSpans(child, rec, st)
	in.callSpans(child, rec)
	root.End(trace.WithTimestamp(t0.Add(rec.Latency)))
}

// attemptSpans makes one client span per upstream attempt; the last
// carries the span id the upstream was told is its parent.
func (in *Instance) attemptSpans(child context.Context, rec *record.Record, st *traceState) {
	t0 := rec.Time
	for i := range rec.Attempts {
		a := &rec.Attempts[i]
		ctx := child
		if i == len(rec.Attempts)-1 {
			ctx = context.WithValue(child, fixedIDsKey{}, &fixedIDs{trace: st.traceID, span: st.upstreamID})
		}
		attrs := make([]attribute.KeyValue, 0, 7)
		attrs = append(attrs, attribute.Int("try_count", i+1), attribute.String("turnpike.upstream.outcome", a.Outcome))
		attrs = appendPeer(attrs, a.Target)
		if i > 0 {
			attrs = append(attrs, attribute.Int("http.request.resend_count", i))
		}
		if a.Status != 0 {
			attrs = append(attrs, attribute.Int("http.response.status_code", a.Status))
		}
		_, s := in.tracer.Start(ctx, spanBalancer, trace.WithSpanKind(trace.SpanKindClient), at(t0, a.Start),
			trace.WithAttributes(attrs...))
		if a.Outcome != record.OutcomeResponse || a.Status >= 500 {
			s.SetStatus(codes.Error, a.Outcome)
		}
		end := a.End
		if end == 0 {
			end = a.Latency()
		}
		if end == 0 {
			end = max(rec.Latency-a.Start, 0)
		}
		s.End(trace.WithTimestamp(t0.Add(a.Start + end)))
	}
}

// callSpans makes one client span per call the request waited for.
func (in *Instance) callSpans(child context.Context, rec *record.Record) {
	t0 := rec.Time
	for _, cl := range rec.Calls() {
		attrs := make([]attribute.KeyValue, 0, 4)
		if cl.Kind == "redis" {
			attrs = append(attrs, attribute.String("db.system.name", "redis"), attribute.String("db.operation.name", cl.Name))
		}
		attrs = appendPeer(attrs, cl.Target)
		_, s := in.tracer.Start(child, cl.Kind+" "+cl.Name, trace.WithSpanKind(trace.SpanKindClient), at(t0, cl.Start),
			trace.WithAttributes(attrs...))
		if cl.Err {
			s.SetStatus(codes.Error, "")
		}
		s.End(trace.WithTimestamp(t0.Add(cl.Start + cl.Duration)))
	}
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
