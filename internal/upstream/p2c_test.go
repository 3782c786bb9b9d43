package upstream

import (
	"math"
	"testing"
)

func TestPowerOfTwoDistributionByWeight(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
	}{
		{name: "equal", weights: []int{100, 100, 100, 100}},
		{name: "one to three", weights: []int{100, 300}},
		{name: "mixed with disabled", weights: []int{1, 0, 2, 5}},
	}
	const picks = 40000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets := newTargets(tt.weights...)
			got := countPicks(t, NewPowerOfTwo(targets), targets, picks, false)
			total := 0
			for _, w := range tt.weights {
				total += w
			}
			for i, w := range tt.weights {
				want := float64(picks) * float64(w) / float64(total)
				if math.Abs(float64(got[i])-want) > 0.03*picks {
					t.Errorf("target %d: %d picks, want about %.0f", i, got[i], want)
				}
			}
		})
	}
}

func TestPowerOfTwoPrefersLessLoaded(t *testing.T) {
	targets := newTargets(100, 100)
	for range 5 {
		targets[0].Begin()
	}
	p := NewPowerOfTwo(targets)
	for range 100 {
		if tg, _ := p.Pick(&PickRequest{}); tg != targets[1] {
			t.Fatal("picked the busier of two")
		}
	}
	// Kept in flight, the load evens out: never more than a few apart.
	targets = newTargets(100, 100, 100, 100, 100, 100, 100, 100)
	counts := countPicks(t, NewPowerOfTwo(targets), targets, 8000, true)
	lo, hi := counts[0], counts[0]
	for _, c := range counts {
		lo, hi = min(lo, c), max(hi, c)
	}
	if hi-lo > 10 {
		t.Errorf("in-flight spread %v: max-min %d, want ≤ 10", counts, hi-lo)
	}
}

// With nearly every target down, random draws miss; the pick falls back
// to a scan and still finds the one that is up.
func TestPowerOfTwoFindsRareHealthyTarget(t *testing.T) {
	weights := make([]int, 1000)
	for i := range weights {
		weights[i] = 100
	}
	targets := newTargets(weights...)
	for _, tg := range targets {
		tg.State.SetHealth(false, "test")
	}
	targets[617].State.SetHealth(true, "")
	p := NewPowerOfTwo(targets)
	for range 50 {
		if tg, err := p.Pick(&PickRequest{}); err != nil || tg != targets[617] {
			t.Fatalf("Pick = %v, %v", tg, err)
		}
	}
}
