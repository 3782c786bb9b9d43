package upstream

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLeastConnectionsDistribution(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		// begin keeps every picked attempt in flight, so the counts are
		// concurrency; without it every pick sees an idle upstream.
		begin bool
		picks int
		want  []int
	}{
		{name: "idle, equal weights: round-robin", weights: []int{100, 100, 100}, picks: 300, want: []int{100, 100, 100}},
		{name: "idle, weighted: weighted round-robin", weights: []int{100, 300}, picks: 400, want: []int{100, 300}},
		{name: "in flight, equal weights", weights: []int{1, 1, 1, 1}, begin: true, picks: 400, want: []int{100, 100, 100, 100}},
		{name: "in flight grows by weight", weights: []int{100, 200, 700}, begin: true, picks: 1000, want: []int{100, 200, 700}},
		{name: "weight 0 disabled", weights: []int{0, 5}, begin: true, picks: 10, want: []int{0, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets := newTargets(tt.weights...)
			got := countPicks(t, NewLeastConnections(targets), targets, tt.picks, tt.begin)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("picks per target (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLeastConnectionsAvoidsBusyTarget(t *testing.T) {
	tests := []struct {
		name     string
		weights  []int
		inflight []int
		want     int
	}{
		{name: "fewest in flight", weights: []int{100, 100, 100}, inflight: []int{3, 1, 2}, want: 1},
		{name: "per weight", weights: []int{100, 400}, inflight: []int{1, 3}, want: 1},
		{name: "per weight, light target idle", weights: []int{1, 400}, inflight: []int{0, 1}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets := newTargets(tt.weights...)
			for i, n := range tt.inflight {
				for range n {
					targets[i].Begin()
				}
			}
			lc := NewLeastConnections(targets)
			for range 20 {
				if tg, _ := lc.Pick(&PickRequest{}); tg != targets[tt.want] {
					t.Fatalf("picked %s, want %s", tg.Addr, targets[tt.want].Addr)
				}
			}
		})
	}
}

// Finished attempts give their slot back: a target that was busy is
// picked again once its attempts end.
func TestLeastConnectionsEndReleases(t *testing.T) {
	targets := newTargets(100, 100)
	lc := NewLeastConnections(targets)
	targets[0].Begin()
	if tg, _ := lc.Pick(&PickRequest{}); tg != targets[1] {
		t.Fatal("busy target picked")
	}
	targets[0].End(Outcome{Status: 200})
	targets[1].Begin()
	if tg, _ := lc.Pick(&PickRequest{}); tg != targets[0] {
		t.Fatal("released target not picked")
	}
}
