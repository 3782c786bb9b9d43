package reload

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// loadMetrics are the loader's series: loads by result and the hash of
// the configuration in force.
type loadMetrics struct {
	ok, failed prometheus.Counter
	info       *configInfo
}

// configInfo is turnpike_config_info: one series, whose hash label is
// read at each scrape, so a scrape during a load sees the old hash or the
// new one, never none (as a GaugeVec's Reset then Set would show).
type configInfo struct {
	desc *prometheus.Desc
	hash atomic.Pointer[string] // nil before the first load in force
}

func (c *configInfo) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *configInfo) Collect(ch chan<- prometheus.Metric) {
	if h := c.hash.Load(); h != nil {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, *h)
	}
}

// RegisterMetrics registers turnpike_config_reloads_total{result} and
// turnpike_config_info{hash} in reg; call it before the first load.
// Every load attempt counts (the start-up load, SIGHUP, file changes,
// POST /config), whether or not the configuration changed; DNS
// recompiles and dry runs do not.
func (l *Loader) RegisterMetrics(reg prometheus.Registerer) {
	loads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "turnpike_config_reloads_total",
		Help: "Configuration loads by result: ok (in force, or unchanged) or failed (the previous configuration stays).",
	}, []string{"result"})
	info := &configInfo{desc: prometheus.NewDesc("turnpike_config_info",
		"Always 1; its hash label is the hash of the configuration in force (Kong's configuration_hash).",
		[]string{"hash"}, nil)}
	reg.MustRegister(loads, info)
	l.metrics = &loadMetrics{ok: loads.WithLabelValues("ok"), failed: loads.WithLabelValues("failed"), info: info}
}

func (m *loadMetrics) loaded(r *Result) {
	if m == nil {
		return
	}
	if !r.OK {
		m.failed.Inc()
		return
	}
	m.ok.Inc()
	// Hashes are hex digests, valid label values.
	m.info.hash.Store(&r.Hash)
}
