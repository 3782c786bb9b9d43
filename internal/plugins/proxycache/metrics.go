package proxycache

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// metrics are the cache's series, shared by its instances: one counter
// per cache status resolved up front, so counting a request is one
// atomic add.
type metrics struct {
	requests [numStatuses]prometheus.Counter
	errors   *prometheus.CounterVec
	dicts    *dictionaries
}

func registerMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{}
	if r == nil {
		for i := range m.requests {
			m.requests[i] = prometheus.NewCounter(prometheus.CounterOpts{Name: "unregistered"})
		}
		m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unregistered"}, []string{"strategy"})
		return m
	}
	reqs := plugin.RegisterMetric(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "turnpike_cache_requests_total",
		Help: "Requests seen by the response cache, by X-Cache-Status (Miss, Hit, Refresh, Bypass, Stale, Updating).",
	}, []string{"cache_status"}))
	for s, v := range statusValues {
		m.requests[s] = reqs.WithLabelValues(v[0])
	}
	m.errors = plugin.RegisterMetric(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "turnpike_cache_store_errors_total",
		Help: "Response cache store calls that failed (the request went upstream uncached), by strategy.",
	}, []string{"strategy"}))
	m.dicts = plugin.RegisterMetric(r, newDictionaries())
	return m
}

func (m *metrics) count(status cacheStatus) { m.requests[status].Inc() }

// dictionaries reports the memory dictionaries in use at scrape time.
type dictionaries struct {
	entries, bytes *prometheus.Desc
	mu             sync.Mutex
	m              map[string]*dictionary
}

func newDictionaries() *dictionaries {
	return &dictionaries{
		entries: prometheus.NewDesc("turnpike_cache_entries", "Entries in a memory cache dictionary.", []string{"dictionary"}, nil),
		bytes:   prometheus.NewDesc("turnpike_cache_bytes", "Bytes a memory cache dictionary holds, counted against its max_size.", []string{"dictionary"}, nil),
		m:       map[string]*dictionary{},
	}
}

func (d *dictionaries) Describe(ch chan<- *prometheus.Desc) { ch <- d.entries; ch <- d.bytes }

func (d *dictionaries) Collect(ch chan<- prometheus.Metric) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, dict := range d.m {
		ch <- prometheus.MustNewConstMetric(d.entries, prometheus.GaugeValue, float64(dict.mem.Len()), name)
		ch <- prometheus.MustNewConstMetric(d.bytes, prometheus.GaugeValue, float64(dict.mem.Bytes()), name)
	}
}

func (d *dictionaries) add(dict *dictionary) {
	if d == nil {
		return
	}
	d.mu.Lock()
	d.m[dict.name] = dict
	d.mu.Unlock()
}

func (d *dictionaries) remove(dict *dictionary) {
	if d == nil {
		return
	}
	d.mu.Lock()
	if d.m[dict.name] == dict {
		delete(d.m, dict.name)
	}
	d.mu.Unlock()
}
