package prometheus

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
)

// Kong's buckets (exporter.lua), in milliseconds.
var (
	kongLatencyBuckets     = []float64{1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000}
	upstreamLatencyBuckets = []float64{25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000}
)

const (
	// workspace is Kong's label value outside Kong Enterprise.
	workspace = "default"
	subsystem = "http"

	dirIngress = "ingress"
	dirEgress  = "egress"

	// maxSeries bounds the cached label children. Label values come from
	// the configuration, so this is reached only by a configuration with
	// more (service, route, consumer) combinations in use, or by many
	// reloads renaming them; past it a request finds its children through
	// the vectors (slower, still counted).
	maxSeries = 4096

	// datastoreTimeout bounds the datastore check of one scrape.
	datastoreTimeout = 2 * time.Second
)

// targetStates are the states kong_upstream_target_health shows for every
// address, one series each, 1 for the address's state.
var targetStates = [...]string{plugin.TargetHealthchecksOff, plugin.TargetHealthy, plugin.TargetUnhealthy, plugin.TargetDNSError}

// exporter is the collector every instance records into, registered once
// in the gateway's registry (plugin.RegisterMetric returns the first).
type exporter struct {
	node plugin.Node
	// live counts the instances in force; health those of them that ask
	// for upstream health metrics (Kong: any instance enables them).
	live, health atomic.Int64

	requests       *prometheus.CounterVec
	kongLatency    *prometheus.HistogramVec
	upLatency      *prometheus.HistogramVec
	requestLatency *prometheus.HistogramVec
	bandwidth      *prometheus.CounterVec
	errors         prometheus.Counter

	connections, nginxRequests, targetHealth, datastore, nodeInfo *prometheus.Desc

	// cache maps a series key to its label children (see series); dirty
	// and misses are under mu, which also guards making children.
	cache  atomic.Pointer[map[seriesKey]*series]
	mu     sync.Mutex
	dirty  map[seriesKey]*series
	misses int
	// discard takes what a vector refused (label values that are not
	// UTF-8): counted in errors, recorded nowhere.
	discard prometheus.Counter
}

func newExporter(node plugin.Node) *exporter {
	latency := []string{"service", "route", "workspace"}
	e := &exporter{
		node: node,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kong_http_requests_total", Help: "HTTP status codes per consumer/service/route in Kong",
		}, []string{"service", "route", "code", "source", "workspace", "consumer"}),
		kongLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kong_kong_latency_ms", Help: "Latency added by Kong and enabled plugins for each service/route in Kong",
			Buckets: kongLatencyBuckets,
		}, latency),
		upLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kong_upstream_latency_ms", Help: "Latency added by upstream response for each service/route in Kong",
			Buckets: upstreamLatencyBuckets,
		}, latency),
		requestLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kong_request_latency_ms", Help: "Total latency incurred during requests for each service/route in Kong",
			Buckets: upstreamLatencyBuckets,
		}, latency),
		bandwidth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kong_bandwidth_bytes", Help: "Total bandwidth (ingress/egress) throughput in bytes",
		}, []string{"service", "route", "direction", "workspace", "consumer"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kong_nginx_metric_errors_total", Help: "Number of nginx-lua-prometheus errors",
		}),
		connections: prometheus.NewDesc("kong_nginx_connections_total", "Number of connections by subsystem",
			[]string{"node_id", "subsystem", "state"}, nil),
		nginxRequests: prometheus.NewDesc("kong_nginx_requests_total", "Number of requests total",
			[]string{"node_id", "subsystem"}, nil),
		targetHealth: prometheus.NewDesc("kong_upstream_target_health",
			"Health status of targets of upstream. States = healthchecks_off|healthy|unhealthy|dns_error, value is 1 when state is populated.",
			[]string{"upstream", "target", "address", "state", "subsystem"}, nil),
		datastore: prometheus.NewDesc("kong_datastore_reachable", "Datastore reachable from Kong, 0 is unreachable", nil, nil),
		nodeInfo: prometheus.NewDesc("kong_node_info", "Kong Node metadata information",
			[]string{"node_id", "version"}, nil),
		discard: prometheus.NewCounter(prometheus.CounterOpts{Name: "discard", Help: "Unregistered."}),
	}
	e.cache.Store(&map[seriesKey]*series{})
	return e
}

// enlist adds n (1 or -1) instances in force.
func (e *exporter) enlist(health bool, n int64) {
	e.live.Add(n)
	if health {
		e.health.Add(n)
	}
}

func (e *exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range e.collectors() {
		c.Describe(ch)
	}
	for _, d := range [...]*prometheus.Desc{e.connections, e.nginxRequests, e.targetHealth, e.datastore, e.nodeInfo} {
		ch <- d
	}
}

func (e *exporter) collectors() [6]prometheus.Collector {
	return [...]prometheus.Collector{e.requests, e.kongLatency, e.upLatency, e.requestLatency, e.bandwidth, e.errors}
}

// Collect shows the series while an instance is in force; the node-wide
// ones are read now.
func (e *exporter) Collect(ch chan<- prometheus.Metric) {
	if e.live.Load() <= 0 {
		return
	}
	for _, c := range e.collectors() {
		c.Collect(ch)
	}
	if e.node != nil {
		e.collectNode(ch)
	}
}

func (e *exporter) collectNode(ch chan<- prometheus.Metric) {
	id := e.node.ID()
	e.gauge(ch, e.nodeInfo, 1, id, e.node.Version())
	cs := e.node.Connections()
	for _, s := range [...]struct {
		state string
		v     uint64
	}{
		{"accepted", cs.Accepted}, {"active", cs.Active}, {"handled", cs.Handled}, {"reading", cs.Reading},
		{"total", cs.Requests}, {"waiting", cs.Waiting}, {"writing", cs.Writing},
	} {
		e.gauge(ch, e.connections, float64(s.v), id, subsystem, s.state)
	}
	e.gauge(ch, e.nginxRequests, float64(cs.Requests), id, subsystem)
	ctx, cancel := context.WithTimeout(context.Background(), datastoreTimeout)
	reachable := e.node.DatastoreReachable(ctx)
	cancel()
	e.gauge(ch, e.datastore, bool01(reachable))
	if e.health.Load() > 0 {
		e.collectTargets(ch)
	}
}

// collectTargets shows every address of every target in each of Kong's
// states, 1 for the one it is in. An address reported twice (a target
// configured twice) is shown once: a registry refuses a scrape with a
// series twice.
func (e *exporter) collectTargets(ch chan<- prometheus.Metric) {
	type addr struct{ upstream, target, address string }
	seen := map[addr]bool{}
	for _, t := range e.node.Targets() {
		a := addr{t.Upstream, t.Target, t.Address}
		if seen[a] {
			continue
		}
		seen[a] = true
		for _, st := range targetStates {
			e.gauge(ch, e.targetHealth, bool01(st == t.State), t.Upstream, t.Target, t.Address, st, subsystem)
		}
	}
}

// gauge sends a gauge; label values that are not UTF-8 are counted as an
// error, as the registry would fail the whole scrape for them.
func (e *exporter) gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
	if err != nil {
		e.errors.Inc()
		return
	}
	ch <- m
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// seriesKey is what a request's label values come from.
type seriesKey struct{ service, route, consumer string }

// series holds the label children of one key, each made on first use
// (Kong shows a series only once something was counted into it).
type series struct {
	key                   seriesKey
	ingress, egress       atomic.Pointer[counter]
	kong, upstream, total atomic.Pointer[observer]
	// codes are the kong_http_requests_total children by statusKey.
	codes atomic.Pointer[map[uint16]prometheus.Counter]
}

type counter struct{ prometheus.Counter }
type observer struct{ prometheus.Observer }

// statusKey packs a status code and whether the upstream answered.
func statusKey(code int, upstream bool) uint16 {
	k := uint16(code) << 1
	if upstream {
		k |= 1
	}
	return k
}

// series returns key's children, cached; past maxSeries keys a fresh,
// uncached set. The cache works as sync.Map does: a read-only map a
// request reads without a lock, and the keys added since in a dirty copy
// under mu that replaces it once it was missed as often as it holds keys,
// so a new key costs amortised O(1).
func (e *exporter) series(key seriesKey) *series {
	if s, ok := (*e.cache.Load())[key]; ok {
		return s
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	read := *e.cache.Load()
	if s, ok := read[key]; ok {
		return s
	}
	s, ok := e.dirty[key]
	if !ok {
		s = &series{key: key}
		if max(len(read), len(e.dirty)) >= maxSeries {
			return s
		}
		if e.dirty == nil {
			e.dirty = make(map[seriesKey]*series, len(read)+1)
			for k, v := range read {
				e.dirty[k] = v
			}
		}
		e.dirty[key] = s
	}
	if e.misses++; e.misses >= len(e.dirty) {
		next := e.dirty
		e.cache.Store(&next)
		e.dirty, e.misses = nil, 0
	}
	return s
}

// countStatus counts a response: source is Kong's, "service" when the
// upstream answered, "kong" when the gateway or a plugin did.
func (e *exporter) countStatus(s *series, code int, upstream bool) {
	k := statusKey(code, upstream)
	if m := s.codes.Load(); m != nil {
		if c, ok := (*m)[k]; ok {
			c.Inc()
			return
		}
	}
	e.addStatus(s, code, upstream, k).Inc()
}

func (e *exporter) addStatus(s *series, code int, upstream bool, k uint16) prometheus.Counter {
	e.mu.Lock()
	defer e.mu.Unlock()
	var m map[uint16]prometheus.Counter
	if p := s.codes.Load(); p != nil {
		m = *p
	}
	if c, ok := m[k]; ok {
		return c
	}
	source := "kong"
	if upstream {
		source = "service"
	}
	c, err := e.requests.GetMetricWithLabelValues(s.key.service, s.key.route, strconv.Itoa(code), source, workspace, s.key.consumer)
	if err != nil {
		e.errors.Inc()
		return e.discard
	}
	next := make(map[uint16]prometheus.Counter, len(m)+1)
	for k, v := range m {
		next[k] = v
	}
	next[k] = c
	s.codes.Store(&next)
	return c
}

// bytes returns the bandwidth child of direction dir in slot.
func (e *exporter) bytes(s *series, slot *atomic.Pointer[counter], dir string) prometheus.Counter {
	if c := slot.Load(); c != nil {
		return c.Counter
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := slot.Load(); c != nil {
		return c.Counter
	}
	c, err := e.bandwidth.GetMetricWithLabelValues(s.key.service, s.key.route, dir, workspace, s.key.consumer)
	if err != nil {
		e.errors.Inc()
		return e.discard
	}
	slot.Store(&counter{c})
	return c
}

// histogram returns the child of v in slot.
func (e *exporter) histogram(s *series, slot *atomic.Pointer[observer], v *prometheus.HistogramVec) prometheus.Observer {
	if o := slot.Load(); o != nil {
		return o.Observer
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if o := slot.Load(); o != nil {
		return o.Observer
	}
	o, err := v.GetMetricWithLabelValues(s.key.service, s.key.route, workspace)
	if err != nil {
		e.errors.Inc()
		return prometheus.ObserverFunc(func(float64) {})
	}
	slot.Store(&observer{o})
	return o
}

// observeLatencies records Kong's three latencies (kong.log.serialize's
// latencies) in milliseconds: request, the whole; kong, the time until
// the last upstream attempt began (Kong's proxy latency at its last
// balancer run), or for a response the gateway made, until the access
// phase ended; upstream, the last attempt's time to its response head or
// failure (Kong's waiting time), only when an attempt was made.
func (e *exporter) observeLatencies(s *series, r *record.Record) {
	e.histogram(s, &s.total, e.requestLatency).Observe(ms(r.Latency))
	e.histogram(s, &s.kong, e.kongLatency).Observe(ms(kongLatency(r)))
	if n := len(r.Attempts); n > 0 {
		e.histogram(s, &s.upstream, e.upLatency).Observe(ms(r.Attempts[n-1].Latency()))
	}
}

func kongLatency(r *record.Record) time.Duration {
	if n := len(r.Attempts); n > 0 {
		return r.Attempts[n-1].Start
	}
	end := r.Routed
	for _, p := range r.Plugins() {
		if p.Phase == record.PhaseAccess {
			end = max(end, p.Start+p.Duration)
		}
	}
	return end
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
