package engine

import (
	"context"
	"errors"
	"time"

	"github.com/turnpikegw/turnpike/internal/store"
)

// Algorithm selects how windows are counted.
type Algorithm int

const (
	Fixed       Algorithm = iota // calendar-aligned fixed windows (Kong)
	Sliding                      // weighted previous window
	TokenBucket                  // rate + burst (NGINX limit_req)
)

// String returns the algorithm's name as configured (window_type).
func (a Algorithm) String() string {
	switch a {
	case Fixed:
		return "fixed"
	case Sliding:
		return "sliding"
	case TokenBucket:
		return "token-bucket"
	}
	return "unknown"
}

// Period is one of Kong's window names.
type Period int

const (
	Second Period = iota
	Minute
	Hour
	Day
	Month
	Year
)

// String returns Kong's name of the period: "second", "minute", ...
func (p Period) String() string {
	switch p {
	case Second:
		return "second"
	case Minute:
		return "minute"
	case Hour:
		return "hour"
	case Day:
		return "day"
	case Month:
		return "month"
	case Year:
		return "year"
	}
	return "unknown"
}

// ParsePeriod maps Kong's name of a period to the Period.
func ParsePeriod(s string) (Period, bool) {
	for p := Second; p <= Year; p++ {
		if p.String() == s {
			return p, true
		}
	}
	return 0, false
}

// Bounds returns the start and end of the calendar-aligned window of p
// containing t, in UTC: seconds, minutes, hours and days as Kong's
// timestamps (which ignore leap seconds, as Unix time does), months and
// years as calendar months and years, so that a month window lasts 28 to
// 31 days and a year 365 or 366.
func (p Period) Bounds(t time.Time) (start, end time.Time) {
	t = t.UTC()
	switch p {
	case Second:
		start = t.Truncate(time.Second)
		return start, start.Add(time.Second)
	case Minute:
		start = t.Truncate(time.Minute)
		return start, start.Add(time.Minute)
	case Hour:
		start = t.Truncate(time.Hour)
		return start, start.Add(time.Hour)
	case Day:
		// Go's zero time is a UTC midnight, so truncating to whole days
		// gives UTC midnights.
		start = t.Truncate(24 * time.Hour)
		return start, start.Add(24 * time.Hour)
	case Month:
		y, m, _ := t.Date()
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC), time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	default:
		y := t.Year()
		return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(y+1, 1, 1, 0, 0, 0, 0, time.UTC)
	}
}

// Limit is at most Max permits per window of Period.
type Limit struct {
	Period Period
	Max    int64
}

// Policy is one plugin instance's limits, compiled once. A Policy must
// not be changed once a Store has seen it; build a new one instead.
type Policy struct {
	Algorithm Algorithm
	Limits    []Limit // Fixed and Sliding: ordered from shortest period, one per period
	Rate      float64 // TokenBucket: permits per second
	Burst     int64   // TokenBucket: extra permits
	NoDelay   bool    // TokenBucket: nodelay

	// Batch, when above 1, lets the Redis store reserve up to Batch
	// permits of a key in one round trip and hand them out locally until
	// they run out or a window ends (Fixed and Sliding only; see the
	// package documentation for the error this allows). The Local store
	// ignores it.
	Batch int64
}

// Validate reports the first problem that makes p unusable.
func (p *Policy) Validate() error {
	switch p.Algorithm {
	case Fixed, Sliding:
		if len(p.Limits) == 0 {
			return errors.New("ratelimit: at least one limit is required")
		}
		for i, l := range p.Limits {
			if l.Period < Second || l.Period > Year {
				return errors.New("ratelimit: unknown period")
			}
			if l.Max < 1 || l.Max > 1<<52 {
				// Redis scripts count in doubles: stay within their exact integers.
				return errors.New("ratelimit: the limit for " + l.Period.String() + " must be between 1 and 2^52")
			}
			if i > 0 && l.Period <= p.Limits[i-1].Period {
				return errors.New("ratelimit: limits must be ordered from the shortest period, one per period")
			}
		}
		if p.Batch < 0 {
			return errors.New("ratelimit: batch must not be negative")
		}
	case TokenBucket:
		if len(p.Limits) != 0 {
			return errors.New("ratelimit: a token bucket takes rate and burst, not limits")
		}
		if !(p.Rate > 0) || p.Rate > 1e9 {
			return errors.New("ratelimit: rate must be above 0 and at most 1e9 per second")
		}
		if p.Burst < 0 {
			return errors.New("ratelimit: burst must not be negative")
		}
		if p.Burst > 1<<40 || float64(p.Burst+1)/p.Rate > 3e9 {
			// Keeps (burst+1)/rate in nanoseconds within an int64.
			return errors.New("ratelimit: burst/rate must not exceed 3e9 seconds")
		}
	default:
		return errors.New("ratelimit: unknown algorithm")
	}
	return nil
}

// WindowState is one limit's state after a decision.
type WindowState struct {
	Period    Period // for TokenBucket: Second
	Limit     int64  // for TokenBucket: Burst+1, the most admitted at once
	Remaining int64  // never negative
	// Reset is how long until this window frees: for Fixed, until the end
	// of the calendar window; for Sliding, until the weighted count has
	// dropped enough for Remaining to grow by one (0 when nothing is
	// counted); for TokenBucket, until the next token is back (0 when the
	// bucket is full).
	Reset time.Duration
}

// Decision is the outcome of Take.
type Decision struct {
	Allowed bool
	Windows []WindowState // one per Limit, in the policy's order (token bucket: one)
	// RetryAfter, when !Allowed, is how long until a request of the same
	// cost would be admitted if nothing else is counted meanwhile: the
	// latest of the blocking windows' times.
	RetryAfter time.Duration
	// Delay is, for TokenBucket without NoDelay, how long the caller must
	// wait before proxying an admitted request (0 otherwise).
	Delay time.Duration
}

// Store counts requests for keys. Implementations: Local (in-process) and
// Redis. Methods are safe for concurrent use and may still be called after
// Close (Local keeps answering; Redis answers ErrUnavailable). Policies
// given to a Store must have passed Validate.
type Store interface {
	// Take admits or rejects one request (cost n, normally 1) for key
	// under p, atomically across all limits: an admitted request is
	// counted in every window, a rejected one in none.
	Take(ctx context.Context, key string, p *Policy, n int64) (Decision, error)
	// TakeInto is Take that fills d, its Windows in the array of
	// d.Windows when its capacity is enough (a request's pooled room).
	TakeInto(ctx context.Context, key string, p *Policy, n int64, d *Decision) error
	// Usage reports the current state for key without counting; its
	// Allowed and RetryAfter are for a request of cost 1.
	Usage(ctx context.Context, key string, p *Policy) (Decision, error)
	Close()
}

// Clock gives the current time (tests inject a fake one).
type Clock func() time.Time

// RedisOptions configure a Redis store: the connection settings of its
// store.RedisClient (stores from SharedRedis share a client by them), and
// KeyPrefix and MaxLeases, the engine's own. The client's PoolSize is also
// the most pipelines in flight at once; see Pipelining in the package
// documentation.
type RedisOptions struct {
	store.RedisOptions
	// KeyPrefix starts every key (empty: "turnpike:ratelimit:").
	KeyPrefix string
	// MaxLeases bounds the keys holding batched permits at once
	// (0: 65536); past it, keys go to Redis for every request.
	MaxLeases int
}

// ErrUnavailable is returned (wrapped) when Redis cannot be reached, does
// not answer within the timeout, or the breaker is open.
var ErrUnavailable = errors.New("ratelimit: redis unavailable")

// errCost is returned for a cost below 1.
var errCost = errors.New("ratelimit: cost must be at least 1")
