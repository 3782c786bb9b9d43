package clock

import (
	"testing"
	"time"
)

// Now's readings are time.Now's to within the gap between the two calls,
// on the monotonic clock and on the wall clock (nobody sets the clock
// during a test).
func TestNowIsTimeNow(t *testing.T) {
	for range 1000 {
		before := time.Now()
		now := Now()
		after := time.Now()
		if now.Before(before) || now.After(after) {
			t.Fatalf("Now %v outside [%v, %v] on the monotonic clock", now, before, after)
		}
		wall := now.Round(0)
		if d := wall.Sub(before.Round(0)); d < -time.Millisecond || wall.Sub(after.Round(0)) > time.Millisecond {
			t.Fatalf("Now's wall reading %v, time.Now's %v-%v", wall, before, after)
		}
	}
}

// BenchmarkNow against time.Now: go test -bench . ./internal/clock/
func BenchmarkNow(b *testing.B) {
	b.Run("clock.Now", func(b *testing.B) {
		for range b.N {
			Now()
		}
	})
	b.Run("time.Now", func(b *testing.B) {
		for range b.N {
			time.Now()
		}
	})
}
