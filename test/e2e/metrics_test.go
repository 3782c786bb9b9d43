package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

const metricsToken = "metrics-test-token"

// metricsHost is the server name of the metrics gateway's certificate.
const metricsHost = "metrics.example.com"

// metricsGateway runs a gateway whose configuration exercises every
// always-on series: named and unnamed routes, a rate limit, a circuit
// breaker, an upstream with active health checks and a dead target, a
// round-robin upstream with a dead target (retries), and a TLS listener
// (its URL is gw.URLs[1], its certificate the returned PEM's). It returns
// the gateway, the dead target of the checked upstream and the
// certificate.
func metricsGateway(t *testing.T) (*gwtest.Gateway, string, string) {
	t.Helper()
	echo := gwtest.StartEcho(t, "echo")
	live := strings.TrimPrefix(echo.URL, "http://")
	dead, deadToo := deadAddr(t), deadAddr(t)
	cert, key := selfSigned(t, metricsHost)
	cfg := fmt.Sprintf(`_format_version: "3.0"
certificates:
- cert: |
%[4]s
  key: |
%[5]s
  snis: [%[6]s]
upstreams:
- name: pool
  healthchecks:
    active:
      type: tcp
      healthy: {interval: 0.1}
      unhealthy: {interval: 0.1, tcp_failures: 1}
  targets:
  - target: %[1]s
  - target: %[2]s
- name: flaky
  targets:
  - target: %[1]s
  - target: %[3]s
services:
- name: api
  host: pool
  plugins:
  - name: circuit-breaker
  routes:
  - name: users
    paths: [/users]
  - paths: [/orders]
  - name: limited
    paths: [/limited]
    plugins:
    - name: rate-limiting
      config: {minute: 2, policy: local}
- name: retrying
  host: flaky
  routes:
  - name: retry
    paths: [/retry]
`, live, dead, deadToo, indent(cert, "    "), indent(key, "    "), metricsHost)
	gw := gwtest.Start(t, cfg, gwtest.Options{ProxyListen: "127.0.0.1:0, 127.0.0.1:0 ssl",
		Args: []string{"--access-log", "off", "--status-listen", "127.0.0.1:0",
			"--admin-token", metricsToken, "--upstream-retry-backoff-base", "-1ms"}})
	if gw.StatusURL == "" || len(gw.URLs) != 2 {
		t.Fatalf("listeners: proxy %v, status %q", gw.URLs, gw.StatusURL)
	}
	return gw, dead, cert
}

// limitedTraffic sends GETs to the rate-limited route until the first
// 429 and two more, and returns how many passed and how many were
// refused. The local window follows the clock minute, so a run crossing
// a minute boundary lets more through: the counts are what was sent.
func limitedTraffic(t *testing.T, gw *gwtest.Gateway) (passed, refused int) {
	t.Helper()
	for i, stop := 0, 20; i < stop; i++ {
		switch resp, body := gw.Get("/limited"); resp.StatusCode {
		case http.StatusOK:
			passed++
		case http.StatusTooManyRequests:
			if refused++; refused == 1 {
				stop = min(i+3, stop)
			}
		default:
			t.Fatalf("/limited: %d %s", resp.StatusCode, body)
		}
	}
	if refused == 0 {
		t.Fatalf("20 GETs to a route limited to 2 a minute: none refused")
	}
	t.Logf("/limited: %d passed, %d refused", passed, refused)
	return passed, refused
}

// tlsTraffic makes one TLS 1.2 and two TLS 1.3 requests on the TLS
// listener (route users), each on a connection of its own, and one failed
// handshake: plain HTTP sent to it.
func tlsTraffic(t *testing.T, gw *gwtest.Gateway, certPEM string) {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(certPEM)) {
		t.Fatal("bad certificate PEM")
	}
	addr := strings.TrimPrefix(gw.URLs[1], "http://")
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13, tls.VersionTLS13} {
		client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: metricsHost, MinVersion: v, MaxVersion: v}}}
		resp, err := client.Get("https://" + addr + "/users/tls")
		if err != nil {
			t.Fatalf("TLS %x: %v", v, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.TLS.Version != v {
			t.Fatalf("TLS %x: %d over %x", v, resp.StatusCode, resp.TLS.Version)
		}
	}
	if resp, body := gwtest.Do(t, mustRequest(t, "http://"+addr+"/users/plain")); resp.StatusCode != 400 {
		t.Fatalf("plain HTTP to the TLS listener: %d %s", resp.StatusCode, body)
	}
}

// metricsTraffic sends requests of every kind the series count, and
// hostile ones: random methods, paths and hosts.
func metricsTraffic(t *testing.T, gw *gwtest.Gateway) {
	t.Helper()
	for range 3 {
		gw.Get("/users/1")
	}
	send := func(method, path, host string) int {
		req, err := http.NewRequest(method, gw.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, _ := gwtest.Do(t, req)
		return resp.StatusCode
	}
	send(http.MethodPost, "/orders", "shop.example")
	for range 6 {
		gw.Get("/retry")
	}
	rng := rand.New(rand.NewPCG(7, 13))
	letters := "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for range 150 {
		m := make([]byte, 3+rng.IntN(6))
		for i := range m {
			m[i] = letters[rng.IntN(len(letters))]
		}
		send(string(m), fmt.Sprintf("/%x/%x", rng.Uint64(), rng.Uint64()), fmt.Sprintf("h%x.example", rng.Uint32()))
		send(http.MethodGet, fmt.Sprintf("/users/%x", rng.Uint64()), fmt.Sprintf("h%x.example", rng.Uint32()))
	}
}

// scrape GETs base+/metrics (with the admin token when asked) and parses
// it with the Prometheus text parser; it returns the families and the body.
func scrape(t *testing.T, base string, token bool) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if token {
		req.Header.Set("Authorization", "Bearer "+metricsToken)
	}
	resp, body := gwtest.Do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("%s/metrics: %d %s", base, resp.StatusCode, body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s/metrics is not valid exposition: %v", base, err)
	}
	return fams, []byte(body)
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// value is the value of the series of fam whose labels include want;
// ok is false when there is none.
func value(fams map[string]*dto.MetricFamily, fam string, want map[string]string) (float64, bool) {
	f := fams[fam]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		got := labelsOf(m)
		match := true
		for k, v := range want {
			if got[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
}

// waitForSeries scrapes until cond holds (health checks run on their own
// clock).
func waitForSeries(t *testing.T, gw *gwtest.Gateway, what string, cond func(map[string]*dto.MetricFamily) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		fams, _ := scrape(t, gw.StatusURL, false)
		if cond(fams) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMetricsExposition(t *testing.T) {
	gw, dead, cert := metricsGateway(t)
	metricsTraffic(t, gw)
	passed, refused := limitedTraffic(t, gw)
	tlsTraffic(t, gw, cert)
	waitForSeries(t, gw, "the dead target is unhealthy", func(f map[string]*dto.MetricFamily) bool {
		v, ok := value(f, "turnpike_upstream_target_health", map[string]string{"upstream": "pool", "target": dead})
		return ok && v == 0
	})
	// The server counts a failed handshake after answering it.
	waitForSeries(t, gw, "the failed TLS handshake is counted", func(f map[string]*dto.MetricFamily) bool {
		v, _ := value(f, "turnpike_tls_handshake_errors_total", nil)
		return v >= 1
	})
	fams, body := scrape(t, gw.AdminURL, true)

	t.Run("values", func(t *testing.T) {
		for _, c := range []struct {
			fam    string
			labels map[string]string
			want   float64
		}{
			{"api_gateway_requests_total", map[string]string{"route": "users", "method": "GET", "status": "200"}, 156},
			{"api_gateway_requests_total", map[string]string{"route": "/orders", "method": "POST", "status": "200"}, 1},
			{"api_gateway_requests_total", map[string]string{"route": "limited", "method": "GET", "status": "200"}, float64(passed)},
			{"api_gateway_requests_total", map[string]string{"route": "limited", "method": "GET", "status": "429"}, float64(refused)},
			{"api_gateway_requests_total", map[string]string{"route": "", "method": "OTHER", "status": "404"}, 150},
			{"api_gateway_request_duration_ms", map[string]string{"route": "users", "method": "GET"}, 156},
			{"api_gateway_rate_limit_exceeded", map[string]string{"route": "limited"}, float64(refused)},
			{"turnpike_circuit_breaker_state", map[string]string{"service": "api"}, 0},
			{"turnpike_config_reloads_total", map[string]string{"result": "ok"}, 1},
			{"turnpike_config_reloads_total", map[string]string{"result": "failed"}, 0},
			{"turnpike_access_log_dropped_total", nil, 0},
			{"turnpike_tls_handshakes_total", map[string]string{"version": "1.2"}, 1},
			{"turnpike_tls_handshakes_total", map[string]string{"version": "1.3"}, 2},
			{"turnpike_tls_handshake_errors_total", nil, 1},
		} {
			if got, ok := value(fams, c.fam, c.labels); !ok || got != c.want {
				t.Errorf("%s%v = %v (present: %v), want %v", c.fam, c.labels, got, ok, c.want)
			}
		}
		if got, _ := value(fams, "turnpike_upstream_retries_total", map[string]string{"service": "retrying"}); got < 1 {
			t.Errorf("retries of the round-robin upstream with a dead target: %v", got)
		}
		if got, _ := value(fams, "turnpike_upstream_health_checks_total",
			map[string]string{"upstream": "pool", "target": dead, "kind": "active", "result": "tcp_failure"}); got < 1 {
			t.Errorf("failed probes of the dead target: %v", got)
		}
		if f := fams["turnpike_config_info"]; f == nil || len(f.GetMetric()) != 1 {
			t.Errorf("config info: %v", f)
		}
		if f := fams["api_gateway_request_duration_ms"]; f.GetType() != dto.MetricType_HISTOGRAM {
			t.Errorf("duration is a %v", f.GetType())
		}
	})

	// Random methods, paths and hosts made no series of their own: every
	// label value is a configured route, "", a method of the fixed set
	// or a status code.
	t.Run("cardinality", func(t *testing.T) {
		routes := map[string]bool{"users": true, "/orders": true, "limited": true, "retry": true, "": true}
		methods := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
			"DELETE": true, "OPTIONS": true, "TRACE": true, "CONNECT": true, "OTHER": true}
		status := regexp.MustCompile(`^([1-5][0-9][0-9]|000)$`)
		n := 0
		for _, name := range []string{"api_gateway_requests_total", "api_gateway_request_duration_ms", "api_gateway_rate_limit_exceeded"} {
			for _, m := range fams[name].GetMetric() {
				n++
				l := labelsOf(m)
				if !routes[l["route"]] || (l["method"] != "" && !methods[l["method"]]) || (l["status"] != "" && !status.MatchString(l["status"])) {
					t.Errorf("%s series from traffic: %v", name, l)
				}
			}
		}
		if n > 15 {
			t.Errorf("%d api_gateway series after 300 random requests", n)
		}
	})

	t.Run("status listener", func(t *testing.T) {
		sfams, _ := scrape(t, gw.StatusURL, false)
		for name := range fams {
			if strings.HasPrefix(name, "api_gateway_") || strings.HasPrefix(name, "turnpike_") {
				if sfams[name] == nil {
					t.Errorf("%s on the admin /metrics, not on the status listener's", name)
				}
			}
		}
	})

	t.Run("promtool", func(t *testing.T) {
		promtoolCheck(t, body)
	})
}

// guideNames are the patterns guide's metric names, which promtool's lint
// would have named otherwise (unit "ms" for seconds, a counter without
// "_total"); operators paste queries that use them, so they stay.
var guideNames = map[string]bool{"api_gateway_request_duration_ms": true, "api_gateway_rate_limit_exceeded": true}

// promtoolCheck runs `promtool check metrics` on body: any parse error,
// or a lint problem of a name other than the guide's, fails.
func promtoolCheck(t *testing.T, body []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (make deps fetches it into bin/tools from Debian's prometheus package)")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, _, _ := strings.Cut(line, " ")
		if !guideNames[name] {
			problems = append(problems, line)
		}
	}
	if len(problems) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, strings.Join(problems, "\n"))
	}
}

func TestStatusListenServesOnlyStatusAndMetrics(t *testing.T) {
	gw, _, _ := metricsGateway(t)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/metrics", 200},
		{"GET", "/status", 200},
		{"GET", "/status/ready", 200},
		{"GET", "/", 404},
		{"GET", "/services", 404},
		{"GET", "/config", 404},
		{"POST", "/config", 404},
		{"GET", "/upstreams/pool/health", 404},
	} {
		req, _ := http.NewRequest(c.method, gw.StatusURL+c.path, strings.NewReader(`{}`))
		req.Host = "scraper.example.net" // not an admin host: no 421 here
		resp, body := gwtest.Do(t, req)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, resp.StatusCode, body, c.status)
		}
		if c.status == 404 && strings.TrimSpace(body) != `{"message":"Not found"}` {
			t.Errorf("%s %s: body %s", c.method, c.path, body)
		}
	}
	// The admin API keeps its token.
	resp, _ := gwtest.Do(t, mustRequest(t, gw.AdminURL+"/metrics"))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("admin /metrics without the token: %d", resp.StatusCode)
	}
}

// Every metric the Grafana dashboard's queries name is exported by a
// running gateway after traffic (a histogram's _bucket, _sum and _count
// by its family).
func TestGrafanaDashboardMetricsExported(t *testing.T) {
	data, err := os.ReadFile("../../deploy/grafana/turnpike.json")
	if err != nil {
		t.Fatal(err)
	}
	names := dashboardMetrics(t, data)
	if len(names) < 8 {
		t.Fatalf("only %d metrics found in the dashboard: %v", len(names), names)
	}
	gw, dead, _ := metricsGateway(t)
	metricsTraffic(t, gw)
	limitedTraffic(t, gw)
	waitForSeries(t, gw, "the dead target is unhealthy", func(f map[string]*dto.MetricFamily) bool {
		v, ok := value(f, "turnpike_upstream_target_health", map[string]string{"upstream": "pool", "target": dead})
		return ok && v == 0
	})
	fams, _ := scrape(t, gw.StatusURL, false)
	for _, name := range names {
		if exported(fams, name) {
			continue
		}
		t.Errorf("the dashboard queries %s, which the gateway does not export", name)
	}
}

func exported(fams map[string]*dto.MetricFamily, name string) bool {
	if f := fams[name]; f != nil && len(f.GetMetric()) > 0 {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f := fams[base]; f != nil && f.GetType() == dto.MetricType_HISTOGRAM && len(f.GetMetric()) > 0 {
				return true
			}
		}
	}
	return false
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promVariable = regexp.MustCompile(`\$\{?\w+\}?`)
	promBraces   = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	labelValues  = regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true}
)

// dashboardMetrics lists the metric names of every query in a Grafana
// dashboard: panel targets' expr and label_values() of template
// variables. In an expression, what is left of an identifier once
// strings, variables, label matchers, ranges and grouping clauses are
// gone is a metric unless a "(" follows it (a function or aggregation).
func dashboardMetrics(t *testing.T, data []byte) []string {
	t.Helper()
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			e := promString.ReplaceAllString(tg.Expr, `""`)
			e = promVariable.ReplaceAllString(e, "")
			e = promBraces.ReplaceAllString(e, "")
			e = promGrouping.ReplaceAllString(e, "")
			for _, loc := range promIdent.FindAllStringIndex(e, -1) {
				word := e[loc[0]:loc[1]]
				if rest := strings.TrimSpace(e[loc[1]:]); strings.HasPrefix(rest, "(") || promKeywords[word] {
					continue
				}
				seen[word] = true
			}
		}
	}
	for _, v := range dash.Templating.List {
		for _, m := range labelValues.FindAllStringSubmatch(v.Definition, -1) {
			seen[m[1]] = true
		}
	}
	var out []string
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
