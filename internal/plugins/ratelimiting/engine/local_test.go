package engine

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFixedRollover(t *testing.T) {
	tests := []struct {
		name     string
		period   Period
		last     time.Time // the last instant of a window
		boundary time.Time // the first of the next
	}{
		{"second", Second, date(2024, 3, 10, 12, 0, 0, 999999999), date(2024, 3, 10, 12, 0, 1, 0)},
		{"minute", Minute, date(2024, 3, 10, 12, 0, 59, 999999999), date(2024, 3, 10, 12, 1, 0, 0)},
		{"hour", Hour, date(2024, 3, 10, 12, 59, 59, 999999999), date(2024, 3, 10, 13, 0, 0, 0)},
		{"day", Day, date(2024, 3, 10, 23, 59, 59, 999999999), date(2024, 3, 11, 0, 0, 0, 0)},
		{"month of 31 days", Month, date(2024, 1, 31, 23, 59, 59, 999999999), date(2024, 2, 1, 0, 0, 0, 0)},
		{"February, leap year", Month, date(2024, 2, 29, 23, 59, 59, 999999999), date(2024, 3, 1, 0, 0, 0, 0)},
		{"February", Month, date(2023, 2, 28, 23, 59, 59, 999999999), date(2023, 3, 1, 0, 0, 0, 0)},
		{"month of 30 days", Month, date(2023, 4, 30, 23, 59, 59, 999999999), date(2023, 5, 1, 0, 0, 0, 0)},
		{"year", Year, date(2023, 12, 31, 23, 59, 59, 999999999), date(2024, 1, 1, 0, 0, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, _ := tt.period.Bounds(tt.last)
			l, clock := newLocal(t, start, 0)
			p := fixed(Limit{tt.period, 3})
			if got := takeN(t, l, "k", p, 2); got != 2 {
				t.Fatalf("admitted %d of 2 at the window's start", got)
			}
			clock.Set(tt.last)
			d := take(t, l, "k", p)
			want := Decision{Allowed: true, Windows: []WindowState{{Period: tt.period, Limit: 3, Remaining: 0, Reset: time.Nanosecond}}}
			if diff := cmp.Diff(want, d); diff != "" {
				t.Errorf("third request (-want +got):\n%s", diff)
			}
			d = take(t, l, "k", p)
			want = Decision{Allowed: false, Windows: []WindowState{{Period: tt.period, Limit: 3, Reset: time.Nanosecond}}, RetryAfter: time.Nanosecond}
			if diff := cmp.Diff(want, d); diff != "" {
				t.Errorf("fourth request (-want +got):\n%s", diff)
			}
			clock.Set(tt.boundary)
			_, end := tt.period.Bounds(tt.boundary)
			d = take(t, l, "k", p)
			want = Decision{Allowed: true, Windows: []WindowState{{Period: tt.period, Limit: 3, Remaining: 2, Reset: end.Sub(tt.boundary)}}}
			if diff := cmp.Diff(want, d); diff != "" {
				t.Errorf("first request of the next window (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFixedMonthLengths(t *testing.T) {
	// One request a month: the window (and Reset) follows the calendar.
	tests := []struct {
		at   time.Time
		days int
	}{
		{date(2023, 2, 1, 0, 0, 0, 0), 28},
		{date(2024, 2, 1, 0, 0, 0, 0), 29},
		{date(2024, 4, 1, 0, 0, 0, 0), 30},
		{date(2024, 7, 1, 0, 0, 0, 0), 31},
	}
	for _, tt := range tests {
		l, clock := newLocal(t, tt.at, 0)
		p := fixed(Limit{Month, 1})
		d := take(t, l, "k", p)
		if !d.Allowed || d.Windows[0].Reset != time.Duration(tt.days)*24*time.Hour {
			t.Errorf("%v: %+v, want a reset in %d days", tt.at, d, tt.days)
		}
		clock.Advance(time.Duration(tt.days)*24*time.Hour - time.Second)
		if d := take(t, l, "k", p); d.Allowed || d.RetryAfter != time.Second {
			t.Errorf("%v: last second of the month: %+v", tt.at, d)
		}
		clock.Advance(time.Second)
		if d := take(t, l, "k", p); !d.Allowed {
			t.Errorf("%v: next month: %+v", tt.at, d)
		}
	}
}

func TestFixedSeveralWindows(t *testing.T) {
	// second: 2, minute: 3. A request rejected by one window is counted in
	// none, so the minute still has room after the second turned requests away.
	at := date(2024, 6, 1, 10, 0, 0, 0)
	l, clock := newLocal(t, at, 0)
	p := fixed(Limit{Second, 2}, Limit{Minute, 3})
	if got := takeN(t, l, "k", p, 5); got != 2 {
		t.Fatalf("first second admitted %d, want 2", got)
	}
	clock.Advance(time.Second)
	d := take(t, l, "k", p)
	want := Decision{Allowed: true, Windows: []WindowState{
		{Period: Second, Limit: 2, Remaining: 1, Reset: time.Second},
		{Period: Minute, Limit: 3, Remaining: 0, Reset: 59 * time.Second},
	}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("third request (-want +got):\n%s", diff)
	}
	clock.Advance(500 * time.Millisecond)
	d = take(t, l, "k", p)
	want = Decision{Allowed: false, RetryAfter: 58500 * time.Millisecond, Windows: []WindowState{
		{Period: Second, Limit: 2, Remaining: 1, Reset: 500 * time.Millisecond},
		{Period: Minute, Limit: 3, Remaining: 0, Reset: 58500 * time.Millisecond},
	}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("rejected by the minute (-want +got):\n%s", diff)
	}
	clock.Set(at.Add(time.Minute))
	if got := takeN(t, l, "k", p, 3); got != 2 {
		t.Errorf("next minute's first second admitted %d, want 2", got)
	}
}

func TestFixedRetryAfterIsTheLatestBlockingWindow(t *testing.T) {
	at := date(2024, 6, 1, 10, 59, 30, 0)
	l, _ := newLocal(t, at, 0)
	p := fixed(Limit{Second, 1}, Limit{Minute, 5}, Limit{Hour, 1})
	take(t, l, "k", p)
	d := take(t, l, "k", p)
	// Blocked by the second (1s) and the hour (30s); the minute has room.
	if d.Allowed || d.RetryAfter != 30*time.Second {
		t.Errorf("got %+v, want rejected with RetryAfter 30s", d)
	}
}

func TestSlidingWeights(t *testing.T) {
	at := date(2024, 6, 1, 10, 0, 0, 0)
	l, clock := newLocal(t, at, 0)
	p := sliding(Limit{Minute, 10})
	if got := takeN(t, l, "k", p, 12); got != 10 {
		t.Fatalf("first window admitted %d, want 10", got)
	}
	// A quarter into the next window the previous one weighs 10 × 0.75 = 7.5:
	// two more fit (9.5), a third would make 10.5.
	clock.Set(at.Add(75 * time.Second))
	d := usage(t, l, "k", p)
	want := Decision{Allowed: true, Windows: []WindowState{{Period: Minute, Limit: 10, Remaining: 2, Reset: 3 * time.Second}}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("usage at 0:15 (-want +got):\n%s", diff)
	}
	if got := takeN(t, l, "k", p, 3); got != 2 {
		t.Fatalf("admitted %d at 0:15, want 2", got)
	}
	// Now 2 + 7.5 = 9.5; one more fits when 2 + 10 × w ≤ 9, i.e. w ≤ 0.7:
	// at 0:18.
	d = take(t, l, "k", p)
	want = Decision{Allowed: false, RetryAfter: 3 * time.Second, Windows: []WindowState{{Period: Minute, Limit: 10, Remaining: 0, Reset: 3 * time.Second}}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("rejected at 0:15 (-want +got):\n%s", diff)
	}
	clock.Advance(3*time.Second - time.Millisecond)
	if d := take(t, l, "k", p); d.Allowed {
		t.Errorf("admitted just before 0:18: %+v", d)
	}
	clock.Advance(time.Millisecond)
	if d := take(t, l, "k", p); !d.Allowed {
		t.Errorf("rejected at 0:18: %+v", d)
	}
	// Two windows later nothing is left of the first one, and this one
	// (3 requests) weighs 3 × 0.5 at its half.
	clock.Set(at.Add(150 * time.Second))
	d = usage(t, l, "k", p)
	if d.Windows[0].Remaining != 8 {
		t.Errorf("at 2:30: %+v, want 8 remaining (3 × 0.5 counted)", d)
	}
	clock.Set(at.Add(180 * time.Second))
	d = usage(t, l, "k", p)
	want = Decision{Allowed: true, Windows: []WindowState{{Period: Minute, Limit: 10, Remaining: 10}}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("usage after two idle windows (-want +got):\n%s", diff)
	}
}

func TestSlidingRetryAfterPastTheWindow(t *testing.T) {
	// Every request in the current window: the estimate only drops once the
	// window has ended and its count decays over the next one.
	at := date(2024, 6, 1, 10, 0, 0, 0)
	l, clock := newLocal(t, at, 0)
	p := sliding(Limit{Minute, 4})
	clock.Advance(30 * time.Second)
	takeN(t, l, "k", p, 4)
	d := take(t, l, "k", p)
	// 4 × (1 - e/60) ≤ 3 at e = 15s into the next window: 45s from now.
	if d.Allowed || d.RetryAfter != 45*time.Second || d.Windows[0].Reset != 45*time.Second {
		t.Errorf("got %+v, want rejected, retry after 45s", d)
	}
	clock.Advance(45 * time.Second)
	if d := take(t, l, "k", p); !d.Allowed {
		t.Errorf("rejected after RetryAfter: %+v", d)
	}
}

func TestSlidingMonth(t *testing.T) {
	// February 2023 (28 days) after a full January: half way through
	// February, half of January still counts.
	l, clock := newLocal(t, date(2023, 1, 10, 0, 0, 0, 0), 0)
	p := sliding(Limit{Month, 100})
	if got := takeN(t, l, "k", p, 100); got != 100 {
		t.Fatal(got)
	}
	clock.Set(date(2023, 2, 15, 0, 0, 0, 0))
	if d := usage(t, l, "k", p); d.Windows[0].Remaining != 50 {
		t.Errorf("mid-February: %+v, want 50 remaining", d)
	}
	if got := takeN(t, l, "k", p, 60); got != 50 {
		t.Errorf("admitted %d mid-February, want 50", got)
	}
}

func TestTokenBucket(t *testing.T) {
	at := date(2024, 6, 1, 10, 0, 0, 0)
	t.Run("nodelay", func(t *testing.T) {
		l, clock := newLocal(t, at, 0)
		p := &Policy{Algorithm: TokenBucket, Rate: 10, Burst: 20, NoDelay: true}
		d := take(t, l, "k", p)
		want := Decision{Allowed: true, Windows: []WindowState{{Period: Second, Limit: 21, Remaining: 20, Reset: 100 * time.Millisecond}}}
		if diff := cmp.Diff(want, d); diff != "" {
			t.Errorf("first request (-want +got):\n%s", diff)
		}
		// limit_req burst=20 nodelay: 21 pass at once, all without delay.
		for i := 2; i <= 21; i++ {
			if d := take(t, l, "k", p); !d.Allowed || d.Delay != 0 {
				t.Fatalf("request %d: %+v", i, d)
			}
		}
		d = take(t, l, "k", p)
		want = Decision{Allowed: false, RetryAfter: 100 * time.Millisecond, Windows: []WindowState{{Period: Second, Limit: 21, Remaining: 0, Reset: 100 * time.Millisecond}}}
		if diff := cmp.Diff(want, d); diff != "" {
			t.Errorf("22nd request (-want +got):\n%s", diff)
		}
		clock.Advance(99 * time.Millisecond)
		if d := take(t, l, "k", p); d.Allowed {
			t.Errorf("admitted before a token came back: %+v", d)
		}
		clock.Advance(time.Millisecond)
		if d := take(t, l, "k", p); !d.Allowed {
			t.Errorf("rejected when a token came back: %+v", d)
		}
		// Refilled after (burst+1)/rate.
		clock.Advance(2100 * time.Millisecond)
		d = usage(t, l, "k", p)
		want = Decision{Allowed: true, Windows: []WindowState{{Period: Second, Limit: 21, Remaining: 21}}}
		if diff := cmp.Diff(want, d); diff != "" {
			t.Errorf("refilled (-want +got):\n%s", diff)
		}
	})
	t.Run("delay", func(t *testing.T) {
		l, clock := newLocal(t, at, 0)
		p := &Policy{Algorithm: TokenBucket, Rate: 10, Burst: 20}
		// Without nodelay the excess is paced at the rate: request i waits
		// (i-1)/rate, up to burst/rate; the next one is rejected.
		for i := 1; i <= 21; i++ {
			d := take(t, l, "k", p)
			if want := time.Duration(i-1) * 100 * time.Millisecond; !d.Allowed || d.Delay != want {
				t.Fatalf("request %d: %+v, want a delay of %v", i, d, want)
			}
		}
		if d := take(t, l, "k", p); d.Allowed || d.RetryAfter != 100*time.Millisecond {
			t.Errorf("22nd request: %+v", d)
		}
		clock.Advance(250 * time.Millisecond)
		d := take(t, l, "k", p)
		// The backlog was 2.1s, 1.85s now: this request waits that long.
		if !d.Allowed || d.Delay != 1850*time.Millisecond {
			t.Errorf("after 250ms: %+v", d)
		}
	})
	t.Run("no burst", func(t *testing.T) {
		l, clock := newLocal(t, at, 0)
		p := &Policy{Algorithm: TokenBucket, Rate: 2}
		if d := take(t, l, "k", p); !d.Allowed || d.Windows[0].Remaining != 0 {
			t.Fatalf("first: %+v", d)
		}
		if d := take(t, l, "k", p); d.Allowed || d.RetryAfter != 500*time.Millisecond {
			t.Fatalf("second: %+v", d)
		}
		clock.Advance(500 * time.Millisecond)
		if d := take(t, l, "k", p); !d.Allowed || d.Delay != 0 {
			t.Fatalf("after 500ms: %+v", d)
		}
	})
	t.Run("slow rate", func(t *testing.T) {
		// 30r/m is 0.5 per second.
		l, clock := newLocal(t, at, 0)
		p := &Policy{Algorithm: TokenBucket, Rate: 0.5, Burst: 1, NoDelay: true}
		if got := takeN(t, l, "k", p, 3); got != 2 {
			t.Fatalf("admitted %d, want 2", got)
		}
		clock.Advance(2 * time.Second)
		if got := takeN(t, l, "k", p, 2); got != 1 {
			t.Fatalf("after 2s admitted %d, want 1", got)
		}
	})
}

func TestCost(t *testing.T) {
	ctx := context.Background()
	l, _ := newLocal(t, date(2024, 6, 1, 10, 0, 0, 0), 0)
	p := fixed(Limit{Minute, 10})
	d, err := l.Take(ctx, "k", p, 7)
	if err != nil || !d.Allowed || d.Windows[0].Remaining != 3 {
		t.Fatalf("cost 7: %+v, %v", d, err)
	}
	if d, _ := l.Take(ctx, "k", p, 4); d.Allowed || d.Windows[0].Remaining != 3 {
		t.Errorf("cost 4 with 3 left: %+v", d)
	}
	if d, _ := l.Take(ctx, "k", p, 3); !d.Allowed || d.Windows[0].Remaining != 0 {
		t.Errorf("cost 3 with 3 left: %+v", d)
	}
	if _, err := l.Take(ctx, "k", p, 0); err == nil {
		t.Error("cost 0 accepted")
	}

	b := &Policy{Algorithm: TokenBucket, Rate: 10, Burst: 4, NoDelay: true}
	if d, _ := l.Take(ctx, "b", b, 5); !d.Allowed || d.Windows[0].Remaining != 0 {
		t.Errorf("bucket cost 5 of 5: %+v", d)
	}
	if d, _ := l.Take(ctx, "b", b, 2); d.Allowed || d.RetryAfter != 200*time.Millisecond {
		t.Errorf("bucket cost 2 on an empty bucket: %+v", d)
	}
	if d, _ := l.Take(ctx, "c", b, 6); d.Allowed {
		t.Errorf("bucket cost above burst+1 admitted: %+v", d)
	}
}

func TestUsageDoesNotCount(t *testing.T) {
	for _, p := range []*Policy{
		fixed(Limit{Second, 3}, Limit{Hour, 5}),
		sliding(Limit{Minute, 3}),
		{Algorithm: TokenBucket, Rate: 1, Burst: 2},
	} {
		t.Run(p.Algorithm.String(), func(t *testing.T) {
			l, _ := newLocal(t, date(2024, 6, 1, 10, 0, 0, 0), 0)
			d := usage(t, l, "k", p)
			if !d.Allowed || d.Windows[0].Remaining != 3 || l.Len() != 0 {
				t.Errorf("fresh key: %+v, %d keys", d, l.Len())
			}
			take(t, l, "k", p)
			for range 5 {
				if d := usage(t, l, "k", p); d.Windows[0].Remaining != 2 {
					t.Fatalf("after one request: %+v", d)
				}
			}
			takeN(t, l, "k", p, 2)
			if d := usage(t, l, "k", p); d.Allowed || d.RetryAfter == 0 || d.Windows[0].Remaining != 0 {
				t.Errorf("exhausted: %+v", d)
			}
		})
	}
}

func TestAlgorithmsAndPoliciesDoNotCollide(t *testing.T) {
	l, _ := newLocal(t, date(2024, 6, 1, 10, 0, 0, 0), 0)
	f, s := fixed(Limit{Minute, 2}), sliding(Limit{Minute, 2})
	takeN(t, l, "k", f, 2)
	if d := take(t, l, "k", s); !d.Allowed || d.Windows[0].Remaining != 1 {
		t.Errorf("sliding after fixed on the same key: %+v", d)
	}
	if d := take(t, l, "other", f); !d.Allowed {
		t.Errorf("another key: %+v", d)
	}
	// A new policy on the same key (a reload adding a limit) keeps the
	// count of the period both have.
	f2 := fixed(Limit{Second, 10}, Limit{Minute, 3})
	if d := take(t, l, "k", f2); !d.Allowed || d.Windows[1].Remaining != 0 || d.Windows[0].Remaining != 9 {
		t.Errorf("new policy: %+v", d)
	}
	if d := take(t, l, "k", f); d.Allowed {
		t.Errorf("old policy after the new one counted: %+v", d)
	}
}

func TestLocalConcurrency(t *testing.T) {
	const goroutines, each, limit = 64, 1000, 10000
	for _, p := range []*Policy{
		fixed(Limit{Second, limit * 10}, Limit{Hour, limit}),
		sliding(Limit{Hour, limit}),
		{Algorithm: TokenBucket, Rate: 1.0 / 3600, Burst: limit - 1, NoDelay: true},
	} {
		t.Run(p.Algorithm.String(), func(t *testing.T) {
			l, _ := newLocal(t, date(2024, 6, 1, 10, 0, 0, 0), 0)
			var allowed atomic.Int64
			var wg sync.WaitGroup
			for range goroutines {
				wg.Go(func() {
					for range each {
						d, err := l.Take(context.Background(), "hot", p, 1)
						if err != nil {
							t.Error(err)
							return
						}
						if d.Allowed {
							allowed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if got := allowed.Load(); got != limit {
				t.Errorf("admitted %d of %d, want exactly %d", got, goroutines*each, limit)
			}
		})
	}
}

func TestLocalMemoryBound(t *testing.T) {
	const keys, cap = 1_000_000, 10_000
	at := date(2024, 6, 1, 10, 0, 0, 0)
	l, clock := newLocal(t, at, cap)
	p := fixed(Limit{Second, 5})
	ctx := context.Background()
	buf := []byte("ip:")
	for i := range keys {
		key := string(strconv.AppendInt(buf[:3], int64(i), 10))
		if d, err := l.Take(ctx, key, p, 1); err != nil || !d.Allowed {
			t.Fatalf("key %d: %+v, %v", i, d, err)
		}
		if i%100_000 == 0 && l.Len() > cap {
			t.Fatalf("%d keys held after %d, cap %d", l.Len(), i+1, cap)
		}
	}
	if n := l.Len(); n > cap || n < cap/2 {
		t.Errorf("%d keys held, want at most %d (and most of it used)", n, cap)
	}
	if l.Evicted() < keys-cap {
		t.Errorf("%d evictions, want at least %d", l.Evicted(), keys-cap)
	}
	// Idle keys expire: once their window is over the sweep drops them.
	clock.Advance(time.Second)
	l.sweepAll()
	if n := l.Len(); n != 0 {
		t.Errorf("%d keys held after every window ended", n)
	}
}

func TestLocalExpiry(t *testing.T) {
	at := date(2024, 6, 1, 10, 0, 0, 0)
	tests := []struct {
		name string
		p    *Policy
		live time.Duration // still held then
		gone time.Duration // dropped by then
	}{
		{"fixed: the longest window's end", fixed(Limit{Second, 5}, Limit{Minute, 5}), 59 * time.Second, time.Minute},
		{"sliding: the end of the window after", sliding(Limit{Minute, 5}), 119 * time.Second, 2 * time.Minute},
		{"token bucket: refilled", &Policy{Algorithm: TokenBucket, Rate: 1, Burst: 5}, 999 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, clock := newLocal(t, at, 0)
			take(t, l, "k", tt.p)
			clock.Set(at.Add(tt.live))
			l.sweepAll()
			if l.Len() != 1 {
				t.Fatalf("dropped at %v", tt.live)
			}
			clock.Set(at.Add(tt.gone))
			l.sweepAll()
			if l.Len() != 0 {
				t.Fatalf("still held at %v", tt.gone)
			}
		})
	}
}

func TestLocalSweeperRuns(t *testing.T) {
	// The background sweep on the real clock drops a second's window.
	l := NewLocal(nil, 0)
	defer l.Close()
	take(t, l, "k", fixed(Limit{Second, 1}))
	deadline := time.Now().Add(5 * time.Second)
	for l.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not drop an expired key within 5s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLocalAtCapAdmitsNewKeys(t *testing.T) {
	// At the cap a new key evicts an idle one (store.Memory's policy,
	// tested there) and is counted from zero, never refused.
	l, _ := newLocal(t, date(2024, 6, 1, 10, 0, 0, 0), 2048)
	p := fixed(Limit{Hour, 1})
	const keys = 5000
	for i := range keys {
		if d := take(t, l, "k"+strconv.Itoa(i), p); !d.Allowed {
			t.Fatalf("key %d refused at the cap: %+v", i, d)
		}
	}
	n := l.Len()
	if n > 2048 {
		t.Errorf("%d keys held, the cap is 2048", n)
	}
	if got, want := l.Evicted(), int64(keys-n); got != want {
		t.Errorf("%d evictions, want %d", got, want)
	}
}
