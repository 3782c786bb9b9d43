package observe

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/record"
)

// DurationBuckets are the upper bounds, in milliseconds, of
// api_gateway_request_duration_ms: sub-millisecond answers the gateway
// makes itself up to the minute of Kong's default upstream timeouts.
var DurationBuckets = []float64{0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000}

// methods are the label values of the method label; any other method
// (including a known one in another case) is counted as OTHER, so a
// client cannot add series by inventing methods.
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "OTHER"}

const otherMethod = len(methods) - 1

func methodIndex(m string) int {
	for i, v := range methods[:otherMethod] {
		if m == v {
			return i
		}
	}
	return otherMethod
}

// badStatus is the status label of a status outside 100-599 (none was
// written, or an upstream sent a code HTTP does not define).
const badStatus = "000"

// RequestMetrics is the always-on request series, a record.Observer:
// api_gateway_requests_total, api_gateway_request_duration_ms,
// api_gateway_rate_limit_exceeded and turnpike_upstream_retries_total.
//
// Every label value comes from configuration or a fixed set: the route
// is the matched route's name or first path ("" when none matched),
// methods fold into methods, statuses into 100-599 or badStatus. The
// series' children are cached per route, method and status in maps
// that are copied on the rare miss and read without a lock, so the
// common request neither locks nor allocates.
type RequestMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	limited  *prometheus.CounterVec
	retries  *prometheus.CounterVec

	mu     sync.Mutex // serialises the copies on a miss
	routes atomic.Pointer[map[string]*routeSeries]
}

type routeSeries struct {
	route   string
	limited atomic.Pointer[counter]
	methods [len(methods)]atomic.Pointer[methodSeries]
}

type methodSeries struct {
	method   string
	duration prometheus.Observer
	statuses atomic.Pointer[map[int]prometheus.Counter]
}

// counter boxes a Counter for an atomic.Pointer.
type counter struct{ prometheus.Counter }

// NewRequestMetrics registers the series in reg.
func NewRequestMetrics(reg prometheus.Registerer) *RequestMetrics {
	m := &RequestMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api_gateway_requests_total",
			Help: "Requests by method, status and route (route name, else its first path; \"\" when no route matched).",
		}, []string{"method", "status", "route"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "api_gateway_request_duration_ms",
			Help:    "Time from receiving a request to the end of its response, in milliseconds, by route and method.",
			Buckets: DurationBuckets,
		}, []string{"route", "method"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api_gateway_rate_limit_exceeded",
			Help: "Requests a rate limit refused, by route.",
		}, []string{"route"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnpike_upstream_retries_total",
			Help: "Upstream attempts beyond a request's first, by service.",
		}, []string{"service"}),
	}
	reg.MustRegister(m.requests, m.duration, m.limited, m.retries)
	empty := map[string]*routeSeries{}
	m.routes.Store(&empty)
	return m
}

// Observe counts r.
func (m *RequestMetrics) Observe(r *record.Record) {
	route := r.Route
	if route == "" {
		route = r.RoutePath
	}
	rs := m.route(route)
	ms := m.method(rs, methodIndex(r.Method))
	ms.status(m, rs, r.Status).Inc()
	ms.duration.Observe(float64(r.Latency.Microseconds()) / 1000)
	if r.RateLimited {
		m.limitedOf(rs).Inc()
	}
	// Rare enough that the label lookup's cost does not matter.
	if n := r.Retries(); n > 0 {
		m.retries.WithLabelValues(r.Service).Add(float64(n))
	}
}

func (m *RequestMetrics) route(name string) *routeSeries {
	if rs, ok := (*m.routes.Load())[name]; ok {
		return rs
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.routes.Load()
	if rs, ok := cur[name]; ok {
		return rs
	}
	next := make(map[string]*routeSeries, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	rs := &routeSeries{route: name}
	next[name] = rs
	m.routes.Store(&next)
	return rs
}

func (m *RequestMetrics) method(rs *routeSeries, i int) *methodSeries {
	if ms := rs.methods[i].Load(); ms != nil {
		return ms
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ms := rs.methods[i].Load(); ms != nil {
		return ms
	}
	ms := &methodSeries{method: methods[i], duration: m.duration.WithLabelValues(rs.route, methods[i])}
	empty := map[int]prometheus.Counter{}
	ms.statuses.Store(&empty)
	rs.methods[i].Store(ms)
	return ms
}

func (ms *methodSeries) status(m *RequestMetrics, rs *routeSeries, status int) prometheus.Counter {
	if status < 100 || status > 599 {
		status = 0
	}
	if c, ok := (*ms.statuses.Load())[status]; ok {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *ms.statuses.Load()
	if c, ok := cur[status]; ok {
		return c
	}
	label := badStatus
	if status != 0 {
		label = strconv.Itoa(status)
	}
	c := m.requests.WithLabelValues(ms.method, label, rs.route)
	next := make(map[int]prometheus.Counter, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[status] = c
	ms.statuses.Store(&next)
	return c
}

func (m *RequestMetrics) limitedOf(rs *routeSeries) prometheus.Counter {
	if c := rs.limited.Load(); c != nil {
		return c.Counter
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := rs.limited.Load(); c != nil {
		return c.Counter
	}
	c := &counter{m.limited.WithLabelValues(rs.route)}
	rs.limited.Store(c)
	return c.Counter
}
