package opentelemetry

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/tracing"
	"github.com/turnpikegw/turnpike/internal/record"
)

// Span names: Kong's, so that queries written for Kong's traces find
// Turnpike's. The server span alone is named by the HTTP semantic
// conventions ("GET /users", the route's path, never the request's).
const (
	spanRouter   = "kong.router"
	spanBalancer = "kong.balancer"
	// spanAggregate and the call's name name an aggregation call's span.
	spanAggregate = "aggregate"
)

// knownMethods are the methods the semantic conventions name; others
// are _OTHER, so a client cannot make span names of its own.
var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true,
}

// Span kinds, as OTLP numbers them.
const (
	kindInternal = 1
	kindServer   = 2
	kindClient   = 3
)

// spanChunk is a request's spans, encoded: n complete ScopeSpans.spans
// fields, queued as n entries.
type spanChunk struct {
	b []byte
	n int
}

func chunkSize(c *spanChunk) int { return c.n }

// chunks are the buffers of sent spans, for the next requests: most of
// what a sampled request allocates otherwise. A chunk dropped from the
// queue is left to the collector.
var chunks = sync.Pool{New: func() any { return new(spanChunk) }}

// maxPooledChunk is the largest buffer kept: one request with long
// values does not hold its memory in the pool.
const maxPooledChunk = 16 << 10

// release returns sent chunks to the pool.
func release(sent []*spanChunk) {
	for _, c := range sent {
		if cap(c.b) <= maxPooledChunk {
			c.b, c.n = c.b[:0], 0
			chunks.Put(c)
		}
	}
}

// spans encodes the request's spans from its record (the server span,
// the routing, each plugin's access and header filter runs, each
// upstream attempt and each call) with the record's times, and queues
// them, written to a pooled buffer.
func (in *Instance) spans(c *plugin.Ctx, st *traceState) {
	rec := c.Record
	t0 := rec.Time.UnixNano()
	plugins := rec.Plugins()
	// Room for the spans as they usually are, so that the buffer is not
	// grown: a span's fixed fields, an attribute's, and the long values.
	n := 2 + len(plugins) + len(rec.Attempts) + len(rec.Calls())
	attrs := 14 + 5*len(rec.Attempts) + 4*len(rec.Calls())
	size := 96*n + 32*attrs + len(rec.URI) + len(rec.UserAgent) + len(rec.Host) + len(rec.RoutePath) + len(rec.Error)
	chunk := chunks.Get().(*spanChunk)
	b := chunk.b[:0]
	if cap(b) < size {
		b = make([]byte, 0, size)
	}

	w := spanWriter{traceID: &st.TraceID, parentID: &st.rootID, t0: t0}
	var parentID [8]byte
	flags := uint32(flagHasIsRemote | 1)
	traceState := ""
	if p := &st.parent; p.HasTrace() && p.SpanID != ([8]byte{}) {
		parentID, flags = p.SpanID, flags|flagIsRemote
		if p.State != "" {
			ts, _ := trace.ParseTraceState(p.State)
			traceState = ts.String()
		}
	}
	method := rec.Method
	if !knownMethods[method] {
		method = "HTTP"
	}
	b, m := w.open(b, &st.rootID, &parentID, flags, traceState, method, rec.RoutePath, kindServer, 0, rec.Latency)
	b = appendServerAttrs(b, c, rec)
	if rec.Status >= 500 {
		b = appendStatus(b, rec.Error)
	} else {
		b = appendStatusUnset(b)
	}
	b = closeMsg(b, m, fSSSpans)
	count := 1

	if rec.Routed > 0 {
		b = w.child(b, spanRouter, "", kindInternal, 0, rec.Routed)
		count++
	}
	for _, p := range plugins {
		if traced(p.Phase) {
			b = w.child(b, in.spanName(p.Phase, p.Plugin), "", kindInternal, p.Start, p.Start+p.Duration)
			count++
		}
	}
	for j := range rec.Attempts {
		b = w.attempt(b, rec, j, st)
		count++
	}
	for _, cl := range rec.Calls() {
		var id [8]byte
		tracing.RandomID(id[:])
		b, m = w.open(b, &id, w.parentID, flagHasIsRemote|1, "", cl.Kind, cl.Name, kindClient, cl.Start, cl.Start+cl.Duration)
		if cl.Kind == "redis" {
			b = appendStrAttr(b, fSpanAttributes, "db.system.name", "redis")
			b = appendStrAttr(b, fSpanAttributes, "db.operation.name", cl.Name)
		}
		b = appendPeer(b, cl.Target)
		if cl.Err {
			b = appendStatus(b, "")
		} else {
			b = appendStatusUnset(b)
		}
		b = closeMsg(b, m, fSSSpans)
		count++
	}
	chunk.b, chunk.n = b, count
	in.q.push(chunk)
}

// spanWriter writes the spans of one trace.
type spanWriter struct {
	traceID  *[16]byte
	parentID *[8]byte // the server span's, every other span's parent
	t0       int64    // the request's start, unix ns
}

// open starts a span: its ids, its name (name, then " "+sub when sub is
// given), kind, times (from the request's start) and flags. Attributes
// and a status follow; closeMsg(b, start, fSSSpans) ends it.
func (w *spanWriter) open(b []byte, id, parent *[8]byte, flags uint32, traceState, name, sub string, kind int,
	start, end time.Duration) ([]byte, int) {
	b, m := openMsg(b)
	b = appendBytes(b, fSpanTraceID, w.traceID[:])
	b = appendBytes(b, fSpanSpanID, id[:])
	if traceState != "" {
		b = appendString(b, fSpanTraceState, traceState)
	}
	if *parent != ([8]byte{}) {
		b = appendBytes(b, fSpanParentID, parent[:])
	}
	b = appendVarint(b, tag(fSpanName, wireLen))
	if sub == "" {
		b = appendVarint(b, uint64(len(name)))
		b = append(b, name...)
	} else {
		b = appendVarint(b, uint64(len(name)+1+len(sub)))
		b = append(append(append(b, name...), ' '), sub...)
	}
	b = append(b, byte(tag(fSpanKind, wireVarint)), byte(kind))
	b = append(b, byte(tag(fSpanStart, wireI64)))
	b = appendFixed64(b, unixNano(w.t0, start))
	b = append(b, byte(tag(fSpanEnd, wireI64)))
	b = appendFixed64(b, unixNano(w.t0, end))
	b = appendVarint(b, tag(fSpanFlags, wireI32))
	return appendFixed32(b, flags), m
}

// child writes a span without attributes under the server span.
func (w *spanWriter) child(b []byte, name, sub string, kind int, start, end time.Duration) []byte {
	var id [8]byte
	tracing.RandomID(id[:])
	b, m := w.open(b, &id, w.parentID, flagHasIsRemote|1, "", name, sub, kind, start, end)
	return closeMsg(appendStatusUnset(b), m, fSSSpans)
}

// attempt writes the span of upstream attempt j.
func (w *spanWriter) attempt(b []byte, rec *record.Record, j int, st *traceState) []byte {
	a := &rec.Attempts[j]
	var id [8]byte
	if j == len(rec.Attempts)-1 && a.Call == "" {
		// The span the upstream was told is its parent.
		id = st.upstreamID
	} else {
		tracing.RandomID(id[:])
	}
	end := a.Start + attemptEnd(rec, a)
	var m int
	if a.Call != "" {
		// An aggregation's calls are no retries of one another: each
		// span is named for its call.
		b, m = w.open(b, &id, w.parentID, flagHasIsRemote|1, "", spanAggregate, a.Call, kindClient, a.Start, end)
		b = appendStrAttr(b, fSpanAttributes, "turnpike.aggregate.call", a.Call)
	} else {
		b, m = w.open(b, &id, w.parentID, flagHasIsRemote|1, "", spanBalancer, "", kindClient, a.Start, end)
		b = appendIntAttr(b, fSpanAttributes, "try_count", int64(j+1))
		if j > 0 {
			b = appendIntAttr(b, fSpanAttributes, "http.request.resend_count", int64(j))
		}
	}
	b = appendStrAttr(b, fSpanAttributes, "turnpike.upstream.outcome", a.Outcome)
	b = appendPeer(b, a.Target)
	if a.Status != 0 {
		b = appendIntAttr(b, fSpanAttributes, "http.response.status_code", int64(a.Status))
		b = appendIntAttr(b, fSpanAttributes, "http.response.body.size", a.BytesIn)
	}
	if a.Outcome != record.OutcomeResponse || a.Status >= 500 {
		b = appendStatus(b, a.Outcome)
	} else {
		b = appendStatusUnset(b)
	}
	return closeMsg(b, m, fSSSpans)
}

// unixNano is t0 + d in unix ns, 0 before 1970 (as the SDK's exporter).
func unixNano(t0 int64, d time.Duration) uint64 { return uint64(max(t0+int64(d), 0)) }

// appendStatus writes an error status with message msg.
func appendStatus(b []byte, msg string) []byte {
	b = appendVarint(b, tag(fSpanStatus, wireLen))
	b = appendVarint(b, uint64(sizeField(len(msg))+2))
	b = appendString(b, fStatusMessage, msg)
	return append(b, byte(tag(fStatusCode, wireVarint)), statusError)
}

// appendStatusUnset writes the unset status, as the SDK's exporter does.
func appendStatusUnset(b []byte) []byte { return append(b, byte(tag(fSpanStatus, wireLen)), 0) }

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

func appendServerAttrs(b []byte, c *plugin.Ctx, rec *record.Record) []byte {
	method := rec.Method
	if !knownMethods[method] {
		method = "_OTHER"
	}
	for _, a := range [...]struct{ k, v string }{
		{"http.request.method", method},
		{"url.path", urlPath(c, rec)},
		{"url.scheme", scheme(c)},
		{"server.address", hostOnly(rec.Host)},
		{"client.address", c.ForwardedIP},
		{"network.peer.address", rec.ClientIP},
		{"network.protocol.version", strings.TrimPrefix(rec.Proto, "HTTP/")},
		{"kong.request.id", rec.RequestID},
	} {
		b = appendStrAttr(b, fSpanAttributes, a.k, a.v)
	}
	b = appendIntAttr(b, fSpanAttributes, "http.response.status_code", int64(rec.Status))
	for _, a := range [...]struct{ k, v string }{
		{"user_agent.original", rec.UserAgent}, {"http.route", rec.RoutePath},
		{"turnpike.route", rec.Route}, {"turnpike.service", rec.Service}, {"turnpike.consumer", rec.Consumer},
	} {
		if a.v != "" {
			b = appendStrAttr(b, fSpanAttributes, a.k, a.v)
		}
	}
	return b
}

// appendPeer adds server.address and server.port of a host:port.
func appendPeer(b []byte, target string) []byte {
	if target == "" {
		return b
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return appendStrAttr(b, fSpanAttributes, "server.address", target)
	}
	b = appendStrAttr(b, fSpanAttributes, "server.address", host)
	if n, err := strconv.Atoi(port); err == nil {
		b = appendIntAttr(b, fSpanAttributes, "server.port", int64(n))
	}
	return b
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

// hostOnly is the Host header without its port, and an IPv6 literal
// without its brackets: server.address is a bare name or address.
func hostOnly(h string) string {
	h = plugin.HostOnly(h)
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}
