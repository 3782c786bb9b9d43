package upstream

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sample records one finished attempt of the given latency on t.
func sample(t *Target, d time.Duration) {
	t.Begin()
	t.End(Outcome{Status: 200, Latency: d})
}

func TestLatencyPicksLowestCost(t *testing.T) {
	tests := []struct {
		name     string
		weights  []int
		latency  []time.Duration // 0 = no sample
		inflight []int
		want     int
	}{
		{name: "fastest", weights: []int{100, 100, 100}, latency: []time.Duration{30 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond}, want: 1},
		{name: "unsampled first", weights: []int{100, 100}, latency: []time.Duration{time.Microsecond, 0}, want: 1},
		{name: "busy fast target gives way", weights: []int{100, 100}, latency: []time.Duration{time.Millisecond, 10 * time.Millisecond}, inflight: []int{20, 0}, want: 1},
		{name: "weight scales cost", weights: []int{100, 1000}, latency: []time.Duration{5 * time.Millisecond, 10 * time.Millisecond}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets := newTargets(tt.weights...)
			for i, d := range tt.latency {
				if d > 0 {
					sample(targets[i], d)
				}
			}
			for i, n := range tt.inflight {
				for range n {
					targets[i].Begin()
				}
			}
			l := NewLatency(targets)
			for range 10 {
				if tg, _ := l.Pick(&PickRequest{}); tg != targets[tt.want] {
					t.Fatalf("picked %s, want %s", tg.Addr, targets[tt.want].Addr)
				}
			}
		})
	}
}

// An idle, unsampled upstream of equal weights is taken in turn (the cost
// divides by weight, so with different weights the heavier one wins while
// nothing is in flight, as in Kong); kept in flight, the attempts settle in
// proportion to weight.
func TestLatencyDistribution(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		begin   bool
		picks   int
		want    []int
	}{
		{name: "idle, equal weights: in turn", weights: []int{100, 100, 100}, picks: 300, want: []int{100, 100, 100}},
		{name: "idle, heavier wins", weights: []int{100, 300}, picks: 400, want: []int{0, 400}},
		{name: "in flight by weight", weights: []int{1, 2, 1}, begin: true, picks: 400, want: []int{100, 200, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets := newTargets(tt.weights...)
			got := countPicks(t, NewLatency(targets), targets, tt.picks, tt.begin)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("picks per target (-want +got):\n%s", diff)
			}
		})
	}
}
