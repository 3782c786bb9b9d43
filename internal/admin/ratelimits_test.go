package admin

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

const rateLimitsCfg = `
_format_version: "3.0"
consumers:
- username: alice
services:
- name: orders
  host: orders.test
  routes: [{name: orders, paths: [/orders]}]
  plugins:
  - name: rate-limiting
    id: 3d1b6f7e-31a4-4f63-9c55-6f0c2d6b2a10
    instance_name: orders-limit
    config: {minute: 5, hour: 100}
  - name: cors
  - name: rate-limiting
    consumer: alice
    enabled: false
    config: {minute: 50}
plugins:
- name: rate-limiting
  instance_name: bucket
  config: {window_type: token-bucket, rate: 2, burst: 4, limit_by: ip}
`

// countFor runs one request of the consumer through the plugin instance
// the admin endpoint reads, as the proxy would.
func countFor(t *testing.T, f *fixture, consumerID string) {
	t.Helper()
	snap := f.holder.Load()
	ix := buildIndex(snap, f.reg, nil, 0)
	inst, ok := snap.InstanceOf(ix.find("plugins", "orders-limit").pe)
	if !ok {
		t.Fatal("no instance for orders-limit")
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/orders", nil)
	c := &plugin.Ctx{Req: req, ClientIP: "192.0.2.1", Consumer: &plugin.Consumer{ID: consumerID},
		Resp: plugin.Response{Header: http.Header{}}}
	if err := inst.(plugin.Accessor).Access(c); err != nil {
		t.Fatal(err)
	}
}

func TestRateLimits(t *testing.T) {
	f := newFixture(t, rateLimitsCfg, nil)
	t.Cleanup(f.loader.Close)
	aliceID := config.ConsumerID(&config.Consumer{Username: "alice"})
	countFor(t, f, aliceID)
	countFor(t, f, aliceID)

	type window struct {
		Period    string  `json:"period"`
		Limit     float64 `json:"limit"`
		Remaining float64 `json:"remaining"`
	}
	windows := func(body map[string]any) []window {
		var out []window
		for _, w := range body["windows"].([]any) {
			m := w.(map[string]any)
			p, _ := m["period"].(string)
			out = append(out, window{Period: p, Limit: m["limit"].(float64), Remaining: m["remaining"].(float64)})
		}
		return out
	}
	for _, path := range []string{
		"/rate-limits/orders-limit/alice",
		"/rate-limits/3d1b6f7e-31a4-4f63-9c55-6f0c2d6b2a10/" + aliceID,
	} {
		body := f.get(path)
		if body["key"] != aliceID || body["limit_by"] != "consumer" || body["window_type"] != "fixed" {
			t.Fatalf("%s: %v", path, body)
		}
		plug := body["plugin"].(map[string]any)
		if plug["id"] != "3d1b6f7e-31a4-4f63-9c55-6f0c2d6b2a10" || plug["instance_name"] != "orders-limit" || plug["name"] != "rate-limiting" {
			t.Fatalf("%s: plugin %v", path, plug)
		}
		want := []window{{"minute", 5, 3}, {"hour", 100, 98}}
		if diff := cmp.Diff(want, windows(body)); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", path, diff)
		}
	}

	// An identifier never seen: full limits. A token bucket has one
	// window without a period.
	body := f.get("/rate-limits/bucket/192.0.2.50")
	if diff := cmp.Diff([]window{{"", 5, 5}}, windows(body)); diff != "" || body["window_type"] != "token-bucket" {
		t.Fatalf("bucket %v (-want +got):\n%s", body, diff)
	}

	for _, tt := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/rate-limits/nope/alice", 404, "Not found"},
		{"/rate-limits/rate-limiting/alice", 400, "several rate-limiting plugins are configured: name one by its id or instance_name"},
	} {
		code, body, _ := f.do(http.MethodGet, tt.path, "")
		if code != tt.status || body["message"] != tt.msg {
			t.Errorf("%s: %d %v", tt.path, code, body)
		}
	}
	if code, _, hdr := f.do(http.MethodPost, "/rate-limits/bucket/x", ""); code != 405 || hdr.Get("Allow") != "GET" {
		t.Errorf("POST: %d", code)
	}
}

func TestRateLimitsPluginKinds(t *testing.T) {
	f := newFixture(t, `
_format_version: "3.0"
plugins:
- name: cors
  instance_name: just-cors
- name: rate-limiting
  instance_name: off
  enabled: false
  config: {minute: 5}
`, nil)
	t.Cleanup(f.loader.Close)
	for _, tt := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/rate-limits/just-cors/x", 400, "plugin 'just-cors' is not a rate-limiting plugin"},
		{"/rate-limits/off/x", 404, "plugin 'off' is disabled"},
		{"/rate-limits/rate-limiting/x", 404, "no rate-limiting plugin is configured"},
	} {
		code, body, _ := f.do(http.MethodGet, tt.path, "")
		if code != tt.status || body["message"] != tt.msg {
			t.Errorf("%s: %d %v", tt.path, code, body)
		}
	}

	one := newFixture(t, `
_format_version: "3.0"
plugins:
- name: rate-limiting
  config: {second: 1, limit_by: ip}
`, nil)
	t.Cleanup(one.loader.Close)
	if body := one.get("/rate-limits/rate-limiting/192.0.2.1"); body["limit_by"] != "ip" {
		t.Fatalf("the only rate-limiting plugin, by name: %v", body)
	}
}
