// Package record holds what the proxy tells observers of a request: the
// Record, its attempts and plugin timings, the Observer interface, and
// when a failure is a timeout (Expired). It
// imports nothing of ours, a leaf utility anything may import, so that
// the proxy, the access log in observe and plugins (log plugins, metrics,
// tracing) can all observe requests.
package record

import "time"

// Observer is told of every request once its response is out and the
// plugins' log phase has run: the access log is one, and metrics, log
// plugins and tracing hook in the same way. The record is the proxy's
// pooled one, reused by the next request when Observe returns: an
// observer copies what it keeps.
type Observer interface {
	Observe(r *Record)
}

// Record is one request as the proxy saw it, filled as the request flows
// (attempts and plugin timings when they happen, the rest at its end).
// It names route, service and consumer by strings, not by the snapshot's
// types, so that this package stays a leaf.
type Record struct {
	Time      time.Time // when the gateway received the request
	RequestID string
	ClientIP  string
	Method    string
	URI       string
	Host      string
	Proto     string
	UserAgent string

	Route string
	// RoutePath is the matched route's first configured path ("" when it
	// has none): what metrics name an unnamed route by.
	RoutePath  string
	Service    string
	Consumer   string
	Credential string
	// TraceID is the request's trace id as hex, set by a tracing plugin
	// in the access phase ("" when none traces the request).
	TraceID string
	// Routed is when the router had matched, counted from Time (0: the
	// request never reached the router).
	Routed time.Duration

	Status        int
	BytesSent     int64 // body bytes sent to the client
	BytesReceived int64 // request body bytes the gateway read from the client
	// Latency is the time from receipt to the end of the response, set
	// before the log phase runs.
	Latency time.Duration
	// Source is SourceUpstream or SourceGateway.
	Source string
	// Exit names the plugin whose access phase answered the request ("":
	// none did).
	Exit string
	// RateLimited is set by a rate-limiting plugin that refused the
	// request, whatever status it answered with.
	RateLimited bool
	Error       string

	// Attempts are the upstream attempts in order.
	Attempts []Attempt
	// Answered is 1 + the index of the attempt whose response went to the
	// client (0: none did).
	Answered int

	attemptBuf [2]Attempt // room for the common cases without allocating
	plugins    [MaxPluginTimings]PluginTiming
	nplugins   int
	calls      [MaxCalls]Call
	ncalls     int
}

// MaxCalls bounds the calls a record holds (as MaxPluginTimings does
// plugin timings).
const MaxCalls = 8

// Call is a call the request waited for outside the upstream attempts:
// a Redis command of a rate limit, a DNS lookup. Start counts from the
// request's Time.
type Call struct {
	// Kind names the system called ("redis", "dns").
	Kind string
	// Name is the operation ("EVALSHA", "A example.com").
	Name     string
	Target   string // host:port, "" when unknown
	Start    time.Duration
	Duration time.Duration
	Err      bool
}

// AddCall records a call; past MaxCalls it is dropped.
func (r *Record) AddCall(c Call) {
	if r.ncalls == len(r.calls) {
		return
	}
	r.calls[r.ncalls] = c
	r.ncalls++
}

// Calls are the calls in the order they were made.
func (r *Record) Calls() []Call { return r.calls[:r.ncalls] }

// Attempt is one upstream attempt. Its times are counted from the
// attempt's start; a step not reached (or not seen: HTTP/2 connects and
// sends inside net/http) is 0.
type Attempt struct {
	Target string // host:port
	// Call names the aggregation call the attempt was ("": an attempt of
	// the proxied request). Calls are not retries of one another.
	Call   string
	Status int // 0 when no response head was received
	// Outcome is one of the Outcome constants.
	Outcome string
	// Start is when the attempt began, counted from the request's Time.
	Start     time.Duration
	Connected time.Duration // a connection was in hand
	Head      time.Duration // the response head was read
	End       time.Duration // the attempt failed, or its response body ended
	// BytesIn are the response body bytes read from the upstream (for a
	// WebSocket tunnel, those sent on to the client).
	BytesIn int64
}

// The values of Record.Source and Attempt.Outcome. Observers compare
// against these rather than copy the strings; they are also what the
// access log writes, so their values are part of its format.
const (
	SourceUpstream = "upstream" // a proxied response
	SourceGateway  = "gateway"  // made by the gateway or a plugin (Kong's "kong")

	OutcomeResponse     = "response"      // its response was passed on
	OutcomeStatus       = "status"        // a response with a retryable status, dropped
	OutcomeConnectError = "connect_error" // nothing reached the upstream (refused, connect timeout)
	OutcomeTimeout      = "timeout"       // sent, then no response head in time
	OutcomeError        = "error"         // any other failure, also of a passed-on response's body
)

// Expired reports whether a wait that ends at deadline (zero: none) has
// run out on the clock: a failure seen then is an OutcomeTimeout, whatever
// its error says. What enforces the same deadline (a connection deadline
// set from it, a server's own grpc-timeout resetting the stream) can fail
// the wait before the wait's own timer has run. It reads the monotonic
// clock only (time.Until), as internal/clock does.
func Expired(deadline time.Time) bool {
	return !deadline.IsZero() && time.Until(deadline) <= 0
}

// Code is the attempt's status as NGINX's $upstream_status gives it:
// the response's, else 504 for a timeout and 502 for any other failure.
func (a *Attempt) Code() int {
	switch {
	case a.Status != 0:
		return a.Status
	case a.Outcome == OutcomeTimeout:
		return 504
	}
	return 502
}

// Latency is the time to the response head, or to the failure when there
// was none.
func (a *Attempt) Latency() time.Duration {
	if a.Head > 0 {
		return a.Head
	}
	return a.End
}

// AddAttempt appends an attempt on target and returns its index.
func (r *Record) AddAttempt(target string, start time.Duration) int {
	if r.Attempts == nil {
		r.Attempts = r.attemptBuf[:0]
	}
	r.Attempts = append(r.Attempts, Attempt{Target: target, Start: start})
	return len(r.Attempts) - 1
}

// Retries counts the attempts that repeated an earlier one: those of the
// proxied request after its first. An aggregation's calls are recorded
// once each (a service's own retries add no attempts), so they have none.
func (r *Record) Retries() int {
	if r.Aggregated() {
		return 0
	}
	return max(len(r.Attempts)-1, 0)
}

// Aggregated tells a request answered from aggregation calls rather than
// by proxying.
func (r *Record) Aggregated() bool { return len(r.Attempts) > 0 && r.Attempts[0].Call != "" }

// Answer is the attempt whose response went to the client, nil when none
// did.
func (r *Record) Answer() *Attempt {
	if r.Answered == 0 {
		return nil
	}
	return &r.Attempts[r.Answered-1]
}

// Phase is a phase of the plugin chain.
type Phase uint8

// The plugin phases, in the order a request meets them.
const (
	PhaseAccess Phase = iota
	PhaseHeaderFilter
	PhaseBodyFilter
	PhaseLog
)

var phaseNames = [...]string{"access", "header_filter", "body_filter", "log"}

func (p Phase) String() string { return phaseNames[p] }

// MaxPluginTimings bounds the plugin timings a record holds: a fixed
// array keeps the record allocation-free, and a chain that runs more
// plugin phases than this keeps the first ones.
const MaxPluginTimings = 32

// PluginTiming is one plugin's run in one phase. Start counts from the
// request's Time. A body filter's time is that of wrapping the body; its
// reads happen while the response streams.
type PluginTiming struct {
	Plugin   string
	Phase    Phase
	Start    time.Duration
	Duration time.Duration
}

// AddPlugin records a plugin's run; past MaxPluginTimings it is dropped.
func (r *Record) AddPlugin(name string, p Phase, start, end time.Duration) {
	if r.nplugins == len(r.plugins) {
		return
	}
	r.plugins[r.nplugins] = PluginTiming{Plugin: name, Phase: p, Start: start, Duration: end - start}
	r.nplugins++
}

// Plugins are the plugin runs in the order they happened.
func (r *Record) Plugins() []PluginTiming { return r.plugins[:r.nplugins] }
