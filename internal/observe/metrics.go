package observe

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the gateway's Prometheus registry and the series the core
// records itself. Plugins register theirs in Registry too (through
// plugin.Env.Metrics), so one /metrics endpoint shows everything.
type Metrics struct {
	Registry *prometheus.Registry
	// Requests is the always-on request series, an observer of every
	// request's record.
	Requests *RequestMetrics
	// NoHealthyTarget counts requests answered 503 because the service's
	// upstream had no healthy target (Kong: "failure to get a peer from
	// the ring-balancer").
	NoHealthyTarget *prometheus.CounterVec
}

// NewMetrics makes a registry with the Go runtime and process collectors
// and the core series.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		Requests: NewRequestMetrics(reg),
		NoHealthyTarget: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnpike_upstream_no_healthy_target_total",
			Help: "Requests answered 503 because no healthy upstream target was available, by service.",
		}, []string{"service"}),
	}
	reg.MustRegister(m.NoHealthyTarget)
	return m
}

// CountAccessLogDrops exports the access log's dropped lines (AccessLog.Dropped).
func (m *Metrics) CountAccessLogDrops(dropped func() uint64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "turnpike_access_log_dropped_total",
		Help: "Access log lines dropped because the writer's queue was full.",
	}, func() float64 { return float64(dropped()) }))
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
