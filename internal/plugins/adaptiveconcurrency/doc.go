// Package adaptiveconcurrency is the adaptive-concurrency plugin, after
// Envoy's adaptive_concurrency filter: it limits the number of requests in
// flight to an upstream service and answers the excess with 503 at once, so
// that when the upstream slows down requests are shed quickly instead of
// queuing in front of it. The limit is not configured but found, with a
// gradient controller:
//
//   - minRTT, the upstream's latency when it is not loaded, is measured at
//     start and then every `min_rtt_interval` seconds by pinning the limit
//     to `min_limit` until `min_rtt_requests` responses came back; their
//     median latency is the new minRTT and the previous limit is restored.
//   - every `sample_interval` seconds the mean latency of the responses in
//     that interval (sampleRTT) moves the limit:
//     gradient = minRTT·(1+min_rtt_buffer) / sampleRTT, clamped to [0.5, 2];
//     limit = limit·gradient + √(limit·gradient) (the headroom lets the limit
//     probe upwards while latency stays near minRTT), bounded by
//     `min_limit` and `max_limit`. The limit grows only while it is in use
//     (a request was shed in the interval, or at least half the limit is in
//     flight): low latency at low load says nothing about how much more the
//     upstream would take.
//
// The gradient controller was chosen over AIMD because it reacts to latency
// before the upstream fails (AIMD needs errors or timeouts to back off) and
// because it converges in a few intervals rather than by one request at a
// time.
//
// The hot path takes no lock: the access phase is one compare-and-swap of
// the in-flight count against the current limit, the log phase two atomic
// adds for the latency sample and one for in-flight. Only during a minRTT
// measurement, when at most min_limit requests are in flight, does a sample
// take a mutex. The first log call past the end of an interval recomputes
// the limit under that mutex taken with TryLock, so no request waits for
// it, and no goroutine runs in the background.
//
// Like the circuit breaker, an instance keeps one limiter per service (keyed
// by the service id): one for a service- or route-scoped instance, one per
// service for a global instance.
//
// Latency samples are the time to the upstream's response head
// (Ctx.Upstream.Latency) of requests that reached an upstream; a timeout
// counts with the time the request took; connection failures (which fail
// fast and would read as a fast upstream) and gateway-made responses are not
// sampled.
package adaptiveconcurrency
