package reload

import "github.com/prometheus/client_golang/prometheus"

// loadMetrics are the loader's series: loads by result and the hash of
// the configuration in force.
type loadMetrics struct {
	ok, failed prometheus.Counter
	info       *prometheus.GaugeVec
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
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "turnpike_config_info",
		Help: "Always 1; its hash label is the hash of the configuration in force (Kong's configuration_hash).",
	}, []string{"hash"})
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
	// One series: the hash of the configuration now in force.
	m.info.Reset()
	m.info.WithLabelValues(r.Hash).Set(1)
}
