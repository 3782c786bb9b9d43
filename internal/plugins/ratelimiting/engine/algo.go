package engine

import (
	"math"
	"time"
)

// The counting rules shared by the Local store and by the decoding of the
// Redis scripts' replies. Times are Unix nanoseconds.

// window is one limit's counts in its current calendar window.
type window struct {
	period     Period
	start, end int64
	cur        int64
	prev       int64 // Sliding: the previous window's count
}

// periodBounds is Period.Bounds in Unix nanoseconds.
func periodBounds(p Period, now int64) (start, end int64) {
	var size int64
	switch p {
	case Second:
		size = int64(time.Second)
	case Minute:
		size = int64(time.Minute)
	case Hour:
		size = int64(time.Hour)
	case Day:
		size = int64(24 * time.Hour)
	default:
		s, e := p.Bounds(time.Unix(0, now))
		return s.UnixNano(), e.UnixNano()
	}
	start = now - now%size
	if now < 0 && now%size != 0 {
		start -= size
	}
	return start, start + size
}

// roll moves w to the window of its period containing now. The count of the window
// just before becomes prev; an older one is forgotten.
func (w *window) roll(now int64) {
	if now >= w.start && now < w.end {
		return
	}
	start, end := periodBounds(w.period, now)
	if start == w.end {
		w.prev = w.cur
	} else {
		w.prev = 0
	}
	w.cur = 0
	w.start, w.end = start, end
}

// estimate is the count a limit is checked against at now: the window's
// count, plus for Sliding the previous window's count weighted by the part
// of the current window still to run.
func (w *window) estimate(alg Algorithm, now int64) float64 {
	if alg != Sliding || w.prev == 0 {
		return float64(w.cur)
	}
	return float64(w.prev)*float64(w.end-now)/float64(w.end-w.start) + float64(w.cur)
}

// room is how many permits fit in the window at now (negative when over).
func (w *window) room(alg Algorithm, max int64, now int64) int64 {
	if alg != Sliding {
		return max - w.cur
	}
	return int64(math.Floor(float64(max) - w.estimate(alg, now)))
}

// nextEnd is the end of the window after w.
func (w *window) nextEnd() int64 {
	if w.period <= Day {
		return w.end + (w.end - w.start)
	}
	_, end := w.period.Bounds(time.Unix(0, w.end))
	return end.UnixNano()
}

// until is how long from now until the window's estimate is at most
// target, if nothing more is counted. A Fixed window frees at its end.
func (w *window) until(alg Algorithm, target float64, now int64) time.Duration {
	if alg != Sliding {
		return time.Duration(w.end - now)
	}
	if w.estimate(alg, now) <= target {
		return 0
	}
	size := float64(w.end - w.start)
	cur, prev := float64(w.cur), float64(w.prev)
	if prev > 0 && target >= cur {
		// Within this window, as the previous one's weight decays.
		t := float64(w.end) - (target-cur)*size/prev
		return time.Duration(math.Ceil(t - float64(now)))
	}
	// Only after this window ends, as its count (then the previous one)
	// decays over the next window.
	next := w.nextEnd()
	if target < 0 || cur == 0 {
		return time.Duration(next - now)
	}
	t := float64(next) - target*float64(next-w.end)/cur
	return time.Duration(math.Ceil(t - float64(now)))
}

// state describes the window for a Decision.
func (w *window) state(alg Algorithm, l Limit, now int64) WindowState {
	s := WindowState{Period: l.Period, Limit: l.Max}
	if alg != Sliding {
		s.Remaining = max(0, l.Max-w.cur)
		s.Reset = time.Duration(w.end - now)
		return s
	}
	est := w.estimate(alg, now)
	s.Remaining = min(l.Max, max(0, int64(math.Floor(float64(l.Max)-est))))
	if est > 0 {
		s.Reset = w.until(alg, float64(l.Max-s.Remaining-1), now)
	}
	return s
}

// windowsDecision fills d for windows ws of p (one per limit, already
// counted when allowed) at now, for a request of cost n.
func windowsDecision(p *Policy, ws []window, now, n int64, allowed bool, d *Decision) {
	d.Allowed = allowed
	d.Windows = windowStates(d.Windows, len(ws))
	for i := range ws {
		w, l := &ws[i], p.Limits[i]
		d.Windows[i] = w.state(p.Algorithm, l, now)
		if !allowed && w.room(p.Algorithm, l.Max, now) < n {
			d.RetryAfter = max(d.RetryAfter, w.until(p.Algorithm, float64(l.Max-n), now))
		}
	}
}

// windowStates is n window states, in room's array when its capacity is
// enough.
func windowStates(room []WindowState, n int) []WindowState {
	if cap(room) >= n {
		return room[:n]
	}
	return make([]WindowState, n)
}

// interval is the time one token takes to come back, in nanoseconds.
func interval(rate float64) int64 {
	return max(1, int64(1e9/rate))
}

// bucketTake decides a request of cost n against a token bucket whose
// theoretical arrival time is *tat (the moment every admitted permit has
// drained; at or before now the bucket is full), counting it when
// admitted. The last of the n permits would wait tat-now+(n-1)T; NGINX
// admits it when that wait is at most Burst intervals.
func bucketTake(p *Policy, tat *int64, now, n int64) bool {
	t := interval(p.Rate)
	start := max(*tat, now)
	if start-now+(n-1)*t > p.Burst*t {
		return false
	}
	*tat = start + n*t
	return true
}

// bucketDecision fills d for a token bucket at tat for a request of cost
// n, counted (tat includes it) or not.
func bucketDecision(p *Policy, tat, now, n int64, allowed, counted bool, d *Decision) {
	t := interval(p.Rate)
	x := max(tat, now) - now // time until the bucket is full again
	s := WindowState{Period: Second, Limit: p.Burst + 1}
	if free := (p.Burst+1)*t - x; free > 0 {
		s.Remaining = free / t
	}
	if x > 0 {
		r := x % t
		if r == 0 {
			r = t
		}
		s.Reset = time.Duration(r)
	}
	d.Allowed = allowed
	d.Windows = append(windowStates(d.Windows, 0), s)
	switch {
	case allowed:
		if counted && !p.NoDelay {
			d.Delay = time.Duration(max(0, x-t)) // the last permit's wait
		}
	case n <= p.Burst+1:
		d.RetryAfter = time.Duration(max(0, x-(p.Burst-n+1)*t))
	default:
		d.RetryAfter = time.Duration(x) // never fits: until the bucket is full
	}
}
