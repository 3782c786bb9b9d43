package prometheus

import (
	"bytes"
	"context"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/record"
)

// node is a plugin.Node with set values (the gateway's is tested end to
// end).
type node struct {
	conns     plugin.Connections
	targets   []plugin.TargetHealth
	reachable bool
}

func (n *node) ID() string                                  { return "n1" }
func (n *node) Version() string                             { return "1.2.3" }
func (n *node) Connections() plugin.Connections             { return n.conns }
func (n *node) Targets() []plugin.TargetHealth              { return n.targets }
func (n *node) DatastoreReachable(ctx context.Context) bool { return n.reachable && ctx.Err() == nil }

func newInstance(t *testing.T, reg *prometheus.Registry, n plugin.Node, cfg Config) *Instance {
	t.Helper()
	in, err := New(&cfg, plugin.Env{Metrics: reg, Node: n})
	if err != nil {
		t.Fatal(err)
	}
	return in.(*Instance)
}

var allOn = Config{PerConsumer: true, StatusCodeMetrics: true, LatencyMetrics: true, BandwidthMetrics: true, UpstreamHealthMetrics: true}

// proxied is a request the upstream answered: routed at 1ms, its one
// attempt began at 3ms and had its response head 40ms later, 50ms in all.
func proxied(consumer *plugin.Consumer) *plugin.Ctx {
	c := &plugin.Ctx{
		Route:    &plugin.RouteInfo{ID: "rid", Name: "r1"},
		Service:  &plugin.ServiceInfo{Name: "s1", Host: "up.example"},
		Consumer: consumer,
		Record:   &record.Record{},
	}
	r := c.Record
	r.Status, r.Source, r.Routed, r.Latency = 200, record.SourceUpstream, time.Millisecond, 50*time.Millisecond
	r.BytesReceived, r.BytesSent = 10, 300
	i := r.AddAttempt("127.0.0.1:1", 3*time.Millisecond)
	r.Attempts[i].Head = 40 * time.Millisecond
	r.Answered = 1
	return c
}

// refused is a request a plugin answered 401 in the access phase that
// ended at 4ms.
func refused() *plugin.Ctx {
	c := &plugin.Ctx{
		Route:   &plugin.RouteInfo{ID: "rid2"},
		Service: &plugin.ServiceInfo{Host: "up.example"},
		Record:  &record.Record{},
	}
	r := c.Record
	r.Status, r.Source, r.Routed, r.Latency, r.BytesSent = 401, record.SourceGateway, time.Millisecond, 5*time.Millisecond, 26
	r.AddPlugin("key-auth", record.PhaseAccess, 2*time.Millisecond, 4*time.Millisecond)
	return c
}

// gathered maps "name{k=v,...}" (labels sorted) to each sample's value;
// a histogram gives its _count, _sum and every _bucket.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			labels := labelText(m.GetLabel())
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[f.GetName()+labels] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[f.GetName()+labels] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out[f.GetName()+"_count"+labels] = float64(h.GetSampleCount())
				out[f.GetName()+"_sum"+labels] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					le := strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)
					out[f.GetName()+"_bucket"+labelText(append(m.GetLabel(), &dto.LabelPair{Name: ptr("le"), Value: &le}))] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

func ptr(s string) *string { return &s }

func labelText(ls []*dto.LabelPair) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.GetName() + "=" + l.GetValue()
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

func expect(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("no %s; have:\n%s", k, keys(got, k[:strings.IndexByte(k, '{')]))
		case g != v:
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
}

func keys(m map[string]float64, prefix string) string {
	var out []string
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func TestRequestSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	in := newInstance(t, reg, nil, allOn)
	alice := &plugin.Consumer{ID: "c1", Username: "alice"}
	for range 2 {
		in.Log(proxied(alice))
	}
	in.Log(proxied(nil))
	in.Log(refused())
	got := gathered(t, reg)
	expect(t, got, map[string]float64{
		"kong_http_requests_total{code=200,consumer=alice,route=r1,service=s1,source=service,workspace=default}": 2,
		"kong_http_requests_total{code=200,consumer=,route=r1,service=s1,source=service,workspace=default}":      1,
		// No name: the route's id, the service's host.
		"kong_http_requests_total{code=401,consumer=,route=rid2,service=up.example,source=kong,workspace=default}": 1,
		"kong_bandwidth_bytes{consumer=alice,direction=ingress,route=r1,service=s1,workspace=default}":             20,
		"kong_bandwidth_bytes{consumer=alice,direction=egress,route=r1,service=s1,workspace=default}":              600,
		"kong_bandwidth_bytes{consumer=,direction=egress,route=rid2,service=up.example,workspace=default}":         26,
		// Kong latency: until the attempt began (3ms); upstream: the
		// attempt's head (40ms); request: the whole (50ms).
		"kong_kong_latency_ms_count{route=r1,service=s1,workspace=default}":            3,
		"kong_kong_latency_ms_sum{route=r1,service=s1,workspace=default}":              9,
		"kong_kong_latency_ms_bucket{le=2,route=r1,service=s1,workspace=default}":      0,
		"kong_kong_latency_ms_bucket{le=5,route=r1,service=s1,workspace=default}":      3,
		"kong_upstream_latency_ms_sum{route=r1,service=s1,workspace=default}":          120,
		"kong_upstream_latency_ms_bucket{le=50,route=r1,service=s1,workspace=default}": 3,
		"kong_upstream_latency_ms_bucket{le=25,route=r1,service=s1,workspace=default}": 0,
		"kong_request_latency_ms_sum{route=r1,service=s1,workspace=default}":           150,
		// A plugin's answer: Kong latency until the access phase ended.
		"kong_kong_latency_ms_sum{route=rid2,service=up.example,workspace=default}":      4,
		"kong_request_latency_ms_count{route=rid2,service=up.example,workspace=default}": 1,
	})
	for k := range got {
		switch {
		case strings.HasPrefix(k, "kong_upstream_latency_ms") && strings.Contains(k, "rid2"):
			t.Errorf("upstream latency of a request that reached no upstream: %s", k)
		case strings.HasPrefix(k, "kong_bandwidth_bytes") && strings.Contains(k, "rid2") && strings.Contains(k, "ingress"):
			t.Errorf("ingress series of a request without a body: %s", k)
		}
	}
}

// TestBuckets: Kong's buckets exactly (exporter.lua).
func TestBuckets(t *testing.T) {
	reg := prometheus.NewRegistry()
	newInstance(t, reg, nil, allOn).Log(proxied(nil))
	fams, _ := reg.Gather()
	want := map[string]string{
		"kong_kong_latency_ms":     "1 2 5 7 10 15 20 30 50 75 100 200 500 750 1000 3000 6000 +Inf",
		"kong_upstream_latency_ms": "25 50 80 100 250 400 700 1000 2000 5000 10000 30000 60000 +Inf",
		"kong_request_latency_ms":  "25 50 80 100 250 400 700 1000 2000 5000 10000 30000 60000 +Inf",
	}
	for _, f := range fams {
		w, ok := want[f.GetName()]
		if !ok {
			continue
		}
		delete(want, f.GetName())
		var les []string
		for _, b := range f.GetMetric()[0].GetHistogram().GetBucket() {
			les = append(les, strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))
		}
		if got := strings.Join(les, " ") + " +Inf"; got != w {
			t.Errorf("%s buckets %s, want %s", f.GetName(), got, w)
		}
	}
	if len(want) > 0 {
		t.Errorf("not gathered: %v", want)
	}
}

// TestFlagsOff: Kong's defaults count nothing per request; the node-wide
// series are there.
func TestFlagsOff(t *testing.T) {
	reg := prometheus.NewRegistry()
	in := newInstance(t, reg, &node{reachable: true}, Config{})
	in.Log(proxied(&plugin.Consumer{Username: "alice"}))
	got := gathered(t, reg)
	for k := range got {
		if strings.Contains(k, "route=") || strings.HasPrefix(k, "kong_upstream_target_health") {
			t.Errorf("series with every flag off: %s", k)
		}
	}
	expect(t, got, map[string]float64{"kong_node_info{node_id=n1,version=1.2.3}": 1, "kong_datastore_reachable{}": 1})

	// per_consumer alone does not count requests.
	reg = prometheus.NewRegistry()
	in = newInstance(t, reg, nil, Config{PerConsumer: true, StatusCodeMetrics: true})
	in.Log(proxied(&plugin.Consumer{Username: "alice"}))
	in.Log(proxied(&plugin.Consumer{Username: "alice"}))
	got = gathered(t, reg)
	if len(got) != 2 || got["kong_http_requests_total{code=200,consumer=alice,route=r1,service=s1,source=service,workspace=default}"] != 2 {
		t.Errorf("status codes only: %v", got)
	}
}

// TestUnroutedNotCounted: the proxy runs global plugins' log phase for a
// request that matched no route (a 404, no route nor service); Kong's
// exporter counts none of them.
func TestUnroutedNotCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	in := newInstance(t, reg, nil, allOn)
	c := proxied(nil)
	c.Route, c.Service = nil, nil
	c.Record.Status, c.Record.Source, c.Record.Attempts = 404, record.SourceGateway, nil
	in.Log(c)
	for k := range gathered(t, reg) {
		if strings.HasPrefix(k, "kong_http") || strings.HasPrefix(k, "kong_bandwidth") || strings.Contains(k, "latency") {
			t.Errorf("unrouted request counted: %s", k)
		}
	}
}

func TestNodeSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := &node{conns: plugin.Connections{Accepted: 7, Handled: 7, Active: 3, Writing: 1, Waiting: 2, Requests: 11}}
	newInstance(t, reg, n, Config{UpstreamHealthMetrics: true})
	n.targets = []plugin.TargetHealth{
		{Upstream: "u", Target: "127.0.0.1:1", Address: "127.0.0.1:1", State: plugin.TargetHealthy},
		{Upstream: "u", Target: "127.0.0.1:1", Address: "127.0.0.1:1", State: plugin.TargetHealthy},
		{Upstream: "u", Target: "nowhere.invalid:80", State: plugin.TargetDNSError},
	}
	got := gathered(t, reg)
	want := map[string]float64{"kong_nginx_requests_total{node_id=n1,subsystem=http}": 11, "kong_datastore_reachable{}": 0}
	for state, v := range map[string]float64{"accepted": 7, "handled": 7, "active": 3, "reading": 0, "writing": 1, "waiting": 2, "total": 11} {
		want["kong_nginx_connections_total{node_id=n1,state="+state+",subsystem=http}"] = v
	}
	for _, st := range targetStates {
		want["kong_upstream_target_health{address=127.0.0.1:1,state="+st+",subsystem=http,target=127.0.0.1:1,upstream=u}"] = bool01(st == "healthy")
		want["kong_upstream_target_health{address=,state="+st+",subsystem=http,target=nowhere.invalid:80,upstream=u}"] = bool01(st == "dns_error")
	}
	expect(t, got, want)
	if n := len(keys(got, "kong_upstream_target_health")); n == 0 || strings.Count(keys(got, "kong_upstream_target_health"), "\n") != 7 {
		t.Errorf("target series:\n%s", keys(got, "kong_upstream_target_health"))
	}
	n.reachable = true
	expect(t, gathered(t, reg), map[string]float64{"kong_datastore_reachable{}": 1})
}

// TestInstancesShareOneExporter: instances (of one configuration, and
// across a reload) count into the same series; the series are shown while
// one is in force, and target health while one asks for it.
func TestInstancesShareOneExporter(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := &node{targets: []plugin.TargetHealth{{Upstream: "u", Target: "t:1", Address: "127.0.0.1:1", State: plugin.TargetHealthchecksOff}}}
	a := newInstance(t, reg, n, Config{StatusCodeMetrics: true})
	b := newInstance(t, reg, n, Config{StatusCodeMetrics: true, UpstreamHealthMetrics: true})
	if a.e != b.e {
		t.Fatal("two exporters")
	}
	a.Log(proxied(nil))
	b.Log(proxied(nil))
	const reqs = "kong_http_requests_total{code=200,consumer=,route=r1,service=s1,source=service,workspace=default}"
	const health = "kong_upstream_target_health{address=127.0.0.1:1,state=healthchecks_off,subsystem=http,target=t:1,upstream=u}"
	expect(t, gathered(t, reg), map[string]float64{reqs: 2, health: 1})
	b.Close()
	b.Close() // once only
	got := gathered(t, reg)
	expect(t, got, map[string]float64{reqs: 2})
	if _, ok := got[health]; ok {
		t.Error("target health shown after the instance asking for it was closed")
	}
	a.Close()
	if got := gathered(t, reg); len(got) != 0 {
		t.Errorf("series shown with no instance in force: %v", got)
	}
	c := newInstance(t, reg, n, Config{StatusCodeMetrics: true})
	c.Log(proxied(nil))
	expect(t, gathered(t, reg), map[string]float64{reqs: 3})
}

// TestCacheBound: past maxSeries keys every request is still counted.
func TestCacheBound(t *testing.T) {
	reg := prometheus.NewRegistry()
	in := newInstance(t, reg, nil, Config{StatusCodeMetrics: true, PerConsumer: true})
	for i := range maxSeries + 10 {
		in.Log(proxied(&plugin.Consumer{Username: "c" + strconv.Itoa(i)}))
	}
	in.Log(proxied(&plugin.Consumer{Username: "c" + strconv.Itoa(maxSeries+5)}))
	if n := max(len(*in.e.cache.Load()), len(in.e.dirty)); n != maxSeries {
		t.Errorf("%d keys cached", n)
	}
	got := gathered(t, reg)
	if len(got) != maxSeries+10+1 {
		t.Errorf("%d series", len(got))
	}
	expect(t, got, map[string]float64{
		"kong_http_requests_total{code=200,consumer=c" + strconv.Itoa(maxSeries+5) + ",route=r1,service=s1,source=service,workspace=default}": 2,
	})
}

// TestPastCapTakesNoLock: once the cache is full, a request with a key
// it lacks is counted in full (every flag on) without the exporter's
// mutex, here held by the test throughout.
func TestPastCapTakesNoLock(t *testing.T) {
	reg := prometheus.NewRegistry()
	in := newInstance(t, reg, nil, allOn)
	for i := range maxSeries {
		in.Log(proxied(&plugin.Consumer{Username: "c" + strconv.Itoa(i)}))
	}
	if n := max(len(*in.e.cache.Load()), len(in.e.dirty)); n != maxSeries {
		t.Fatalf("%d keys cached, want %d", n, maxSeries)
	}
	past := proxied(&plugin.Consumer{Username: "past"})
	in.e.mu.Lock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			in.Log(past)
		}
	}()
	select {
	case <-done:
		in.e.mu.Unlock()
	case <-time.After(10 * time.Second):
		in.e.mu.Unlock()
		t.Fatal("a request past the cap waited for the exporter's mutex")
	}
	expect(t, gathered(t, reg), map[string]float64{
		"kong_http_requests_total{code=200,consumer=past,route=r1,service=s1,source=service,workspace=default}": 3,
		"kong_bandwidth_bytes{consumer=past,direction=ingress,route=r1,service=s1,workspace=default}":           30,
		"kong_bandwidth_bytes{consumer=past,direction=egress,route=r1,service=s1,workspace=default}":            900,
		"kong_request_latency_ms_count{route=r1,service=s1,workspace=default}":                                  maxSeries + 3,
		"kong_upstream_latency_ms_count{route=r1,service=s1,workspace=default}":                                 maxSeries + 3,
		"kong_kong_latency_ms_count{route=r1,service=s1,workspace=default}":                                     maxSeries + 3,
	})
}

func TestIgnoredFlagsWarn(t *testing.T) {
	var buf bytes.Buffer
	if _, err := New(&Config{AIMetrics: true, WasmMetrics: true}, plugin.Env{Logger: slog.New(slog.NewTextHandler(&buf, nil))}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.ai_metrics is ignored", "config.wasm_metrics is ignored"} {
		if !strings.Contains(buf.String(), f) {
			t.Errorf("no warning %q in %s", f, buf.String())
		}
	}
}

// TestConfigDecoding: Kong's field names, its defaults (all false), and a
// value of the wrong type refused with its path.
func TestConfigDecoding(t *testing.T) {
	raw, err := config.ParseRaw([]byte(`{"per_consumer": true, "latency_metrics": true, "ai_metrics": false}`), "plugins[0].config")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Registration().NewConfig().(*Config)
	if errs := raw.Decode(cfg); len(errs) > 0 {
		t.Fatal(errs)
	}
	if *cfg != (Config{PerConsumer: true, LatencyMetrics: true}) {
		t.Errorf("decoded %+v", *cfg)
	}
	raw, err = config.ParseRaw([]byte(`{"bandwidth_metrics": "sometimes"}`), "plugins[0].config")
	if err != nil {
		t.Fatal(err)
	}
	errs := raw.Decode(Registration().NewConfig())
	if len(errs) != 1 || !strings.Contains(errs.Error(), "plugins[0].config.bandwidth_metrics") {
		t.Errorf("errors: %v", errs)
	}
}

// A route without a service (one whose plugins answer) is counted with
// service "", as in Kong (exporter.lua, "expose metrics in no service
// route").
func TestRouteWithoutServiceCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	in := newInstance(t, reg, nil, Config{StatusCodeMetrics: true})
	c := refused()
	c.Service = nil
	in.Log(c)
	expect(t, gathered(t, reg), map[string]float64{
		"kong_http_requests_total{code=401,consumer=,route=rid2,service=,source=kong,workspace=default}": 1,
	})
}
