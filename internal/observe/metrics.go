package observe

import (
	"net/http"
	"time"

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

// Scrape bounds: /metrics may be open to anyone (--status-listen), and a
// gathering reads the Go runtime and process, and may wait up to 2 s for
// the datastore check. Each handler admits MaxScrapes gatherings at once
// and answers 503 to more at once rather than queueing them, and answers
// 503 to a scrape not served within ScrapeTimeout (its gathering still
// holds its slot until it ends, so the work stays bounded).
const (
	MaxScrapes    = 4
	ScrapeTimeout = 5 * time.Second
)

// Handler serves the registry in the Prometheus text format. Each call
// makes a handler with its own MaxScrapes slots: one per listener, so
// scrapes of one cannot lock out the other's.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		Registry:            m.Registry,
		MaxRequestsInFlight: MaxScrapes,
		Timeout:             ScrapeTimeout,
	})
}
