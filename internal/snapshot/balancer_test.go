package snapshot

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

const balancerConfig = `
_format_version: "3.0"
services:
- name: s
  host: pool
  routes: [{name: r, paths: [/]}]
upstreams:
- name: pool
%s
  targets:
  - {target: "10.0.0.1:80", weight: 100}
  - {target: "10.0.0.2:80", weight: 100}
  - {target: "10.0.0.3:80", weight: 0}
`

// compileModel compiles an already parsed (and possibly edited) model.
func compileModel(t *testing.T, m *config.Model) (*Snapshot, error) {
	t.Helper()
	reg, err := plugin.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	return Compile(m, Deps{Registry: reg, Pools: pools, States: upstream.NewStates()})
}

func parseUpstream(t *testing.T, fields string) *config.Model {
	t.Helper()
	m, err := config.Parse([]byte(fmt.Sprintf(balancerConfig, fields)), config.Options{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return m
}

// The upstream's algorithm (and Kong's hash_on shorthand) chooses the
// balancer; round-robin stays the default.
func TestServiceBalancerFollowsAlgorithm(t *testing.T) {
	tests := []struct {
		name   string
		fields string
		// edit changes the parsed model, for what config validation does
		// not accept yet.
		edit func(*config.Upstream)
		want string
	}{
		{name: "default round-robin", fields: "", want: "*upstream.RoundRobin"},
		{name: "round-robin", fields: "  algorithm: round-robin", want: "*upstream.RoundRobin"},
		{name: "least-connections", fields: "  algorithm: least-connections", want: "*upstream.LeastConnections"},
		{name: "latency", fields: "  algorithm: latency", want: "*upstream.Latency"},
		{name: "consistent-hashing", fields: "  algorithm: consistent-hashing\n  hash_on: ip", want: "*upstream.ConsistentHash"},
		{name: "hash_on implies consistent-hashing", fields: "  hash_on: header\n  hash_on_header: X-User", want: "*upstream.ConsistentHash"},
		{name: "power-of-two-choices", edit: func(u *config.Upstream) { u.Algorithm = upstream.AlgorithmPowerOfTwoChoices },
			want: "*upstream.PowerOfTwo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := parseUpstream(t, tt.fields)
			if tt.edit != nil {
				tt.edit(m.Upstreams[0].Upstream)
			}
			s, err := compileModel(t, m)
			if err != nil {
				t.Fatal(err)
			}
			b := s.Services[0].Balancer
			if got := balancerType(b); got != tt.want {
				t.Fatalf("balancer %s, want %s", got, tt.want)
			}
			if n := len(b.Targets()); n != 3 {
				t.Errorf("%d targets listed, want all 3", n)
			}
			for range 20 {
				tg, err := b.Pick(&upstream.PickRequest{ClientIP: "192.0.2.1", Req: &http.Request{Header: http.Header{}}})
				if err != nil {
					t.Fatal(err)
				}
				if tg.Addr == "10.0.0.3:80" {
					t.Fatal("picked the weight-0 target")
				}
			}
		})
	}
}

func balancerType(b upstream.Balancer) string {
	switch b.(type) {
	case *upstream.RoundRobin:
		return "*upstream.RoundRobin"
	case *upstream.LeastConnections:
		return "*upstream.LeastConnections"
	case *upstream.Latency:
		return "*upstream.Latency"
	case *upstream.ConsistentHash:
		return "*upstream.ConsistentHash"
	case *upstream.PowerOfTwo:
		return "*upstream.PowerOfTwo"
	}
	return "other"
}

// The hash fields reach the balancer: header, fallback, cookie name and
// path, and slots.
func TestServiceConsistentHashSettings(t *testing.T) {
	m := parseUpstream(t, `  hash_on: header
  hash_on_header: X-User
  hash_fallback: query_arg
  hash_fallback_query_arg: user
  slots: 100`)
	s, err := compileModel(t, m)
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Services[0].Balancer.(*upstream.ConsistentHash)
	byHeader := &upstream.PickRequest{Req: &http.Request{Header: http.Header{"X-User": {"alice"}}}}
	if tg, _ := ch.Pick(byHeader); tg != ch.Owner(ch.Slot("alice")) {
		t.Errorf("header input not used")
	}
	req, _ := http.NewRequest("GET", "/x?user=bob", nil)
	if tg, _ := ch.Pick(&upstream.PickRequest{Req: req}); tg != ch.Owner(ch.Slot("bob")) {
		t.Errorf("fallback query_arg not used")
	}
	if got := ch.Slot("anything"); got < 0 || got >= 100 {
		t.Errorf("slot %d outside slots: 100", got)
	}

	m = parseUpstream(t, "  hash_on: cookie\n  hash_on_cookie: sticky\n  hash_on_cookie_path: /app")
	if s, err = compileModel(t, m); err != nil {
		t.Fatal(err)
	}
	r := &upstream.PickRequest{Req: &http.Request{Header: http.Header{}}}
	if _, err := s.Services[0].Balancer.Pick(r); err != nil {
		t.Fatal(err)
	}
	if c := r.SetCookie; c == nil || c.Name != "sticky" || c.Path != "/app" {
		t.Errorf("cookie %v, want sticky with Path=/app", r.SetCookie)
	}
}

// An algorithm the balancer package does not know fails the compile with
// the upstream's field path instead of silently falling back.
func TestServiceUnknownAlgorithmFails(t *testing.T) {
	m := parseUpstream(t, "")
	m.Upstreams[0].Upstream.Algorithm = "random"
	_, err := compileModel(t, m)
	if err == nil {
		t.Fatal("compiled an unknown algorithm")
	}
	errs, ok := err.(config.Errors)
	if !ok || len(errs) != 1 || errs[0].Path != "upstreams[0].algorithm" {
		t.Fatalf("error %v, want one at upstreams[0].algorithm", err)
	}
}
