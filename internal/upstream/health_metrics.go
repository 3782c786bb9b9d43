package upstream

import "github.com/prometheus/client_golang/prometheus"

// NewHealthResults makes turnpike_upstream_health_checks_total, the
// counter HealthOptions.Results takes: every health report (an active
// probe's result, a passive outcome of real traffic that the upstream's
// checks count) by upstream, target address, kind (active, passive) and
// result (success, tcp_failure, timeout, http_failure).
func NewHealthResults() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "turnpike_upstream_health_checks_total",
		Help: "Health-check reports by upstream, target, kind (active, passive) and result (success, tcp_failure, timeout, http_failure).",
	}, []string{"upstream", "target", "kind", "result"})
}

var resultNames = [4]string{countSuccess: "success", countTCP: "tcp_failure", countTimeout: "timeout", countHTTP: "http_failure"}

// reportCounters are a target's health-report counters, [active,
// passive][counterKind], made when its checker is built so that a report
// (one per proxied request with passive checks on) only adds.
type reportCounters [2][4]prometheus.Counter

func newReportCounters(results *prometheus.CounterVec, upstream, target string) *reportCounters {
	var rc reportCounters
	for i, kind := range [2]string{"active", "passive"} {
		for k, result := range resultNames {
			rc[i][k] = results.WithLabelValues(upstream, target, kind, result)
		}
	}
	return &rc
}

func (rc *reportCounters) add(src string, kind counterKind) {
	if rc == nil {
		return
	}
	i := 0
	if src == "passive" {
		i = 1
	}
	rc[i][kind].Inc()
}

var targetHealthDesc = prometheus.NewDesc("turnpike_upstream_target_health",
	"1 when a target of an upstream with health checks is healthy, 0 when not (upstreams without checks are not listed).",
	[]string{"upstream", "target"}, nil)

// Describe and Collect make the registry a collector of
// turnpike_upstream_target_health, read at scrape time.
func (h *HealthCheckers) Describe(ch chan<- *prometheus.Desc) { ch <- targetHealthDesc }

// Collect reports the health of every target of the checked upstreams.
func (h *HealthCheckers) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, c := range h.checkers {
		if !c.Enabled() {
			continue
		}
		for _, t := range c.Targets() {
			v := 0.0
			if t.Healthy {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(targetHealthDesc, prometheus.GaugeValue, v, name, t.Addr)
		}
	}
}

// forgetResults drops the report series of an upstream's targets that
// the new checker no longer has (all of them when next is nil), so that
// series follow the configuration.
func (h *HealthCheckers) forgetResults(name string, old, next *HealthChecker) {
	if h.opts.Results == nil || old == nil {
		return
	}
	keep := map[string]bool{}
	if next != nil {
		for _, t := range next.targets {
			keep[t.addr] = true
		}
	}
	for _, t := range old.targets {
		if !keep[t.addr] {
			h.opts.Results.DeletePartialMatch(prometheus.Labels{"upstream": name, "target": t.addr})
		}
	}
}
