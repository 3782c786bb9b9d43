package reload

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// gathered is reg's series as "name{label=value,...}" → value.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := f.GetName() + "{"
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += l.GetName() + "=" + l.GetValue()
			}
			key += "}"
			if c := m.GetCounter(); c != nil {
				out[key] = c.GetValue()
			} else {
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestLoadMetrics(t *testing.T) {
	l, h := newLoader(t, "")
	reg := prometheus.NewRegistry()
	l.RegisterMetrics(reg)
	if _, err := l.Apply(cfg("one"), "test"); err != nil {
		t.Fatal(err)
	}
	first := h.Load().Hash
	l.Apply([]byte("_format_version: \"3.0\"\nroutes:\n- paths: [nope]\n"), "test")
	got := gathered(t, reg)
	want := map[string]float64{
		"turnpike_config_reloads_total{result=ok}":     1,
		"turnpike_config_reloads_total{result=failed}": 1,
		"turnpike_config_info{hash=" + first + "}":     1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if _, err := l.Apply(cfg("two"), "test"); err != nil {
		t.Fatal(err)
	}
	got = gathered(t, reg)
	if got["turnpike_config_reloads_total{result=ok}"] != 2 || got["turnpike_config_info{hash="+h.Load().Hash+"}"] != 1 {
		t.Errorf("after the second load: %v", got)
	}
	if _, stale := got["turnpike_config_info{hash="+first+"}"]; stale {
		t.Errorf("the replaced configuration's hash is still exported: %v", got)
	}
}

// A scrape while a load is recorded sees turnpike_config_info with the
// old hash or the new one, never without a series.
func TestConfigInfoNeverAbsent(t *testing.T) {
	l, _ := newLoader(t, "")
	reg := prometheus.NewRegistry()
	l.RegisterMetrics(reg)
	if _, err := l.Apply(cfg("one"), "test"); err != nil {
		t.Fatal(err)
	}
	hashes := [2]string{"a1", "b2"}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200000 {
			l.metrics.loaded(&Result{OK: true, Hash: hashes[i%2]})
		}
	}()
	for gathers := 0; ; gathers++ {
		select {
		case <-done:
			if gathers == 0 {
				t.Fatal("no scrape ran during the loads")
			}
			return
		default:
		}
		var info []string
		for k := range gathered(t, reg) {
			if strings.HasPrefix(k, "turnpike_config_info{") {
				info = append(info, k)
			}
		}
		if len(info) != 1 {
			t.Fatalf("scrape %d during loads: config info series %v, want one", gathers, info)
		}
	}
}
