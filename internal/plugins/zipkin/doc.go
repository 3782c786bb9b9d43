// Package zipkin is Kong's zipkin plugin: in the access phase (priority
// 100000, before every other plugin) it reads the client's trace context
// in the formats Kong's propagation record names (B3 multi and single,
// W3C and the rest, through internal/plugin/tracing), starts or continues
// the trace, samples it by sample_ratio when the client did not decide,
// and tells the upstream in the configured formats (header_type
// `preserve`: the format it came in, else default_header_type). In the
// log phase a sampled request becomes Zipkin v2 spans (the SERVER request
// span, the CLIENT proxy span, one CLIENT span per balancer try, with
// Kong's names, tags and phase annotations), queued on the SDK's bounded
// queue and posted as JSON arrays to http_endpoint.
package zipkin
