// Package opentelemetry is Kong's opentelemetry plugin: it takes the
// trace context from the client's headers (W3C, B3, Jaeger, OT, AWS
// X-Ray, GCP, Datadog), decides the trace id, the sampling and the span
// id the upstream sees in the access phase and injects them upstream,
// and in the log phase builds the request's spans from its record
// (server span, routing, each plugin's access and header filter runs,
// each upstream attempt, Redis calls) with the record's timestamps,
// encoded as OTLP protobuf at once and sent in batches by OTLP/HTTP.
// Log records (logs_endpoint) go through the OpenTelemetry Go SDK's log
// exporter.
//
// An unsampled request only propagates: no span is made for it. Spans
// wait in a bounded queue; when it is full, or an export fails, they are
// dropped and counted, so a slow or absent collector never slows a
// request.
package opentelemetry
