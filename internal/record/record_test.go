package record

import (
	"testing"
	"time"
)

func TestRecordPluginTimingsAreBoundedAndAllocationFree(t *testing.T) {
	r := &Record{}
	allocs := testing.AllocsPerRun(10, func() {
		*r = Record{}
		for i := range MaxPluginTimings + 3 {
			r.AddPlugin("p", PhaseAccess, time.Duration(i), time.Duration(2*i))
		}
		r.AddAttempt("a:1", 0)
		r.AddAttempt("b:1", 0)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request", allocs)
	}
	p := r.Plugins()
	if len(p) != MaxPluginTimings || p[5].Start != 5 || p[5].Duration != 5 || p[5].Phase.String() != "access" {
		t.Errorf("timings: %d %+v", len(p), p[5])
	}
}

func TestRetriesCountOnlyRepeatedAttempts(t *testing.T) {
	for _, tc := range []struct {
		calls []string
		want  int
		agg   bool
	}{
		{nil, 0, false},
		{[]string{""}, 0, false},
		{[]string{"", "", ""}, 2, false},
		{[]string{"user", "orders", "account"}, 0, true},
	} {
		r := &Record{}
		for _, c := range tc.calls {
			k := r.AddAttempt("a:1", 0)
			r.Attempts[k].Call = c
		}
		if got := r.Retries(); got != tc.want {
			t.Errorf("%q: %d retries, want %d", tc.calls, got, tc.want)
		}
		if got := r.Aggregated(); got != tc.agg {
			t.Errorf("%q: aggregated %v, want %v", tc.calls, got, tc.agg)
		}
	}
}

// A wait has expired once its deadline is reached on the clock, and never
// without one.
func TestExpired(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		deadline time.Time
		want     bool
	}{
		{time.Time{}, false},
		{now.Add(time.Hour), false},
		{now, true},
		{now.Add(-time.Millisecond), true},
	} {
		if got := Expired(tc.deadline); got != tc.want {
			t.Errorf("Expired(%v) at %v = %v, want %v", tc.deadline, now, got, tc.want)
		}
	}
}
