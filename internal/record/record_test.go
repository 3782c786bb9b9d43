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
