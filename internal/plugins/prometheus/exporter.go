package prometheus

import (
	"context"
	"log/slog"
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
	// the vectors' own lookups (a hash and a read lock each, still
	// counted).
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
	// and misses are under mu, which also guards making children. full is
	// set once cache holds maxSeries keys, and never cleared: from then on
	// cache is the whole set, and a key it lacks is looked up without mu.
	cache  atomic.Pointer[map[seriesKey]*series]
	full   atomic.Bool
	mu     sync.Mutex
	dirty  map[seriesKey]*series
	misses int
	logger *slog.Logger // nil: none
}

func newExporter(node plugin.Node, logger *slog.Logger) *exporter {
	latency := []string{"service", "route", "workspace"}
	e := &exporter{
		node:   node,
		logger: logger,
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

// gauge sends a gauge. Its label values are the configuration's, the
// node's id and version, and target addresses (IP:port): UTF-8, as the
// request series' are (see countStatus).
func (e *exporter) gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
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

// series returns key's children, cached, or nil once the cache is full
// and lacks key. The cache works as sync.Map does: a read-only map a
// request reads without a lock, and the keys added since in a dirty copy
// under mu that replaces it once it was missed as often as it holds keys,
// so a new key costs amortised O(1). The copy that reaches maxSeries
// keys replaces it at once and fills it: from then on a key the read map
// lacks is answered nil without mu.
func (e *exporter) series(key seriesKey) *series {
	if s, ok := (*e.cache.Load())[key]; ok {
		return s
	}
	if e.full.Load() {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	read := *e.cache.Load()
	if s, ok := read[key]; ok {
		return s
	}
	if e.full.Load() {
		return nil
	}
	s, ok := e.dirty[key]
	if !ok {
		if e.dirty == nil {
			e.dirty = make(map[seriesKey]*series, len(read)+1)
			for k, v := range read {
				e.dirty[k] = v
			}
		}
		s = &series{key: key}
		e.dirty[key] = s
	}
	if e.misses++; e.misses >= len(e.dirty) || len(e.dirty) >= maxSeries {
		next := e.dirty
		e.cache.Store(&next)
		e.dirty, e.misses = nil, 0
		if len(next) >= maxSeries {
			e.full.Store(true)
			if e.logger != nil {
				e.logger.Warn(name+": more than maxSeries (service, route, consumer) label sets in use; the others are counted through slower lookups",
					"maxSeries", maxSeries)
			}
		}
	}
	return s
}

// Label values are UTF-8 (config/limits.go refuses a document that is
// not, and every value comes from the configuration) and their number is
// fixed, so WithLabelValues cannot panic.

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
	c := e.requests.WithLabelValues(s.key.service, s.key.route, codeText(code), source(upstream), workspace, s.key.consumer)
	next := make(map[uint16]prometheus.Counter, len(m)+1)
	for k, v := range m {
		next[k] = v
	}
	next[k] = c
	s.codes.Store(&next)
	return c
}

func source(upstream bool) string {
	if upstream {
		return "service"
	}
	return "kong"
}

// codeTexts are the status codes 100 to 599 as text, made once: a
// request past the cache formats its code without allocating.
var codeTexts = func() (t [500]string) {
	for i := range t {
		t[i] = strconv.Itoa(100 + i)
	}
	return t
}()

func codeText(code int) string {
	if code >= 100 && code < 600 {
		return codeTexts[code-100]
	}
	return strconv.Itoa(code)
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
	c := e.bandwidth.WithLabelValues(s.key.service, s.key.route, dir, workspace, s.key.consumer)
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
	o := v.WithLabelValues(s.key.service, s.key.route, workspace)
	slot.Store(&observer{o})
	return o
}

// count records r in s's children, as cfg asks.
func (e *exporter) count(s *series, cfg *Config, r *record.Record) {
	if cfg.StatusCodeMetrics {
		e.countStatus(s, r.Status, r.Source == record.SourceUpstream)
	}
	if cfg.LatencyMetrics {
		total, kong, up, attempted := latencies(r)
		e.histogram(s, &s.total, e.requestLatency).Observe(total)
		e.histogram(s, &s.kong, e.kongLatency).Observe(kong)
		if attempted {
			e.histogram(s, &s.upstream, e.upLatency).Observe(up)
		}
	}
	if cfg.BandwidthMetrics {
		if r.BytesReceived > 0 {
			e.bytes(s, &s.ingress, dirIngress).Add(float64(r.BytesReceived))
		}
		if r.BytesSent > 0 {
			e.bytes(s, &s.egress, dirEgress).Add(float64(r.BytesSent))
		}
	}
}

// countUncached is count for a key past a full cache: each child is
// looked up in its vector (a hash and a read lock), never under mu, and
// nothing is allocated.
func (e *exporter) countUncached(k seriesKey, cfg *Config, r *record.Record) {
	if cfg.StatusCodeMetrics {
		e.requests.WithLabelValues(k.service, k.route, codeText(r.Status), source(r.Source == record.SourceUpstream),
			workspace, k.consumer).Inc()
	}
	if cfg.LatencyMetrics {
		total, kong, up, attempted := latencies(r)
		e.requestLatency.WithLabelValues(k.service, k.route, workspace).Observe(total)
		e.kongLatency.WithLabelValues(k.service, k.route, workspace).Observe(kong)
		if attempted {
			e.upLatency.WithLabelValues(k.service, k.route, workspace).Observe(up)
		}
	}
	if cfg.BandwidthMetrics {
		if r.BytesReceived > 0 {
			e.bandwidth.WithLabelValues(k.service, k.route, dirIngress, workspace, k.consumer).Add(float64(r.BytesReceived))
		}
		if r.BytesSent > 0 {
			e.bandwidth.WithLabelValues(k.service, k.route, dirEgress, workspace, k.consumer).Add(float64(r.BytesSent))
		}
	}
}

// latencies are Kong's three latencies (kong.log.serialize's latencies)
// in milliseconds: request, the whole; kong, the time until the last
// upstream attempt began (Kong's proxy latency at its last balancer run),
// or for a response the gateway made, until the access phase ended;
// upstream, the last attempt's time to its response head or failure
// (Kong's waiting time), only when an attempt was made.
func latencies(r *record.Record) (request, kong, upstream float64, attempted bool) {
	request, kong = ms(r.Latency), ms(kongLatency(r))
	if n := len(r.Attempts); n > 0 {
		return request, kong, ms(r.Attempts[n-1].Latency()), true
	}
	return request, kong, 0, false
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
