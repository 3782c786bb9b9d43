package ratelimiting

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugins/ratelimiting/engine"
)

// Kong's header names (kong/plugins/rate-limiting/handler.lua), in the
// canonical form Go's header map keys use.
const (
	hLimit      = "Ratelimit-Limit"
	hRemaining  = "Ratelimit-Remaining"
	hReset      = "Ratelimit-Reset"
	hRetryAfter = "Retry-After"
)

var periodTitles = [...]string{"Second", "Minute", "Hour", "Day", "Month", "Year"}

// maxHeaders is two headers per period, the three RateLimit-* headers and
// Retry-After.
const maxHeaders = 2*len(periodTitles) + 4

// headerPlan is what an instance knows of its headers before any request:
// one entry per window of the policy, in the policy's order, and the names
// of every header it sends, in order.
type headerPlan struct {
	// perPeriod is false for the token bucket, which has no calendar
	// windows to name: it sends only the RateLimit-* headers.
	perPeriod bool
	// minReset is Kong's floor of one second on RateLimit-Reset (fixed
	// windows; a sliding window or bucket with nothing to free says 0).
	minReset int64
	// limits are the windows' limits as sent.
	limits []string
	// fractional is, for a window whose configured limit is fractional,
	// that limit (0 for a whole one); nil when every limit is whole.
	// Kong sends such a limit as is, and limit - usage as the remaining
	// count, while the store counts against the limit's ceiling.
	fractional []float64
	// names are the headers of an admitted request; a refused one adds
	// Retry-After.
	names []string
}

// newHeaderPlan plans the headers of a policy whose period limits were
// configured as configured (one per p.Limits).
func newHeaderPlan(p *engine.Policy, configured []float64) headerPlan {
	hp := headerPlan{perPeriod: p.Algorithm != engine.TokenBucket}
	if p.Algorithm == engine.Fixed {
		hp.minReset = 1
	}
	if !hp.perPeriod {
		hp.limits = []string{strconv.FormatInt(p.Burst+1, 10)}
	}
	for i, l := range p.Limits {
		title := periodTitles[l.Period]
		limit := strconv.FormatInt(l.Max, 10)
		if v := configured[i]; v != math.Trunc(v) {
			if hp.fractional == nil {
				hp.fractional = make([]float64, len(p.Limits))
			}
			hp.fractional[i] = v
			limit = string(appendFraction(nil, v))
		}
		hp.limits = append(hp.limits, limit)
		hp.names = append(hp.names, "X-Ratelimit-Limit-"+title, "X-Ratelimit-Remaining-"+title)
	}
	hp.names = append(hp.names, hLimit, hRemaining, hReset, hRetryAfter)
	return hp
}

// rlHeaders is one response's rate-limit headers, one allocation however
// many windows there are (the numbers share one more string).
type rlHeaders struct {
	names []string // the plan's
	n     int
	vals  [maxHeaders]string
}

// apply sets the headers on a response header map.
func (h *rlHeaders) apply(dst http.Header) {
	for i := 0; i < h.n; i++ {
		dst[h.names[i]] = h.vals[i : i+1 : i+1]
	}
}

// header converts the set into an http.Header for an Exit.
func (h *rlHeaders) header() http.Header {
	out := make(http.Header, h.n)
	h.apply(out)
	return out
}

// build fills h from a decision as Kong's access handler does: for every
// window its limit and what remains; RateLimit-* for the most restrictive
// window (the fewest remaining, on a tie the longer window); and, for a
// refused request, Retry-After.
func (hp *headerPlan) build(h *rlHeaders, d *engine.Decision) {
	ws := d.Windows
	if len(ws) == 0 || len(ws) != len(hp.limits) {
		return
	}
	// The numbers are appended to one buffer, made one string, and every
	// value is a slice of it.
	var buf [20 * maxHeaders]byte
	var cuts [maxHeaders + 1]int
	nums, k := buf[:0], 0
	appendNum := func(v int64) {
		nums = strconv.AppendInt(nums, v, 10)
		k++
		cuts[k] = len(nums)
	}
	appendRemaining := func(i int) {
		if hp.fractional == nil || hp.fractional[i] == 0 {
			appendNum(ws[i].Remaining)
			return
		}
		nums = appendFraction(nums, hp.remaining(ws, i))
		k++
		cuts[k] = len(nums)
	}
	best := 0
	for i := range ws {
		if hp.perPeriod {
			appendRemaining(i)
		}
		if hp.remaining(ws, i) <= hp.remaining(ws, best) {
			best = i
		}
	}
	appendRemaining(best)
	appendNum(max(hp.minReset, ceilSeconds(ws[best].Reset)))
	if !d.Allowed {
		appendNum(max(1, ceilSeconds(d.RetryAfter)))
	}
	s := string(nums)
	num := func(j int) string { return s[cuts[j]:cuts[j+1]] }
	n, j := 0, 0
	if hp.perPeriod {
		for i := range ws {
			h.vals[n], h.vals[n+1] = hp.limits[i], num(j)
			n, j = n+2, j+1
		}
	}
	h.vals[n], h.vals[n+1], h.vals[n+2] = hp.limits[best], num(j), num(j+1)
	n += 3
	if !d.Allowed {
		h.vals[n] = num(j + 2)
		n++
	}
	h.names, h.n = hp.names, n
}

// remaining is what window i has left as Kong counts it: the configured
// limit less the usage, so fractional with a fractional limit, and never
// below 0.
func (hp *headerPlan) remaining(ws []engine.WindowState, i int) float64 {
	if hp.fractional == nil || hp.fractional[i] == 0 {
		return float64(ws[i].Remaining)
	}
	return max(0, hp.fractional[i]-float64(ws[i].Limit-ws[i].Remaining))
}

// appendFraction formats a fractional number as Kong's tostring does
// (Lua's %.14g).
func appendFraction(dst []byte, v float64) []byte {
	return strconv.AppendFloat(dst, v, 'g', 14, 64)
}

// ceilSeconds rounds a duration up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
