package observe

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the gateway's Prometheus registry and the series the core
// records itself. Plugins and later features register theirs here too, so
// one /metrics endpoint shows everything.
type Metrics struct {
	Registry *prometheus.Registry
	// NoHealthyTarget counts requests answered 503 because the service's
	// upstream had no healthy target (Kong: "failure to get a peer from
	// the ring-balancer").
	NoHealthyTarget *prometheus.CounterVec
	// RateLimitExceeded counts requests a rate-limiting plugin refused, by
	// route (its name, or its first path when it has none).
	RateLimitExceeded *prometheus.CounterVec
	// RateLimitStoreErrors counts rate-limiting decisions that failed
	// because the counter store (Redis) could not be used, by route and
	// whether the request was then let through (fault_tolerant) or not.
	RateLimitStoreErrors *prometheus.CounterVec
}

// NewMetrics makes a registry with the Go runtime and process collectors
// and the core series.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		NoHealthyTarget: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnpike_upstream_no_healthy_target_total",
			Help: "Requests answered 503 because no healthy upstream target was available, by service.",
		}, []string{"service"}),
		RateLimitExceeded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api_gateway_rate_limit_exceeded",
			Help: "Requests refused by a rate-limiting plugin, by route (name, or first path when unnamed).",
		}, []string{"route"}),
		RateLimitStoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnpike_rate_limit_store_errors_total",
			Help: "Rate-limiting decisions the counter store (Redis) failed to make, by route and outcome (allowed: passed by fault_tolerant; refused: answered 500).",
		}, []string{"route", "outcome"}),
	}
	reg.MustRegister(m.NoHealthyTarget, m.RateLimitExceeded, m.RateLimitStoreErrors)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
