package opentelemetry

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// span is one finished span, handed to the SDK's exporter as the
// sdktrace.ReadOnlySpan it reads. The spans of a request are built at
// once from its record, with times and ids known beforehand, so the
// SDK's tracer (live spans, locks, a context per span, id generation,
// sampling) would only cost: building them directly is about six times
// cheaper (docs: arch notes). The embedded interface is never set; it
// supplies the interface's unexported method, as the SDK's own
// tracetest.SpanStub does, and every other method is defined here.
type span struct {
	sdktrace.ReadOnlySpan

	name       string
	sc, parent trace.SpanContext
	kind       trace.SpanKind
	start, end time.Time
	attrs      []attribute.KeyValue
	status     sdktrace.Status
	res        *resource.Resource
}

// scope names the instrumentation in every span sent.
var scope = instrumentation.Scope{Name: "turnpike"}

func (s *span) Name() string                                    { return s.name }
func (s *span) SpanContext() trace.SpanContext                  { return s.sc }
func (s *span) Parent() trace.SpanContext                       { return s.parent }
func (s *span) SpanKind() trace.SpanKind                        { return s.kind }
func (s *span) StartTime() time.Time                            { return s.start }
func (s *span) EndTime() time.Time                              { return s.end }
func (s *span) Attributes() []attribute.KeyValue                { return s.attrs }
func (s *span) Links() []sdktrace.Link                          { return nil }
func (s *span) Events() []sdktrace.Event                        { return nil }
func (s *span) Status() sdktrace.Status                         { return s.status }
func (s *span) InstrumentationScope() instrumentation.Scope     { return scope }
func (s *span) InstrumentationLibrary() instrumentation.Library { return scope } //nolint:staticcheck // part of the interface
func (s *span) Resource() *resource.Resource                    { return s.res }
func (s *span) DroppedAttributes() int                          { return 0 }
func (s *span) DroppedLinks() int                               { return 0 }
func (s *span) DroppedEvents() int                              { return 0 }
func (s *span) ChildSpanCount() int                             { return 0 }
