package upstream

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// metricValues is reg's series as "name{v1,v2,...}" (label values in
// label-name order) → value.
func metricValues(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var vals []string
			for _, l := range m.GetLabel() {
				vals = append(vals, l.GetValue())
			}
			key := f.GetName() + "{" + strings.Join(vals, ",") + "}"
			if c := m.GetCounter(); c != nil {
				out[key] = c.GetValue()
			} else {
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestHealthMetrics(t *testing.T) {
	results := NewHealthResults()
	states := NewStates()
	hc := NewHealthCheckers(HealthOptions{Results: results})
	defer hc.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(results, hc)

	hc.Sync(checkedUpstreams(states, 0)) // passive: 2 HTTP failures eject
	tg := &Target{Addr: "10.0.0.1:80", Weight: 100, State: states.Get("up|10.0.0.1:80")}
	for _, o := range []Outcome{{Status: 500}, {Status: 200}, {Status: 500}, {Status: 503}, {Timeout: true}} {
		tg.Begin()
		tg.End(o)
	}
	got := metricValues(t, reg)
	want := map[string]float64{
		// The upstream's own labels come in label-name order: kind,
		// result, target, upstream.
		"turnpike_upstream_health_checks_total{passive,http_failure,10.0.0.1:80,up}": 3,
		"turnpike_upstream_health_checks_total{passive,success,10.0.0.1:80,up}":      1,
		"turnpike_upstream_health_checks_total{passive,timeout,10.0.0.1:80,up}":      1,
		"turnpike_upstream_target_health{10.0.0.1:80,up}":                            0,
		"turnpike_upstream_target_health{10.0.0.2:80,up}":                            1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}

	// The upstream removed: its series go with it.
	hc.Sync(nil)
	for k := range metricValues(t, reg) {
		if strings.Contains(k, ",up}") {
			t.Errorf("series of a removed upstream: %s", k)
		}
	}
}

// Counting a passive report (one per proxied request with passive checks
// on) allocates nothing more than the report itself.
func TestPassiveReportCountingAllocatesNothing(t *testing.T) {
	allocs := func(opts HealthOptions) float64 {
		hc := NewHealthCheckers(opts)
		defer hc.Close()
		states := NewStates()
		hc.Sync(checkedUpstreams(states, 0))
		tg := &Target{Addr: "10.0.0.1:80", Weight: 100, State: states.Get("up|10.0.0.1:80")}
		return testing.AllocsPerRun(100, func() { tg.Begin(); tg.End(Outcome{Status: 200}) })
	}
	without, with := allocs(HealthOptions{}), allocs(HealthOptions{Results: NewHealthResults()})
	if with != without {
		t.Fatalf("%v allocations per report counted, %v without counting", with, without)
	}
}
