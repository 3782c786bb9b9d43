package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	goredis "github.com/redis/go-redis/v9"

	"github.com/turnpikegw/turnpike/internal/gwtest"
	"github.com/turnpikegw/turnpike/internal/observe"
)

// scrapeSamples reads the admin API's /metrics with the Prometheus text parser
// and flattens it to "name{k=v,...}" (labels sorted) → value; histograms
// give their _count and _sum.
func scrapeSamples(t *testing.T, gw *gwtest.Gateway) map[string]float64 {
	t.Helper()
	resp, err := http.Get(gw.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not valid exposition text: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			labels := "{" + strings.Join(ls, ",") + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[name+labels] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[name+labels] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"+labels] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"+labels] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func withPrefix(m map[string]float64, prefix string) []string {
	var out []string
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Kong's prometheus plugin, global with every flag on, against real
// traffic: an upstream's 200s, a key-auth 401, an authenticated consumer,
// requests matching no route, and an upstream with active health checks
// and one dead target.
func TestPrometheusPlugin(t *testing.T) {
	echo := gwtest.StartEcho(t, "echo")
	echoAddr := strings.TrimPrefix(echo.URL, "http://")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	plugins := `plugins:
- name: prometheus
  config: {per_consumer: true, status_code_metrics: true, latency_metrics: true, bandwidth_metrics: true, upstream_health_metrics: true}
`
	cfg := fmt.Sprintf(`_format_version: "3.0"
consumers:
- username: alice
  keyauth_credentials: [{key: alice-key}]
services:
- name: echo
  url: %s
  routes:
  - {name: open, paths: [/open]}
  - name: locked
    paths: [/locked]
    plugins: [{name: key-auth}]
- name: pool
  host: backend
  routes: [{name: pooled, paths: [/pool]}]
upstreams:
- name: backend
  healthchecks:
    active:
      http_path: /health
      timeout: 0.2
      healthy: {interval: 0.25, successes: 1}
      unhealthy: {interval: 0.25, tcp_failures: 1, http_failures: 1, timeouts: 1}
  targets: [{target: %s}, {target: %s}]
- name: spare
  targets: [{target: 127.0.0.1:9}]
`, echo.URL, echoAddr, dead)
	gw := gwtest.Start(t, cfg+plugins, gwtest.Options{Args: []string{"--access-log", "off"}})

	for range 3 {
		if resp, _ := gw.Get("/open"); resp.StatusCode != 200 {
			t.Fatalf("/open: %d", resp.StatusCode)
		}
	}
	resp, err := http.Post(gw.URL+"/open", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, _ := gw.Get("/locked"); resp.StatusCode != 401 {
		t.Fatalf("/locked without a key: %d", resp.StatusCode)
	}
	if resp, _ := gw.Get("/locked", "apikey", "alice-key"); resp.StatusCode != 200 {
		t.Fatalf("/locked with alice's key: %d", resp.StatusCode)
	}
	waitUntil(t, "the dead target marked unhealthy", func() bool {
		return scrapeSamples(t, gw)["kong_upstream_target_health{address="+dead+",state=unhealthy,subsystem=http,target="+dead+",upstream=backend}"] == 1
	})
	for range 4 {
		if resp, _ := gw.Get("/pool"); resp.StatusCode != 200 {
			t.Fatalf("/pool: %d", resp.StatusCode)
		}
	}
	before := scrapeSamples(t, gw)

	// Requests matching no route, with random paths and methods, make no
	// series; so do unknown consumers' keys.
	for i := range 50 {
		req, _ := http.NewRequest([]string{"GET", "BREW", "PURGE"}[i%3], fmt.Sprintf("%s/nowhere/%x", gw.URL, rand.Uint64()), nil)
		if resp, _ := gwtest.Do(t, req); resp.StatusCode != 404 {
			t.Fatalf("no route: %d", resp.StatusCode)
		}
		if resp, _ := gw.Get("/locked", "apikey", fmt.Sprintf("k%x", rand.Uint64())); resp.StatusCode != 401 {
			t.Fatalf("unknown key: %d", resp.StatusCode)
		}
	}
	got := scrapeSamples(t, gw)
	for _, name := range []string{"kong_http_requests_total", "kong_bandwidth_bytes", "kong_kong_latency_ms", "kong_request_latency_ms"} {
		if b, a := withPrefix(before, name), withPrefix(got, name); len(a) != len(b) {
			t.Errorf("%s: %d series before unrouted traffic, %d after:\n%s", name, len(b), len(a), strings.Join(a, "\n"))
		}
	}

	want := map[string]float64{
		"kong_http_requests_total{code=200,consumer=,route=open,service=echo,source=service,workspace=default}":        4,
		"kong_http_requests_total{code=401,consumer=,route=locked,service=echo,source=kong,workspace=default}":         51,
		"kong_http_requests_total{code=200,consumer=alice,route=locked,service=echo,source=service,workspace=default}": 1,
		"kong_http_requests_total{code=200,consumer=,route=pooled,service=pool,source=service,workspace=default}":      4,
		"kong_bandwidth_bytes{consumer=,direction=ingress,route=open,service=echo,workspace=default}":                  5,
		"kong_kong_latency_ms_count{route=open,service=echo,workspace=default}":                                        4,
		"kong_upstream_latency_ms_count{route=open,service=echo,workspace=default}":                                    4,
		"kong_request_latency_ms_count{route=open,service=echo,workspace=default}":                                     4,
		"kong_kong_latency_ms_count{route=locked,service=echo,workspace=default}":                                      52,
		"kong_upstream_latency_ms_count{route=locked,service=echo,workspace=default}":                                  1,
		"kong_datastore_reachable{}":       1,
		"kong_nginx_metric_errors_total{}": 0,
		"kong_upstream_target_health{address=" + echoAddr + ",state=healthy,subsystem=http,target=" + echoAddr + ",upstream=backend}":   1,
		"kong_upstream_target_health{address=" + echoAddr + ",state=unhealthy,subsystem=http,target=" + echoAddr + ",upstream=backend}": 0,
		"kong_upstream_target_health{address=" + dead + ",state=healthy,subsystem=http,target=" + dead + ",upstream=backend}":           0,
		"kong_upstream_target_health{address=127.0.0.1:9,state=healthchecks_off,subsystem=http,target=127.0.0.1:9,upstream=spare}":      1,
		"kong_upstream_target_health{address=127.0.0.1:9,state=dns_error,subsystem=http,target=127.0.0.1:9,upstream=spare}":             0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if n := len(withPrefix(got, "kong_upstream_target_health")); n != 12 {
		t.Errorf("%d target health series, want 3 addresses × 4 states", n)
	}
	egress := got["kong_bandwidth_bytes{consumer=,direction=egress,route=open,service=echo,workspace=default}"]
	if egress < 4*100 {
		t.Errorf("egress %v bytes for four echo bodies", egress)
	}
	if s := got["kong_upstream_latency_ms_sum{route=open,service=echo,workspace=default}"]; s <= 0 || s > got["kong_request_latency_ms_sum{route=open,service=echo,workspace=default}"] {
		t.Errorf("upstream latency sum %v, request latency sum %v", s, got["kong_request_latency_ms_sum{route=open,service=echo,workspace=default}"])
	}

	// The node: its id and version, connection and request counts.
	infos := withPrefix(got, "kong_node_info{")
	if len(infos) != 1 || !strings.Contains(infos[0], "version=") {
		t.Fatalf("node info: %v", infos)
	}
	nodeID := strings.TrimPrefix(strings.Split(infos[0], ",")[0], "kong_node_info{node_id=")
	total := got["kong_nginx_requests_total{node_id="+nodeID+",subsystem=http}"]
	if total < 3+1+2+4+100 {
		t.Errorf("kong_nginx_requests_total %v", total)
	}
	conn := func(state string) float64 {
		return got["kong_nginx_connections_total{node_id="+nodeID+",state="+state+",subsystem=http}"]
	}
	if conn("total") != total || conn("accepted") < 1 || conn("handled") != conn("accepted") ||
		conn("active") != conn("reading")+conn("writing")+conn("waiting") || conn("active") < 1 {
		t.Errorf("connections: %v", withPrefix(got, "kong_nginx_connections_total"))
	}

	// A reload without the plugin hides its series; one with it shows
	// them again with their counts.
	reload := func(body string, present bool) {
		t.Helper()
		if err := os.WriteFile(gw.ConfigPath(), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		gw.Signal(syscall.SIGHUP)
		waitUntil(t, fmt.Sprintf("kong_ series present: %v", present), func() bool {
			return (len(withPrefix(scrapeSamples(t, gw), "kong_")) > 0) == present
		})
	}
	reload(cfg, false)
	reload(cfg+plugins, true)
	if v := scrapeSamples(t, gw)["kong_http_requests_total{code=200,consumer=,route=open,service=echo,source=service,workspace=default}"]; v != 4 {
		t.Errorf("after two reloads: %v", v)
	}
}

// kong_datastore_reachable: 1 while the Redis that rate limits share
// answers, 0 while it does not.
func TestPrometheusDatastore(t *testing.T) {
	echo := gwtest.StartEcho(t, "echo")
	rd := gwtest.StartRedis(t)
	gw := gwtest.Start(t, `_format_version: "3.0"
services:
- name: echo
  url: `+echo.URL+`
  routes: [{name: api, paths: [/api]}]
plugins:
- name: prometheus
- name: rate-limiting
  config: {hour: 1000, `+redisPolicy(rd, "")+`}
`, gwtest.Options{Args: []string{"--access-log", "off"}})
	const reachable = "kong_datastore_reachable{}"
	if resp, _ := gw.Get("/api"); resp.StatusCode != 200 {
		t.Fatalf("/api: %d", resp.StatusCode)
	}
	if v, ok := scrapeSamples(t, gw)[reachable]; !ok || v != 1 {
		t.Fatalf("redis up: %v %v", v, ok)
	}
	rd.Pause()
	// The result of the last check answers for a second.
	waitUntil(t, "redis unreachable", func() bool { return scrapeSamples(t, gw)[reachable] == 0 })
	rd.Resume()
	waitUntil(t, "redis reachable again", func() bool { return scrapeSamples(t, gw)[reachable] == 1 })
}

// statusScrape GETs the status listener's /metrics from any goroutine:
// the status code, or 0 when the request failed.
func statusScrape(base string) int {
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// redisPings is how many PING commands the Redis at addr has run.
func redisPings(t *testing.T, addr string) int {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_ping:calls="); ok {
			n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			if err != nil {
				t.Fatalf("commandstats: %q", line)
			}
			return n
		}
	}
	return 0
}

// The status listener asks for no token, so scraping it must not load
// the Redis the rate limits use, nor pile up work: concurrent scrapes
// share one datastore check a second (counted on the real redis-server),
// and past observe.MaxScrapes gatherings at once a scrape is answered
// 503 at once rather than queued.
func TestStatusScrapesBounded(t *testing.T) {
	echo := gwtest.StartEcho(t, "echo")
	rd := gwtest.StartRedis(t)
	gw := gwtest.Start(t, `_format_version: "3.0"
services:
- name: echo
  url: `+echo.URL+`
  routes: [{name: api, paths: [/api]}]
plugins:
- name: prometheus
- name: rate-limiting
  config: {hour: 1000, policy: redis, redis: {host: 127.0.0.1, port: `+strconv.Itoa(rd.Port)+`, timeout: 2000}}
`, gwtest.Options{Args: []string{"--access-log", "off", "--status-listen", "127.0.0.1:0"}})
	if resp, _ := gw.Get("/api"); resp.StatusCode != 200 {
		t.Fatalf("/api: %d", resp.StatusCode)
	}

	t.Run("one PING a second", func(t *testing.T) {
		const workers, each = 8, 25
		before := redisPings(t, rd.Addr)
		start := time.Now()
		var served atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					if statusScrape(gw.StatusURL) == 200 {
						served.Add(1)
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		pings := redisPings(t, rd.Addr) - before
		// Checks start at least a second apart: at most one per started
		// second of the burst (one Redis client, one PING each).
		bound := int(elapsed/time.Second) + 1
		if served.Load() <= int64(bound) {
			t.Fatalf("only %d of %d scrapes served in %v: too few to tell", served.Load(), workers*each, elapsed)
		}
		if pings < 1 || pings > bound {
			t.Errorf("%d scrapes served in %v made %d PINGs, want 1 to %d", served.Load(), elapsed, pings, bound)
		}
	})

	t.Run("excess scrapes get 503", func(t *testing.T) {
		// A stopped Redis holds every datastore check for its timeout, so
		// the scrapes that wait on one fill the slots.
		rd.Pause()
		defer rd.Resume()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		defer wg.Wait()
		defer close(stop)
		for range observe.MaxScrapes {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
						statusScrape(gw.StatusURL)
					}
				}
			})
		}
		var body string
		waitUntil(t, "a scrape refused with 503", func() bool {
			var resp *http.Response
			resp, body = gwtest.Do(t, mustRequest(t, gw.StatusURL+"/metrics"))
			return resp.StatusCode == http.StatusServiceUnavailable
		})
		if !strings.Contains(body, "concurrent requests") {
			t.Errorf("503 body: %q", body)
		}
		// The admin listener has slots of its own.
		if resp, body := gwtest.Do(t, mustRequest(t, gw.AdminURL+"/metrics")); resp.StatusCode != 200 {
			t.Errorf("admin /metrics while the status listener is full: %d %s", resp.StatusCode, body)
		}
	})
}
