package circuitbreaker

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Name is the plugin's name in configs.
const Name = "circuit-breaker"

// Priority places the plugin in the access phase: after cors (2000) and
// bot-detection (2500), before the authentication plugins (jwt 1450,
// key-auth 1250...), rate limiting (910) and transformations.
const Priority = 1500

// Header is set on the responses the breaker makes, with the state that
// refused the request (open or half-open).
const Header = "X-Turnpike-Circuit-Breaker"

// DefaultMessage is the message of the 503 sent while the breaker is open.
const DefaultMessage = "Service unavailable: circuit breaker is open"

// Config is the plugin's configuration. Durations are in seconds and may be
// fractional.
type Config struct {
	// Window is the rolling window over which outcomes are counted.
	Window float64 `yaml:"window"`
	// MinRequests is the number of outcomes the window must hold before the
	// breaker may open.
	MinRequests int `yaml:"min_requests"`
	// FailureRatio opens the breaker when failures/outcomes reaches it
	// (0 turns the ratio rule off; failure_count must then be set).
	FailureRatio float64 `yaml:"failure_ratio"`
	// FailureCount, when above 0, also opens the breaker when the window
	// holds that many failures.
	FailureCount int `yaml:"failure_count"`
	// OpenTimeout is how long the breaker stays open before probing.
	OpenTimeout float64 `yaml:"open_timeout"`
	// HalfOpenRequests is the number of probes let through when half-open;
	// all must succeed to close the breaker.
	HalfOpenRequests int `yaml:"half_open_requests"`
	// FailureStatuses are the upstream statuses counted as failures.
	FailureStatuses []int `yaml:"failure_statuses"`
	// ErrorMessage and ErrorCode make the response sent instead of proxying.
	ErrorMessage string `yaml:"error_message"`
	ErrorCode    int    `yaml:"error_code"`
}

// SetDefaults applies the plugin's defaults.
func (c *Config) SetDefaults() {
	*c = Config{
		Window:           10,
		MinRequests:      20,
		FailureRatio:     0.5,
		OpenTimeout:      30,
		HalfOpenRequests: 3,
		FailureStatuses:  []int{500, 502, 503, 504},
		ErrorMessage:     DefaultMessage,
		ErrorCode:        http.StatusServiceUnavailable,
	}
}

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      Name,
		Priority:  Priority,
		NewConfig: func() any { return &Config{} },
		New:       New,
		// Consumers are known only after authentication, which runs later;
		// and a breaker protects an upstream, not a client.
		NoConsumer: true,
	}
}

// breaker is the TwoStep form of gobreaker: Allow in the access phase, the
// returned done func in the log phase.
type breaker = gobreaker.TwoStepCircuitBreaker[struct{}]

// Instance is a configured circuit-breaker plugin.
type Instance struct {
	settings   gobreaker.Settings
	failStatus [600]bool
	code       int
	message    string

	// breakers maps a service id to its *entry. Entries are only added:
	// a service removed by a reload keeps its (idle) breaker until the
	// instance itself is replaced.
	breakers sync.Map
	// states reports the breakers in /metrics (nil: not reported).
	states *states
}

// entry is a service's breaker and the service's name for metrics.
type entry struct {
	b       *breaker
	service string
}

var (
	errFailure  = errors.New("upstream failure")
	errExcluded = errors.New("not an upstream response")
)

// New validates the config and builds the instance.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	c := cfg.(*Config)
	var errs plugin.Errors
	add := func(path, msg string) { errs = append(errs, plugin.Errors{{Path: path, Message: msg}}...) }
	if c.Window <= 0 || c.Window > 3600 {
		add("window", "value should be between 0 and 3600 (exclusive of 0)")
	}
	if c.MinRequests < 1 {
		add("min_requests", "value should be at least 1")
	}
	if c.FailureRatio < 0 || c.FailureRatio > 1 {
		add("failure_ratio", "value should be between 0 and 1")
	}
	if c.FailureCount < 0 {
		add("failure_count", "value should be at least 0")
	}
	if c.FailureRatio == 0 && c.FailureCount == 0 {
		add("", "at least one of failure_ratio or failure_count must be set")
	}
	if c.OpenTimeout <= 0 || c.OpenTimeout > 86400 {
		add("open_timeout", "value should be between 0 and 86400 (exclusive of 0)")
	}
	if c.HalfOpenRequests < 1 || c.HalfOpenRequests > 10000 {
		add("half_open_requests", "value should be between 1 and 10000")
	}
	if len(c.FailureStatuses) == 0 {
		add("failure_statuses", "at least one status is required")
	}
	in := &Instance{code: c.ErrorCode, message: c.ErrorMessage}
	for i, s := range c.FailureStatuses {
		if s < 100 || s > 599 {
			add("failure_statuses["+strconv.Itoa(i)+"]", "value should be between 100 and 599")
			continue
		}
		in.failStatus[s] = true
	}
	if c.ErrorCode < 100 || c.ErrorCode > 599 {
		add("error_code", "value should be between 100 and 599")
	}
	if len(errs) > 0 {
		return nil, errs
	}

	minRequests := uint32(c.MinRequests)
	count := uint32(c.FailureCount)
	ratio := c.FailureRatio
	window := seconds(c.Window)
	in.settings = gobreaker.Settings{
		Name:         Name,
		MaxRequests:  uint32(c.HalfOpenRequests),
		Interval:     window,
		BucketPeriod: window / 10,
		Timeout:      seconds(c.OpenTimeout),
		ReadyToTrip: func(n gobreaker.Counts) bool {
			// Requests also counts requests still in flight and excluded
			// ones; only finished, counted outcomes make the volume.
			outcomes := n.TotalSuccesses + n.TotalFailures
			if outcomes < minRequests {
				return false
			}
			if count > 0 && n.TotalFailures >= count {
				return true
			}
			return ratio > 0 && float64(n.TotalFailures) >= ratio*float64(outcomes)
		},
		IsExcluded: func(err error) bool { return err == errExcluded },
	}
	if env.Metrics != nil {
		in.states = plugin.RegisterMetric(env.Metrics, newStates())
		in.states.add(in)
	}
	return in, nil
}

// Close stops reporting the instance's breakers: a reload replaced it.
func (in *Instance) Close() {
	if in.states != nil {
		in.states.remove(in)
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func (in *Instance) breaker(svc *plugin.ServiceInfo) *breaker {
	if e, ok := in.breakers.Load(svc.ID); ok {
		return e.(*entry).b
	}
	name := svc.Name
	if name == "" {
		name = svc.ID
	}
	e, _ := in.breakers.LoadOrStore(svc.ID, &entry{b: gobreaker.NewTwoStepCircuitBreaker[struct{}](in.settings), service: name})
	return e.(*entry).b
}

// Access lets the request through, carrying the breaker's done func to the
// log phase, or answers it when the breaker is open or its half-open probes
// are taken.
func (in *Instance) Access(c *plugin.Ctx) error {
	if c.Service == nil {
		return nil
	}
	done, err := in.breaker(c.Service).Allow()
	if err != nil {
		state := "open"
		if errors.Is(err, gobreaker.ErrTooManyRequests) {
			state = "half-open"
		}
		e := plugin.NewExit(in.code, in.message)
		e.Header = http.Header{Header: []string{state}}
		return e
	}
	if c.Shared == nil {
		c.Shared = make(map[string]any, 2)
	}
	c.Shared[Name] = done
	return nil
}

// Log reports the request's outcome to the breaker that let it through.
func (in *Instance) Log(c *plugin.Ctx) {
	done, ok := c.Shared[Name].(func(error))
	if !ok {
		return
	}
	delete(c.Shared, Name)
	done(in.outcome(&c.Upstream))
}

// outcome classifies the last upstream attempt: nil for a success,
// errFailure, or errExcluded when no upstream answered.
func (in *Instance) outcome(u *plugin.UpstreamResult) error {
	switch {
	case u.Addr == "":
		return errExcluded
	case u.Failed || u.TimedOut:
		return errFailure
	case u.Status >= 0 && u.Status < len(in.failStatus) && in.failStatus[u.Status]:
		return errFailure
	}
	return nil
}

// States reports each breaker's state by service id: "closed", "open" or
// "half-open" (an open breaker whose open_timeout has passed reports
// half-open).
func (in *Instance) States() map[string]string {
	out := map[string]string{}
	in.breakers.Range(func(k, v any) bool {
		out[k.(string)] = v.(*entry).b.State().String()
		return true
	})
	return out
}
