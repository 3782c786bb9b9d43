package circuitbreaker

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// stateSeries is turnpike_circuit_breaker_state by service.
func stateSeries(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "turnpike_circuit_breaker_state" {
			continue
		}
		for _, m := range f.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestStateMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	mk := func() *Instance {
		cfg := Registration().NewConfig().(*Config)
		cfg.SetDefaults()
		cfg.MinRequests = 2
		in, err := New(cfg, plugin.Env{Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		return in.(*Instance)
	}
	// Two instances (a global entry and a service's) share one collector.
	global, scoped := mk(), mk()
	send(t, global, "a", ok)
	send(t, scoped, "a", fail)
	send(t, scoped, "a", fail)
	send(t, global, "b", ok)
	if got := stateSeries(t, reg); len(got) != 2 || got["a"] != 2 || got["b"] != 0 {
		t.Fatalf("states %v, want a open (2), b closed (0)", got)
	}
	// A closed instance (replaced by a reload) is no longer reported.
	scoped.Close()
	if got := stateSeries(t, reg); got["a"] != 0 {
		t.Fatalf("states after close %v", got)
	}
}
