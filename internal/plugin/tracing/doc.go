// Package tracing is what the tracing plugins (opentelemetry, zipkin)
// share: Kong's trace-context header formats (W3C, B3 multi and single,
// Jaeger, OT, AWS X-Ray, GCP, Datadog) read with Extract and written with
// SpanContext.Inject, Kong's propagation record resolved into Params, and
// random span and trace ids.
package tracing
