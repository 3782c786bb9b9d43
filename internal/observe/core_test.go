package observe

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/turnpikegw/turnpike/internal/record"
)

func newCore(t testing.TB) (*RequestMetrics, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	return NewRequestMetrics(reg), reg
}

// series gathers the families of reg by name, each series as its labels
// written name=value, joined by commas in label-name order.
func series(t testing.TB, reg *prometheus.Registry) map[string]map[string]*dto.Metric {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]*dto.Metric{}
	for _, f := range fams {
		byLabels := map[string]*dto.Metric{}
		for _, m := range f.GetMetric() {
			var parts []string
			for _, l := range m.GetLabel() {
				parts = append(parts, l.GetName()+"="+l.GetValue())
			}
			byLabels[strings.Join(parts, ",")] = m
		}
		out[f.GetName()] = byLabels
	}
	return out
}

func TestRequestMetricsLabels(t *testing.T) {
	tests := []struct {
		name    string
		rec     record.Record
		request string // labels of the api_gateway_requests_total series
		hist    string // labels of the api_gateway_request_duration_ms series
	}{
		{"named route", record.Record{Method: "GET", Status: 200, Route: "users", RoutePath: "/users"},
			"method=GET,route=users,status=200", "method=GET,route=users"},
		{"unnamed route by first path", record.Record{Method: "POST", Status: 201, RoutePath: "/orders"},
			"method=POST,route=/orders,status=201", "method=POST,route=/orders"},
		{"no route", record.Record{Method: "GET", Status: 404},
			"method=GET,route=,status=404", "method=GET,route="},
		{"unknown method", record.Record{Method: "BREW", Status: 200, Route: "r"},
			"method=OTHER,route=r,status=200", "method=OTHER,route=r"},
		{"lower-case method", record.Record{Method: "get", Status: 200, Route: "r"},
			"method=OTHER,route=r,status=200", "method=OTHER,route=r"},
		{"status above 599", record.Record{Method: "GET", Status: 999, Route: "r"},
			"method=GET,route=r,status=000", "method=GET,route=r"},
		{"no status", record.Record{Method: "GET", Route: "r"},
			"method=GET,route=r,status=000", "method=GET,route=r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newCore(t)
			tt.rec.Latency = 3 * time.Millisecond
			m.Observe(&tt.rec)
			m.Observe(&tt.rec)
			s := series(t, reg)
			c, ok := s["api_gateway_requests_total"][tt.request]
			if !ok || c.GetCounter().GetValue() != 2 || len(s["api_gateway_requests_total"]) != 1 {
				t.Fatalf("requests: %v", s["api_gateway_requests_total"])
			}
			h, ok := s["api_gateway_request_duration_ms"][tt.hist]
			if !ok || h.GetHistogram().GetSampleCount() != 2 || h.GetHistogram().GetSampleSum() != 6 {
				t.Fatalf("duration: %v", s["api_gateway_request_duration_ms"])
			}
		})
	}
}

func TestRequestMetricsRateLimitAndRetries(t *testing.T) {
	m, reg := newCore(t)
	limited := record.Record{Method: "GET", Status: 429, Route: "api", Exit: "rate-limiting", RateLimited: true}
	m.Observe(&limited)
	// A refusal with a configured error_code counts too.
	m.Observe(&record.Record{Method: "GET", Status: 403, Route: "api", Exit: "rate-limiting", RateLimited: true})
	// A 429 another plugin made, and a rate-limiting answer that is no
	// refusal (its store failed), are not refusals of a limit.
	m.Observe(&record.Record{Method: "GET", Status: 429, Route: "api", Exit: "request-termination"})
	m.Observe(&record.Record{Method: "GET", Status: 500, Route: "api", Exit: "rate-limiting"})
	retried := record.Record{Method: "GET", Status: 200, Route: "api", Service: "users"}
	retried.AddAttempt("a:1", 0)
	retried.AddAttempt("b:1", 0)
	retried.AddAttempt("c:1", 0)
	m.Observe(&retried)
	m.Observe(&record.Record{Method: "GET", Status: 200, Route: "api", Service: "users", Attempts: []record.Attempt{{}}})
	// An aggregation's three calls are no retries.
	m.Observe(&record.Record{Method: "GET", Status: 200, Route: "dash", Service: "users",
		Attempts: []record.Attempt{{Call: "user"}, {Call: "orders"}, {Call: "account"}}})

	s := series(t, reg)
	if c := s["api_gateway_rate_limit_exceeded"]; len(c) != 1 || c["route=api"].GetCounter().GetValue() != 2 {
		t.Errorf("rate_limit_exceeded: %v", c)
	}
	if c := s["turnpike_upstream_retries_total"]; len(c) != 1 || c["service=users"].GetCounter().GetValue() != 2 {
		t.Errorf("retries: %v", c)
	}
}

// However many paths, methods, hosts and statuses requests bring, the
// series are those of the configured routes times the fixed method set
// times statuses 100-599 (plus one for the rest): never one per request.
func TestRequestMetricsCardinalityIsBoundedByConfiguration(t *testing.T) {
	m, reg := newCore(t)
	routes := []string{"", "a", "/b"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		r := record.Record{
			Method: fmt.Sprintf("M%d", rng.IntN(1e6)),
			URI:    fmt.Sprintf("/%d", rng.Int()),
			Host:   fmt.Sprintf("h%d.example", rng.Int()),
			Status: rng.IntN(1000),
			Route:  routes[i%len(routes)],
		}
		if i%2 == 0 {
			r.Method = methods[rng.IntN(len(methods))]
		}
		m.Observe(&r)
	}
	s := series(t, reg)
	maxRequests := len(routes) * len(methods) * 501
	if n := len(s["api_gateway_requests_total"]); n > maxRequests {
		t.Errorf("%d request series, more than %d", n, maxRequests)
	}
	if n := len(s["api_gateway_request_duration_ms"]); n > len(routes)*len(methods) {
		t.Errorf("%d histogram series, more than %d", n, len(routes)*len(methods))
	}
	known := map[string]bool{}
	for _, v := range methods {
		known["method="+v] = true
	}
	for labels := range s["api_gateway_requests_total"] {
		if !known[strings.Split(labels, ",")[0]] {
			t.Errorf("series with a method outside the fixed set: %s", labels)
		}
	}
}

func TestRequestMetricsConcurrentFirstUse(t *testing.T) {
	m, reg := newCore(t)
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				m.Observe(&record.Record{Method: methods[(g+i)%len(methods)], Status: 200 + i%5, Route: fmt.Sprint(i % 7)})
			}
		}()
	}
	for range 8 {
		<-done
	}
	var total float64
	for _, c := range series(t, reg)["api_gateway_requests_total"] {
		total += c.GetCounter().GetValue()
	}
	if total != 8*500 {
		t.Fatalf("counted %v requests, want %d", total, 8*500)
	}
}

func TestObserveAllocatesNothingOnceSeriesExist(t *testing.T) {
	m, _ := newCore(t)
	r := &record.Record{Method: "GET", Status: 200, Route: "users", Latency: 2 * time.Millisecond}
	m.Observe(r)
	if n := testing.AllocsPerRun(100, func() { m.Observe(r) }); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

func BenchmarkRequestMetricsObserve(b *testing.B) {
	m, _ := newCore(b)
	recs := make([]record.Record, 64)
	for i := range recs {
		recs[i] = record.Record{Method: methods[i%3], Status: []int{200, 404, 503}[i%3], Route: fmt.Sprint("route-", i%16),
			Latency: time.Duration(i) * time.Millisecond}
		m.Observe(&recs[i])
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.Observe(&recs[i%len(recs)])
			i++
		}
	})
}
