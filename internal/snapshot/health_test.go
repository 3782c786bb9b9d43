package snapshot

import (
	"reflect"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// Every setting of a healthchecks block reaches the checker's options.
func TestHealthCheckOf(t *testing.T) {
	m, err := config.Parse([]byte(`_format_version: "3.0"
upstreams:
- name: up
  healthchecks:
    threshold: 25
    active:
      type: https
      timeout: 2.5
      concurrency: 3
      http_path: /status
      https_sni: probe.test
      https_verify_certificate: false
      headers: {X-Probe: [a, b]}
      healthy: {interval: 5, http_statuses: [200], successes: 2}
      unhealthy: {interval: 1.5, http_statuses: [500], tcp_failures: 4, timeouts: 5, http_failures: 6}
    passive:
      type: tcp
      healthy: {http_statuses: [201], successes: 7}
      unhealthy: {http_statuses: [502], tcp_failures: 8, timeouts: 9, http_failures: 10}
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := HealthCheckOf(&m.Upstreams[0].Upstream.Healthchecks)
	want := upstream.HealthCheck{
		Threshold: 25,
		Active: upstream.ActiveHealthCheck{Type: "https", Timeout: 2.5, Concurrency: 3, HTTPPath: "/status",
			HTTPSSNI: "probe.test", Headers: map[string][]string{"X-Probe": {"a", "b"}},
			Healthy:   upstream.ActiveHealthy{Interval: 5, HTTPStatuses: []int{200}, Successes: 2},
			Unhealthy: upstream.ActiveUnhealthy{Interval: 1.5, HTTPStatuses: []int{500}, TCPFailures: 4, Timeouts: 5, HTTPFailures: 6},
		},
		Passive: upstream.PassiveHealthCheck{Type: "tcp",
			Healthy:   upstream.PassiveHealthy{HTTPStatuses: []int{201}, Successes: 7},
			Unhealthy: upstream.PassiveUnhealthy{HTTPStatuses: []int{502}, TCPFailures: 8, Timeouts: 9, HTTPFailures: 10},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if !got.Enabled() {
		t.Error("checks with intervals are not enabled")
	}
}
