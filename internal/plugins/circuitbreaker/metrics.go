package circuitbreaker

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

var stateDesc = prometheus.NewDesc("turnpike_circuit_breaker_state",
	"State of the circuit breaker of a service: 0 closed, 1 half-open, 2 open (the most open when several plugin entries keep one).",
	[]string{"service"}, nil)

// stateValue orders the states from healthy to refusing.
func stateValue(s gobreaker.State) float64 {
	switch s {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
}

// states is the collector of turnpike_circuit_breaker_state, shared by
// every instance through plugin.RegisterMetric. It reads the breakers at
// scrape time: gobreaker moves from open to half-open only when asked, so
// a gauge set on transitions would go stale. Instances join when built
// and leave when closed, so a reload's replaced instance is not reported.
type states struct {
	mu        sync.Mutex
	instances map[*Instance]struct{}
}

func newStates() *states { return &states{instances: map[*Instance]struct{}{}} }

func (s *states) add(in *Instance) {
	s.mu.Lock()
	s.instances[in] = struct{}{}
	s.mu.Unlock()
}

func (s *states) remove(in *Instance) {
	s.mu.Lock()
	delete(s.instances, in)
	s.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (s *states) Describe(ch chan<- *prometheus.Desc) { ch <- stateDesc }

// Collect implements prometheus.Collector: one series per service, the
// most open of its breakers.
func (s *states) Collect(ch chan<- prometheus.Metric) {
	worst := map[string]float64{}
	s.mu.Lock()
	for in := range s.instances {
		in.breakers.Range(func(_, v any) bool {
			e := v.(*entry)
			// One read: two could straddle a transition.
			now := stateValue(e.b.State())
			if st, ok := worst[e.service]; !ok || now > st {
				worst[e.service] = now
			}
			return true
		})
	}
	s.mu.Unlock()
	for service, v := range worst {
		ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, v, service)
	}
}
