package adaptiveconcurrency

import (
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Name is the plugin's name in configs.
const Name = "adaptive-concurrency"

// Priority places the plugin in the access phase just after the circuit
// breaker (1500) and before authentication: a shed request costs nothing.
const Priority = 1490

// Header is set on shed responses.
const Header = "X-Turnpike-Shed"

// DefaultMessage is the message of the 503 sent to shed requests.
const DefaultMessage = "Service overloaded, try again later"

// Config is the plugin's configuration. Durations are in seconds and may be
// fractional.
type Config struct {
	// InitialLimit is the limit used after the first minRTT measurement.
	InitialLimit int `yaml:"initial_limit"`
	// MinLimit and MaxLimit bound the limit; MinLimit is also the
	// concurrency at which minRTT is measured.
	MinLimit int `yaml:"min_limit"`
	MaxLimit int `yaml:"max_limit"`
	// SampleInterval is how often the limit is recomputed.
	SampleInterval float64 `yaml:"sample_interval"`
	// MinRTTInterval is how often minRTT is measured again (0: only once,
	// at start).
	MinRTTInterval float64 `yaml:"min_rtt_interval"`
	// MinRTTRequests is the number of responses a minRTT measurement takes.
	MinRTTRequests int `yaml:"min_rtt_requests"`
	// MinRTTBuffer is the latency increase over minRTT tolerated before the
	// limit goes down, as a fraction of minRTT.
	MinRTTBuffer float64 `yaml:"min_rtt_buffer"`
	// ErrorMessage and ErrorCode make the response sent to shed requests.
	ErrorMessage string `yaml:"error_message"`
	ErrorCode    int    `yaml:"error_code"`
}

// SetDefaults applies the plugin's defaults (Envoy's where it has them).
func (c *Config) SetDefaults() {
	*c = Config{
		InitialLimit:   20,
		MinLimit:       3,
		MaxLimit:       1000,
		SampleInterval: 0.1,
		MinRTTInterval: 60,
		MinRTTRequests: 25,
		MinRTTBuffer:   0.25,
		ErrorMessage:   DefaultMessage,
		ErrorCode:      http.StatusServiceUnavailable,
	}
}

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      Name,
		Priority:  Priority,
		NewConfig: func() any { return &Config{} },
		New:       New,
		// The limit protects an upstream; consumers are not known yet when
		// it runs.
		NoConsumer: true,
	}
}

// params are the validated config in the units the limiter uses.
type params struct {
	initial, min, max float64
	interval          int64 // ns
	minRTTInterval    int64 // ns, 0: never again
	minRTTRequests    int64
	buffer            float64
}

// Instance is a configured adaptive-concurrency plugin.
type Instance struct {
	p       params
	code    int
	message string
	// now is the clock, in nanoseconds since the instance was made.
	now func() int64

	// limiters maps a service id to its *limiter.
	limiters sync.Map
}

// New validates the config and builds the instance.
func New(cfg any, _ plugin.Env) (plugin.Instance, error) {
	return newInstance(cfg.(*Config), nil)
}

func newInstance(c *Config, now func() int64) (*Instance, error) {
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Errors{{Path: path, Message: msg}}...) }
	if c.MinLimit < 1 {
		add("min_limit", "value should be at least 1")
	}
	if c.MaxLimit < c.MinLimit {
		add("max_limit", "value should be at least min_limit")
	}
	if c.InitialLimit < c.MinLimit || c.InitialLimit > c.MaxLimit {
		add("initial_limit", "value should be between min_limit and max_limit")
	}
	if c.SampleInterval < 0.001 || c.SampleInterval > 60 {
		add("sample_interval", "value should be between 0.001 and 60")
	}
	if c.MinRTTInterval != 0 && (c.MinRTTInterval < 1 || c.MinRTTInterval > 86400) {
		add("min_rtt_interval", "value should be 0 or between 1 and 86400")
	}
	if c.MinRTTRequests < 1 {
		add("min_rtt_requests", "value should be at least 1")
	}
	if c.MinRTTBuffer < 0 || c.MinRTTBuffer > 10 {
		add("min_rtt_buffer", "value should be between 0 and 10")
	}
	if c.ErrorCode < 100 || c.ErrorCode > 599 {
		add("error_code", "value should be between 100 and 599")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if now == nil {
		epoch := time.Now()
		now = func() int64 { return int64(time.Since(epoch)) }
	}
	return &Instance{
		p: params{
			initial: float64(c.InitialLimit), min: float64(c.MinLimit), max: float64(c.MaxLimit),
			interval:       int64(c.SampleInterval * float64(time.Second)),
			minRTTInterval: int64(c.MinRTTInterval * float64(time.Second)),
			minRTTRequests: int64(c.MinRTTRequests),
			buffer:         c.MinRTTBuffer,
		},
		code:    c.ErrorCode,
		message: c.ErrorMessage,
		now:     now,
	}, nil
}

// limiter is the state for one service.
type limiter struct {
	// Hot path, lock-free.
	inFlight   atomic.Int64
	limit      atomic.Int64
	sampleSum  atomic.Int64 // ns of latency in the current interval
	sampleN    atomic.Int64
	nextUpdate atomic.Int64 // clock value at which the interval ends
	minRTT     atomic.Int64 // ns, 0 until measured (read by Stats)
	// shed is set when a request was shed in the current interval: the
	// limit was in use.
	shed atomic.Bool
	// measuring is true while minRTT is measured (the limit pinned to
	// min_limit); samples then go to measured, under mu.
	measuring atomic.Bool

	// mu guards the controller state below. The log call that ends an
	// interval takes it with TryLock; while measuring (at most min_limit
	// requests in flight) each sample takes it.
	mu         sync.Mutex
	lim        float64 // the limit before rounding
	measured   []int64 // ns
	deferred   float64 // the limit to restore after measuring
	nextMinRTT int64   // clock value of the next measurement
}

func (in *Instance) limiter(serviceID string) *limiter {
	if l, ok := in.limiters.Load(serviceID); ok {
		return l.(*limiter)
	}
	l := &limiter{deferred: in.p.initial, lim: in.p.min}
	l.measuring.Store(true)
	l.limit.Store(int64(in.p.min))
	l.nextUpdate.Store(in.now() + in.p.interval)
	actual, _ := in.limiters.LoadOrStore(serviceID, l)
	return actual.(*limiter)
}

// Access admits the request if the service has room under its limit, or
// sheds it.
func (in *Instance) Access(c *plugin.Ctx) error {
	if c.Service == nil {
		return nil
	}
	l := in.limiter(c.Service.ID)
	if !l.acquire() {
		if !l.shed.Load() {
			l.shed.Store(true)
		}
		e := plugin.NewExit(in.code, in.message)
		e.Header = http.Header{Header: []string{Name}}
		return e
	}
	if c.Shared == nil {
		c.Shared = make(map[string]any, 2)
	}
	c.Shared[Name] = l
	return nil
}

// Log releases the request's slot, records its latency and, once per
// interval, recomputes the limit.
func (in *Instance) Log(c *plugin.Ctx) {
	l, ok := c.Shared[Name].(*limiter)
	if !ok {
		return
	}
	delete(c.Shared, Name)
	l.inFlight.Add(-1)
	u := &c.Upstream
	switch {
	case u.Addr == "":
	case u.TimedOut:
		if !c.StartedAt.IsZero() {
			l.sample(time.Since(c.StartedAt), &in.p)
		}
	case !u.Failed && u.Latency > 0:
		l.sample(u.Latency, &in.p)
	}
	now := in.now()
	if now >= l.nextUpdate.Load() && l.mu.TryLock() {
		if now >= l.nextUpdate.Load() {
			l.update(now, &in.p)
		}
		l.mu.Unlock()
	}
}

// acquire takes a slot under the limit. The compare-and-swap loop keeps
// in-flight from ever passing the limit, even for a moment, so concurrent
// arrivals at the boundary are not shed needlessly.
func (l *limiter) acquire() bool {
	for {
		n := l.inFlight.Load()
		if n >= l.limit.Load() {
			return false
		}
		if l.inFlight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (l *limiter) sample(d time.Duration, p *params) {
	if l.measuring.Load() {
		l.mu.Lock()
		if l.measuring.Load() && int64(len(l.measured)) < 2*p.minRTTRequests {
			l.measured = append(l.measured, int64(d))
		}
		l.mu.Unlock()
		return
	}
	l.sampleSum.Add(int64(d))
	l.sampleN.Add(1)
}

// update ends an interval: it ends a minRTT measurement that has enough
// samples, starts one when due, or moves the limit by the interval's
// samples. Called with mu held.
func (l *limiter) update(now int64, p *params) {
	l.nextUpdate.Store(now + p.interval)
	saturated := l.shed.Swap(false)
	if l.measuring.Load() {
		if int64(len(l.measured)) < p.minRTTRequests {
			return
		}
		// The median, so that a few requests admitted before the
		// measurement began (at a higher concurrency) do not skew it.
		slices.Sort(l.measured)
		l.minRTT.Store(max(l.measured[len(l.measured)/2], 1))
		l.measured = l.measured[:0]
		l.sampleN.Store(0)
		l.sampleSum.Store(0)
		l.measuring.Store(false)
		l.set(l.deferred, p)
		l.nextMinRTT = math.MaxInt64
		if p.minRTTInterval > 0 {
			l.nextMinRTT = now + p.minRTTInterval
		}
		return
	}
	n := l.sampleN.Swap(0)
	sum := l.sampleSum.Swap(0)
	if now >= l.nextMinRTT {
		// Pin the concurrency low to see the upstream unloaded.
		l.deferred = l.lim
		l.measuring.Store(true)
		l.set(p.min, p)
		return
	}
	if n <= 0 || sum <= 0 {
		return
	}
	sampleRTT := float64(sum) / float64(n)
	gradient := float64(l.minRTT.Load()) * (1 + p.buffer) / sampleRTT
	gradient = min(max(gradient, 0.5), 2)
	next := l.lim * gradient
	next += math.Sqrt(next)
	// Low latency says nothing about a limit that is not used: grow only
	// when requests were shed or at least half the limit is in flight, so
	// that a quiet spell does not leave a limit far above what the
	// upstream was ever seen to take.
	if next > l.lim && !saturated && float64(l.inFlight.Load())*2 < l.lim {
		return
	}
	l.set(next, p)
}

func (l *limiter) set(v float64, p *params) {
	v = min(max(v, p.min), p.max)
	l.lim = v
	l.limit.Store(int64(v))
}

// Stats is the state of one service's limiter.
type Stats struct {
	Limit     int64         `json:"limit"`
	InFlight  int64         `json:"in_flight"`
	MinRTT    time.Duration `json:"min_rtt_ns"`
	Measuring bool          `json:"measuring_min_rtt"`
}

// Limits reports each limiter's state by service id.
func (in *Instance) Limits() map[string]Stats {
	out := map[string]Stats{}
	in.limiters.Range(func(k, v any) bool {
		l := v.(*limiter)
		out[k.(string)] = Stats{
			Limit: l.limit.Load(), InFlight: l.inFlight.Load(),
			MinRTT: time.Duration(l.minRTT.Load()), Measuring: l.measuring.Load(),
		}
		return true
	})
	return out
}
