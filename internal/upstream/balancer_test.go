package upstream

import (
	"testing"
)

func TestRoundRobinWeights(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		picks   int
		want    []int
	}{
		{name: "equal", weights: []int{100, 100, 100}, picks: 300, want: []int{100, 100, 100}},
		{name: "one to three", weights: []int{100, 300}, picks: 400, want: []int{100, 300}},
		{name: "zero disables", weights: []int{0, 50}, picks: 10, want: []int{0, 10}},
		{name: "co-prime", weights: []int{2, 3, 5}, picks: 100, want: []int{20, 30, 50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var targets []*Target
			for i, w := range tt.weights {
				targets = append(targets, NewTarget("10.0.0."+string(rune('1'+i)), 80, w, nil))
			}
			rr := NewRoundRobin(targets)
			counts := map[*Target]int{}
			for range tt.picks {
				tg, err := rr.Pick(&PickRequest{})
				if err != nil {
					t.Fatal(err)
				}
				counts[tg]++
			}
			for i, tg := range targets {
				if counts[tg] != tt.want[i] {
					t.Errorf("target %d picked %d times, want %d", i, counts[tg], tt.want[i])
				}
			}
		})
	}
}

// The smooth schedule interleaves instead of sending bursts to the
// heaviest target.
func TestRoundRobinIsSmooth(t *testing.T) {
	a, b := NewTarget("a", 80, 1, nil), NewTarget("b", 80, 3, nil)
	rr := NewRoundRobin([]*Target{a, b})
	run := 0
	for range 40 {
		tg, _ := rr.Pick(&PickRequest{})
		if tg == b {
			run++
			if run > 3 {
				t.Fatal("more than 3 picks of b in a row")
			}
		} else {
			run = 0
		}
	}
}

func TestRoundRobinRetryPicksAnotherTarget(t *testing.T) {
	a, b := NewTarget("a", 80, 100, nil), NewTarget("b", 80, 100, nil)
	rr := NewRoundRobin([]*Target{a, b})
	for range 10 {
		first, _ := rr.Pick(&PickRequest{})
		second, _ := rr.Pick(&PickRequest{Prev: first})
		if first == second {
			t.Fatal("a retry went to the same target while another exists")
		}
	}
}

func TestRoundRobinSkipsUnhealthy(t *testing.T) {
	a, b := NewTarget("a", 80, 100, nil), NewTarget("b", 80, 100, nil)
	rr := NewRoundRobin([]*Target{a, b})
	a.State.SetHealth(false, "test")
	for range 10 {
		if tg, _ := rr.Pick(&PickRequest{}); tg != b {
			t.Fatal("picked an unhealthy target")
		}
	}
	if tg, _ := rr.Pick(&PickRequest{Prev: b}); tg != b {
		t.Fatal("the only healthy target must be retried rather than none")
	}
	b.State.SetHealth(false, "test")
	if _, err := rr.Pick(&PickRequest{}); err != ErrNoTarget {
		t.Fatalf("all unhealthy: %v", err)
	}
}

func TestRoundRobinNoTargets(t *testing.T) {
	if _, err := NewRoundRobin(nil).Pick(&PickRequest{}); err != ErrNoTarget {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewRoundRobin([]*Target{NewTarget("a", 80, 0, nil)}).Pick(&PickRequest{}); err != ErrNoTarget {
		t.Fatalf("all weights 0: err = %v", err)
	}
}

func TestJoinHostPort(t *testing.T) {
	if got := JoinHostPort("::1", 80); got != "[::1]:80" {
		t.Errorf("got %q", got)
	}
	if got := JoinHostPort("example.com", 8080); got != "example.com:8080" {
		t.Errorf("got %q", got)
	}
}
