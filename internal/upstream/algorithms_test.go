package upstream

import (
	"errors"
	"strconv"
	"testing"
)

// newTargets makes targets 10.0.0.1:80, 10.0.0.2:80, ... with the given
// weights.
func newTargets(weights ...int) []*Target {
	targets := make([]*Target, len(weights))
	for i, w := range weights {
		targets[i] = NewTarget("10.0.0."+strconv.Itoa(i+1), 80, w, nil)
	}
	return targets
}

// algorithmsUnderTest builds every balancer of this package over targets,
// for the properties they all promise.
var algorithmsUnderTest = []struct {
	name string
	new  func([]*Target) Balancer
}{
	{name: "round-robin", new: func(t []*Target) Balancer { return NewRoundRobin(t) }},
	{name: "least-connections", new: func(t []*Target) Balancer { return NewLeastConnections(t) }},
	{name: "latency", new: func(t []*Target) Balancer { return NewLatency(t) }},
	{name: "power-of-two-choices", new: func(t []*Target) Balancer { return NewPowerOfTwo(t) }},
	{name: "consistent-hashing by ip", new: func(t []*Target) Balancer {
		ch, err := NewConsistentHash(t, HashConfig{Primary: HashInput{On: HashIP}})
		if err != nil {
			panic(err)
		}
		return ch
	}},
	{name: "consistent-hashing none", new: func(t []*Target) Balancer {
		ch, err := NewConsistentHash(t, HashConfig{})
		if err != nil {
			panic(err)
		}
		return ch
	}},
}

func TestEveryBalancerSkipsUnhealthyAndDisabled(t *testing.T) {
	for _, alg := range algorithmsUnderTest {
		t.Run(alg.name, func(t *testing.T) {
			targets := newTargets(100, 100, 0, 100)
			targets[1].State.SetHealth(false, "test")
			b := alg.new(targets)
			if got := len(b.Targets()); got != 4 {
				t.Errorf("Targets() lists %d, want all 4 configured", got)
			}
			for i := range 200 {
				tg, err := b.Pick(&PickRequest{ClientIP: "192.0.2." + strconv.Itoa(i%250)})
				if err != nil {
					t.Fatal(err)
				}
				if tg == targets[1] || tg == targets[2] {
					t.Fatalf("picked %s (unhealthy or weight 0)", tg.Addr)
				}
			}
		})
	}
}

func TestEveryBalancerErrNoTarget(t *testing.T) {
	cases := []struct {
		name    string
		weights []int
		down    []int
	}{
		{name: "no targets"},
		{name: "all weight 0", weights: []int{0, 0}},
		{name: "all unhealthy", weights: []int{100, 100, 5}, down: []int{0, 1, 2}},
		{name: "healthy one disabled", weights: []int{0, 100}, down: []int{1}},
	}
	for _, alg := range algorithmsUnderTest {
		for _, tt := range cases {
			t.Run(alg.name+"/"+tt.name, func(t *testing.T) {
				targets := newTargets(tt.weights...)
				for _, i := range tt.down {
					targets[i].State.SetHealth(false, "test")
				}
				b := alg.new(targets)
				for range 3 {
					if tg, err := b.Pick(&PickRequest{ClientIP: "192.0.2.1"}); !errors.Is(err, ErrNoTarget) {
						t.Fatalf("Pick = %v, %v; want ErrNoTarget", tg, err)
					}
				}
			})
		}
	}
}

func TestEveryBalancerRetryAvoidsPrev(t *testing.T) {
	for _, alg := range algorithmsUnderTest {
		t.Run(alg.name, func(t *testing.T) {
			targets := newTargets(100, 300, 100, 100)
			b := alg.new(targets)
			for i := range 200 {
				r := &PickRequest{ClientIP: "192.0.2." + strconv.Itoa(i%250)}
				first, err := b.Pick(r)
				if err != nil {
					t.Fatal(err)
				}
				r.Prev = first
				second, err := b.Pick(r)
				if err != nil {
					t.Fatal(err)
				}
				if second == first {
					t.Fatalf("retry %d went back to %s while others are healthy", i, first.Addr)
				}
			}
			// With only the previous target healthy, it is retried rather
			// than nothing.
			for _, tg := range targets[1:] {
				tg.State.SetHealth(false, "test")
			}
			if tg, err := b.Pick(&PickRequest{Prev: targets[0], ClientIP: "192.0.2.1"}); err != nil || tg != targets[0] {
				t.Fatalf("only prev healthy: %v, %v", tg, err)
			}
		})
	}
}

func TestNewBalancer(t *testing.T) {
	tests := []struct {
		name      string
		algorithm string
		want      string
		wantErr   bool
	}{
		{name: "default", algorithm: "", want: "*upstream.RoundRobin"},
		{name: "round-robin", algorithm: AlgorithmRoundRobin, want: "*upstream.RoundRobin"},
		{name: "consistent-hashing", algorithm: AlgorithmConsistentHashing, want: "*upstream.ConsistentHash"},
		{name: "least-connections", algorithm: AlgorithmLeastConnections, want: "*upstream.LeastConnections"},
		{name: "latency", algorithm: AlgorithmLatency, want: "*upstream.Latency"},
		{name: "power-of-two-choices", algorithm: AlgorithmPowerOfTwoChoices, want: "*upstream.PowerOfTwo"},
		{name: "unknown", algorithm: "random", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewBalancer(tt.algorithm, newTargets(100), HashConfig{})
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %T, want an error", b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := typeName(b); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func typeName(b Balancer) string {
	switch b.(type) {
	case *RoundRobin:
		return "*upstream.RoundRobin"
	case *ConsistentHash:
		return "*upstream.ConsistentHash"
	case *LeastConnections:
		return "*upstream.LeastConnections"
	case *Latency:
		return "*upstream.Latency"
	case *PowerOfTwo:
		return "*upstream.PowerOfTwo"
	}
	return "other"
}

// countPicks picks n times and counts by target index.
func countPicks(t *testing.T, b Balancer, targets []*Target, n int, begin bool) []int {
	t.Helper()
	idx := map[*Target]int{}
	for i, tg := range targets {
		idx[tg] = i
	}
	counts := make([]int, len(targets))
	for range n {
		tg, err := b.Pick(&PickRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if begin {
			tg.Begin()
		}
		counts[idx[tg]]++
	}
	return counts
}
