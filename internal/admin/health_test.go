package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/resolver"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

const healthCfg = `
_format_version: "3.0"
services:
- name: orders
  host: orders-up
- name: orders-too
  host: orders-up
upstreams:
- name: orders-up
  id: 8ba5c9ba-8ad1-4a34-9f39-36c36b9f1bb3
  healthchecks:
    threshold: 50
    passive:
      unhealthy: {http_failures: 3}
  targets:
  - target: 10.0.0.1:8080
  - target: 10.0.0.2:8080
    weight: 50
- name: plain-up
  targets:
  - target: 10.0.0.9:80
- name: lonely-up
  healthchecks:
    active:
      healthy: {interval: 5}
  targets:
  - target: 10.0.0.7:80
`

func TestUpstreamHealth(t *testing.T) {
	m, err := config.Parse([]byte(healthCfg), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := plugin.NewRegistry(all.Registrations())
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	defer pools.Close()
	states := upstream.NewStates()
	snap, err := snapshot.Compile(m, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools, States: states})})
	if err != nil {
		t.Fatal(err)
	}
	// What the compiler does once wired: gate the upstream's balancers.
	hc := upstream.NewHealthCheckers(upstream.HealthOptions{})
	defer hc.Close()
	gate := hc.Upstream("orders-up")
	for _, svc := range snap.Services {
		if svc.Info.Host == "orders-up" {
			svc.Balancer = upstream.WithThreshold(svc.Balancer, gate)
		}
	}
	holder := &snapshot.Holder{}
	holder.Store(snap)
	states.Get("orders-up|10.0.0.1:8080").SetHealth(false, "passive: 3 HTTP failures (500)")
	h := mustHandler(t, Source{Snapshot: holder, NodeID: "node-1", Hosts: []string{testHost}})

	get := func(path string, want int) map[string]any {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Fatalf("GET %s: %d, want %d: %s", path, rec.Code, want, rec.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}

	for _, key := range []string{"orders-up", "8ba5c9ba-8ad1-4a34-9f39-36c36b9f1bb3"} {
		body := get("/upstreams/"+key+"/health", http.StatusOK)
		if body["node_id"] != "node-1" || body["total"] != float64(2) {
			t.Fatalf("%s: %v", key, body)
		}
		data := body["data"].([]any)
		a, b := data[0].(map[string]any), data[1].(map[string]any)
		if a["target"] != "10.0.0.1:8080" || a["health"] != "UNHEALTHY" || a["reason"] != "passive: 3 HTTP failures (500)" ||
			a["weight"] != float64(100) || a["upstream_id"] != "8ba5c9ba-8ad1-4a34-9f39-36c36b9f1bb3" || a["id"] == nil {
			t.Errorf("first target: %v", a)
		}
		addrs := a["data"].(map[string]any)["addresses"].([]any)[0].(map[string]any)
		if addrs["ip"] != "10.0.0.1" || addrs["port"] != float64(8080) || addrs["health"] != "UNHEALTHY" {
			t.Errorf("addresses: %v", addrs)
		}
		if w := a["data"].(map[string]any)["weight"].(map[string]any); w["available"] != float64(0) || w["unavailable"] != float64(100) {
			t.Errorf("weight: %v", w)
		}
		if b["target"] != "10.0.0.2:8080" || b["health"] != "HEALTHY" || b["weight"] != float64(50) || b["reason"] != "" {
			t.Errorf("second target: %v", b)
		}
	}

	// The upstream as a whole: healthy until the checker closes the gate.
	if d := get("/upstreams/orders-up/health?balancer_health=1", http.StatusOK)["data"].(map[string]any); d["health"] != "HEALTHY" {
		t.Errorf("balancer health %v", d)
	}
	hcfg := snapshot.HealthCheckOf(&m.Upstreams[0].Upstream.Healthchecks)
	c := upstream.NewHealthChecker("orders-up", hcfg, []upstream.HealthTarget{
		{Host: "10.0.0.1", Port: 8080, Weight: 100, State: states.Get("orders-up|10.0.0.1:8080")},
		{Host: "10.0.0.2", Port: 8080, Weight: 50, State: states.Get("orders-up|10.0.0.2:8080")},
	}, gate, upstream.HealthOptions{})
	c.Start()
	defer c.Stop()
	if d := get("/upstreams/orders-up/health?balancer_health=1", http.StatusOK)["data"].(map[string]any); d["health"] != "UNHEALTHY" ||
		d["reason"] != "threshold: 33% of the weight is healthy, below 50%" {
		t.Errorf("balancer health %v", d)
	}

	// No checks configured: HEALTHCHECKS_OFF, as Kong reports it.
	plain := get("/upstreams/plain-up/health", http.StatusOK)["data"].([]any)[0].(map[string]any)
	if plain["health"] != "HEALTHCHECKS_OFF" {
		t.Errorf("plain-up: %v", plain)
	}
	if d := get("/upstreams/plain-up/health?balancer_health=1", http.StatusOK)["data"].(map[string]any); d["health"] != "HEALTHCHECKS_OFF" {
		t.Errorf("plain-up balancer health %v", d)
	}
	// Checks configured but no service uses the upstream.
	lonely := get("/upstreams/lonely-up/health", http.StatusOK)["data"].([]any)[0].(map[string]any)
	if lonely["health"] != "HEALTHY" || lonely["reason"] != "not checked: no service is balanced over this upstream" {
		t.Errorf("lonely-up: %v", lonely)
	}
	if body := get("/upstreams/nope/health", http.StatusNotFound); body["message"] != "Not found" {
		t.Errorf("unknown upstream: %v", body)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/upstreams/orders-up/health", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

// A target named by DNS is reported with one address per DNS answer, each
// with its own health; the target is UNHEALTHY only when all are, and
// DNS_ERROR while its name has no address.
func TestUpstreamHealthDNSAddresses(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("10.0.0.1 svc.test\n10.0.0.2 svc.test\n"), 0o600)
	// No nameserver answers: names outside the hosts file fail at once.
	res, err := resolver.New(resolver.Options{Nameservers: []string{"127.0.0.1:1"}, HostsFile: hosts,
		ResolvConf: filepath.Join(dir, "none"), Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	m, err := config.Parse([]byte(`_format_version: "3.0"
services:
- name: s
  host: pool
upstreams:
- name: pool
  healthchecks:
    passive:
      unhealthy: {tcp_failures: 1}
  targets:
  - target: svc.test:8080
    weight: 40
  - target: gone.test:8080
- name: unused
  targets:
  - target: svc.test:80
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := plugin.NewRegistry(nil)
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	defer pools.Close()
	states := upstream.NewStates()
	snap, err := snapshot.Compile(m, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools, States: states, Resolver: res})})
	if err != nil {
		t.Fatal(err)
	}
	holder := &snapshot.Holder{}
	holder.Store(snap)
	h := mustHandler(t, Source{Snapshot: holder, NodeID: "node-1", Hosts: []string{testHost}})
	get := func(path string) []any {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		return out["data"].([]any)
	}
	states.Get("pool|10.0.0.2:8080").SetHealth(false, "passive: 1 TCP failure (connection refused)")
	data := get("/upstreams/pool/health")
	svc, gone := data[0].(map[string]any), data[1].(map[string]any)
	if svc["health"] != "HEALTHY" || svc["reason"] != "1 of 2 addresses unhealthy" || svc["weight"] != float64(40) {
		t.Errorf("svc.test: %v", svc)
	}
	d := svc["data"].(map[string]any)
	addrs := d["addresses"].([]any)
	a1, a2 := addrs[0].(map[string]any), addrs[1].(map[string]any)
	if len(addrs) != 2 || a1["ip"] != "10.0.0.1" || a1["port"] != float64(8080) || a1["health"] != "HEALTHY" || a1["weight"] != float64(40) ||
		a2["ip"] != "10.0.0.2" || a2["health"] != "UNHEALTHY" || a2["reason"] != "passive: 1 TCP failure (connection refused)" {
		t.Errorf("addresses %v", addrs)
	}
	if w := d["weight"].(map[string]any); w["total"] != float64(80) || w["available"] != float64(40) || w["unavailable"] != float64(40) || d["nodeWeight"] != float64(40) {
		t.Errorf("weights %v", d)
	}
	if gone["health"] != "DNS_ERROR" || gone["reason"] != "dns: gone.test has no address" ||
		len(gone["data"].(map[string]any)["addresses"].([]any)) != 0 {
		t.Errorf("gone.test: %v", gone)
	}
	states.Get("pool|10.0.0.1:8080").SetHealth(false, "passive: 1 timeout")
	if svc := get("/upstreams/pool/health")[0].(map[string]any); svc["health"] != "UNHEALTHY" || svc["reason"] != "passive: 1 timeout" {
		t.Errorf("all addresses down: %v", svc)
	}
	if u := get("/upstreams/unused/health")[0].(map[string]any); u["health"] != "HEALTHCHECKS_OFF" ||
		u["reason"] != "not resolved: no service is balanced over this upstream" {
		t.Errorf("unused: %v", u)
	}
}
