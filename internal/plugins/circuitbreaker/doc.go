// Package circuitbreaker is the circuit-breaker plugin: it stops sending
// traffic to an upstream service that keeps failing and answers 503 at once
// instead, then lets a few probe requests through after a cool-down to see
// whether the service recovered.
//
// The breaker is a plugin rather than a service field so that Kong
// declarative files stay valid (Kong has no such field) and so that it can
// be scoped like any plugin: to a service, a route, or globally. Each plugin
// instance keeps one breaker per service it sees (keyed by the service id):
// a service- or route-scoped instance therefore has exactly one, a global
// instance one per service.
//
// States, as in sony/gobreaker, which does the counting:
//
//   - closed: requests flow; outcomes are counted in a rolling window of
//     `window` seconds (ten buckets). When at least `min_requests` outcomes
//     were counted in the window and the failures reach `failure_ratio` of
//     them or `failure_count` in absolute terms, the breaker opens.
//   - open: every request is answered with `error_code` (503) and Kong's
//     {"message":...} body without touching the upstream, for
//     `open_timeout` seconds.
//   - half-open: at most `half_open_requests` probe requests are let
//     through (others get the 503); when all of them succeed the breaker
//     closes, the first failure opens it again.
//
// Outcomes are taken in the log phase from Ctx.Upstream: a connect failure,
// reset or timeout, or a status in `failure_statuses`, is a failure; any
// other upstream response is a success. A response the gateway made itself
// (another plugin's Exit, no healthy target) reached no upstream and is not
// counted either way.
//
// The plugin runs early in the access phase (priority 1500: after cors and
// bot-detection, before the authentication plugins at 1450 and below), so
// that while the breaker is open no authentication, rate-limiting or
// transformation work is spent on requests that cannot be served, and no
// rate-limit quota is consumed by them. A request let through that a later
// plugin answers (401, 429...) is not counted and frees its half-open slot.
//
// turnpike_circuit_breaker_state{service} (metrics.go) reports each
// service's breaker, read at scrape time.
package circuitbreaker
