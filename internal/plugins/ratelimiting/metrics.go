package ratelimiting

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// metrics are the plugin's Prometheus series, shared by its instances.
// The requests it refuses are counted by the gateway's core metrics
// (api_gateway_rate_limit_exceeded), from the request record.
type metrics struct {
	// storeErrors counts decisions that failed because the counter store
	// (Redis) could not be used, by route and whether the request was
	// then let through (fault_tolerant) or not.
	storeErrors *prometheus.CounterVec
}

// registerMetrics registers the series in r, or finds them there when
// another instance did.
func registerMetrics(r prometheus.Registerer) *metrics {
	return &metrics{
		storeErrors: plugin.RegisterMetric(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnpike_rate_limit_store_errors_total",
			Help: "Rate-limiting decisions the counter store (Redis) failed to make, by route and outcome (allowed: passed by fault_tolerant; refused: answered 500).",
		}, []string{"route", "outcome"})),
	}
}
