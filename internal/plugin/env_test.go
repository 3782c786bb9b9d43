package plugin

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestErrorsText(t *testing.T) {
	// The text of config.Errors for the same problems, without lines.
	err := error(Errors{{Path: "origins[1]", Message: "invalid"}, {Message: "sync_rate needs redis"}})
	if got, want := err.Error(), "origins[1]: invalid\nsync_rate needs redis"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	var es Errors
	if !errors.As(FieldError("redis", "bad"), &es) || len(es) != 1 || es[0] != (Problem{Path: "redis", Message: "bad"}) {
		t.Errorf("FieldError: %v", es)
	}
}

func TestRegisterMetricSharesSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "plugin_test_total", Help: "Test."}
	a := RegisterMetric(reg, prometheus.NewCounterVec(opts, []string{"route"}))
	b := RegisterMetric(reg, prometheus.NewCounterVec(opts, []string{"route"}))
	if a != b {
		t.Fatal("a second registration got a collector of its own")
	}
	b.WithLabelValues("r").Inc()
	families, err := reg.Gather()
	if err != nil || len(families) != 1 || families[0].GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Fatalf("gathered %v, %v", families, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("a clashing collector was accepted")
		}
	}()
	RegisterMetric(reg, prometheus.NewCounterVec(opts, []string{"service"}))
}
