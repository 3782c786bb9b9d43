package engine

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestPeriodNames(t *testing.T) {
	for p := Second; p <= Year; p++ {
		got, ok := ParsePeriod(p.String())
		if !ok || got != p {
			t.Errorf("ParsePeriod(%q) = %v, %v", p.String(), got, ok)
		}
	}
	want := []string{"second", "minute", "hour", "day", "month", "year"}
	for i, name := range want {
		if Period(i).String() != name {
			t.Errorf("Period(%d) = %q, want %q", i, Period(i), name)
		}
	}
	for _, s := range []string{"", "Second", "week", "minutes"} {
		if _, ok := ParsePeriod(s); ok {
			t.Errorf("ParsePeriod(%q) accepted", s)
		}
	}
}

func TestBounds(t *testing.T) {
	tests := []struct {
		name       string
		period     Period
		at         time.Time
		start, end time.Time
	}{
		{"second", Second, date(2024, 5, 6, 7, 8, 9, 999999999), date(2024, 5, 6, 7, 8, 9, 0), date(2024, 5, 6, 7, 8, 10, 0)},
		{"minute", Minute, date(2024, 5, 6, 7, 8, 59, 0), date(2024, 5, 6, 7, 8, 0, 0), date(2024, 5, 6, 7, 9, 0, 0)},
		{"hour", Hour, date(2024, 5, 6, 23, 59, 59, 0), date(2024, 5, 6, 23, 0, 0, 0), date(2024, 5, 7, 0, 0, 0, 0)},
		{"day", Day, date(2024, 5, 6, 0, 0, 0, 0), date(2024, 5, 6, 0, 0, 0, 0), date(2024, 5, 7, 0, 0, 0, 0)},
		{"day before 1970", Day, date(1969, 12, 31, 12, 0, 0, 0), date(1969, 12, 31, 0, 0, 0, 0), date(1970, 1, 1, 0, 0, 0, 0)},
		{"month of 31 days", Month, date(2024, 1, 31, 23, 59, 59, 0), date(2024, 1, 1, 0, 0, 0, 0), date(2024, 2, 1, 0, 0, 0, 0)},
		{"February of a leap year", Month, date(2024, 2, 29, 12, 0, 0, 0), date(2024, 2, 1, 0, 0, 0, 0), date(2024, 3, 1, 0, 0, 0, 0)},
		{"February", Month, date(2023, 2, 14, 0, 0, 0, 0), date(2023, 2, 1, 0, 0, 0, 0), date(2023, 3, 1, 0, 0, 0, 0)},
		{"month of 30 days", Month, date(2023, 4, 30, 0, 0, 0, 0), date(2023, 4, 1, 0, 0, 0, 0), date(2023, 5, 1, 0, 0, 0, 0)},
		{"December", Month, date(2023, 12, 31, 23, 59, 59, 0), date(2023, 12, 1, 0, 0, 0, 0), date(2024, 1, 1, 0, 0, 0, 0)},
		{"year", Year, date(2024, 12, 31, 23, 59, 59, 0), date(2024, 1, 1, 0, 0, 0, 0), date(2025, 1, 1, 0, 0, 0, 0)},
		{"other zone", Hour, time.Date(2024, 5, 6, 7, 30, 0, 0, time.FixedZone("x", 5*3600+1800)), date(2024, 5, 6, 2, 0, 0, 0), date(2024, 5, 6, 3, 0, 0, 0)},
		{"month in another zone", Month, time.Date(2024, 3, 1, 1, 0, 0, 0, time.FixedZone("x", 2*3600)), date(2024, 2, 1, 0, 0, 0, 0), date(2024, 3, 1, 0, 0, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end := tt.period.Bounds(tt.at)
			if !start.Equal(tt.start) || !end.Equal(tt.end) {
				t.Errorf("Bounds(%v) = %v, %v; want %v, %v", tt.at, start, end, tt.start, tt.end)
			}
			if start.Location() != time.UTC {
				t.Errorf("start not in UTC: %v", start)
			}
			ns, ne := periodBounds(tt.period, tt.at.UnixNano())
			if ns != tt.start.UnixNano() || ne != tt.end.UnixNano() {
				t.Errorf("periodBounds = %v, %v", time.Unix(0, ns).UTC(), time.Unix(0, ne).UTC())
			}
		})
	}
}

func TestPeriodBoundsMatchesCalendar(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		at := time.Unix(0, r.Int64N(int64(200*365*24*time.Hour))).UTC()
		for p := Second; p <= Year; p++ {
			start, end := p.Bounds(at)
			ns, ne := periodBounds(p, at.UnixNano())
			if ns != start.UnixNano() || ne != end.UnixNano() || at.Before(start) || !at.Before(end) {
				t.Fatalf("%v at %v: Bounds %v..%v, periodBounds %v..%v", p, at, start, end, ns, ne)
			}
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"fixed", Policy{Algorithm: Fixed, Limits: []Limit{{Second, 5}, {Hour, 100}}}, true},
		{"sliding with batch", Policy{Algorithm: Sliding, Limits: []Limit{{Minute, 5}}, Batch: 10}, true},
		{"token bucket", Policy{Algorithm: TokenBucket, Rate: 10, Burst: 20}, true},
		{"token bucket, slow", Policy{Algorithm: TokenBucket, Rate: 1.0 / 3600}, true},
		{"no limits", Policy{Algorithm: Fixed}, false},
		{"zero limit", Policy{Algorithm: Fixed, Limits: []Limit{{Second, 0}}}, false},
		{"limit too large", Policy{Algorithm: Fixed, Limits: []Limit{{Second, 1 << 53}}}, false},
		{"unordered", Policy{Algorithm: Fixed, Limits: []Limit{{Hour, 5}, {Second, 1}}}, false},
		{"same period twice", Policy{Algorithm: Sliding, Limits: []Limit{{Hour, 5}, {Hour, 6}}}, false},
		{"unknown period", Policy{Algorithm: Fixed, Limits: []Limit{{Period(9), 5}}}, false},
		{"negative batch", Policy{Algorithm: Fixed, Limits: []Limit{{Second, 5}}, Batch: -1}, false},
		{"bucket with limits", Policy{Algorithm: TokenBucket, Rate: 1, Limits: []Limit{{Second, 5}}}, false},
		{"zero rate", Policy{Algorithm: TokenBucket}, false},
		{"NaN rate", Policy{Algorithm: TokenBucket, Rate: math.NaN()}, false},
		{"negative burst", Policy{Algorithm: TokenBucket, Rate: 1, Burst: -1}, false},
		{"burst/rate too large", Policy{Algorithm: TokenBucket, Rate: 0.001, Burst: 1e7}, false},
		{"huge burst", Policy{Algorithm: TokenBucket, Rate: 1e9, Burst: 1<<63 - 1}, false},
		{"unknown algorithm", Policy{Algorithm: Algorithm(7)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
