package snapshot

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/resolver"
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
	return Compile(m, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools, States: upstream.NewStates()})})
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

const dnsConfig = `
_format_version: "3.0"
services:
- name: up
  host: pool
  routes: [{name: up, paths: [/up]}]
- name: direct
  url: http://multi.test:8080/x
  routes: [{name: direct, paths: [/direct]}]
- name: single
  url: http://one.test:8080
  routes: [{name: single, paths: [/single]}]
- name: gone
  url: http://gone.test:8080
  routes: [{name: gone, paths: [/gone]}]
- name: ip
  url: http://10.9.9.9:8080
  routes: [{name: ip, paths: [/ip]}]
upstreams:
- name: pool
  targets:
  - {target: "multi.test:9000", weight: 20}
  - {target: "srv.test:1", weight: 7}
  - {target: "gone.test:9000"}
  - {target: "off.test:9000", weight: 0}
  - {target: "10.0.0.1:80"}
- name: unused
  targets:
  - {target: "never.test:80"}
`

// startSRV serves srv.test's SRV records (two ports of one address) and a
// name error for every other name, on a loopback UDP port.
func startSRV(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(req)
			q := req.Question[0]
			switch {
			case q.Name == "srv.test." && q.Qtype == dns.TypeSRV:
				for _, port := range []uint16{7001, 7002} {
					m.Answer = append(m.Answer, &dns.SRV{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 60},
						Weight: port - 7000, Port: port, Target: "10.1.1.1."})
				}
			case q.Name != "srv.test.":
				m.Rcode = dns.RcodeNameError
			}
			w.WriteMsg(m)
		})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// DNS names expand to one balancer entry per address: an upstream target
// gives each A record its own weight and each SRV record its port and
// weight, keeps its name as Origin, and stays (with no entry) while its
// name does not resolve; a service host is round-robin over its addresses
// or fails with "name resolution failed". IPs are never looked up.
func TestCompileExpandsDNSNames(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("10.0.0.12 multi.test\n10.0.0.11 multi.test\n10.0.0.30 one.test\n10.0.0.40 off.test\n"), 0o600)
	res, err := resolver.New(resolver.Options{Nameservers: []string{startSRV(t)}, HostsFile: hosts,
		ResolvConf: filepath.Join(dir, "none"), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	m, err := config.Parse([]byte(dnsConfig), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(dnsNames(m), ","); got != "gone.test,multi.test,off.test,one.test,srv.test" {
		t.Errorf("names %s (unused upstreams and IPs are not resolved)", got)
	}
	reg, _ := plugin.NewRegistry(nil)
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	defer pools.Close()
	snap, err := Compile(m, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools, States: upstream.NewStates(), Resolver: res})})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range snap.Services[0].Balancer.Targets() {
		got = append(got, fmt.Sprintf("%s<%s>w%d", tg.Addr, tg.Origin, tg.Weight))
	}
	want := "10.0.0.11:9000<multi.test:9000>w20 10.0.0.12:9000<multi.test:9000>w20 " +
		"10.1.1.1:7001<srv.test:1>w1 10.1.1.1:7002<srv.test:1>w2 " +
		"10.0.0.40:9000<off.test:9000>w0 10.0.0.1:80<10.0.0.1:80>w100"
	if strings.Join(got, " ") != want {
		t.Errorf("upstream targets\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if !snap.Upstreams.StateKeys["pool|10.1.1.1:7002"] || !snap.Upstreams.PoolKeys["http://10.0.0.11:9000"] {
		t.Errorf("states and pools are keyed by address: %v %v", snap.Upstreams.StateKeys, snap.Upstreams.PoolKeys)
	}

	direct := snap.Services[1].Balancer
	seen := map[string]int{}
	for range 4 {
		tg, err := direct.Pick(&upstream.PickRequest{})
		if err != nil {
			t.Fatal(err)
		}
		seen[tg.Addr]++
	}
	if seen["10.0.0.11:8080"] != 2 || seen["10.0.0.12:8080"] != 2 || snap.Services[1].HostHeader != "multi.test:8080" {
		t.Errorf("service host over two addresses: %v, Host %s", seen, snap.Services[1].HostHeader)
	}
	if tg, _ := snap.Services[2].Balancer.Pick(nil); tg == nil || tg.Addr != "10.0.0.30:8080" {
		t.Errorf("one address: %v", tg)
	}
	if _, err := snap.Services[3].Balancer.Pick(nil); !errors.Is(err, upstream.ErrNameResolution) || !strings.Contains(err.Error(), "gone.test") {
		t.Errorf("unresolvable service host: %v", err)
	}
	if tg, _ := snap.Services[4].Balancer.Pick(nil); tg == nil || tg.Addr != "10.9.9.9:8080" {
		t.Errorf("IP service: %v", tg)
	}

	// An upstream whose every name fails: compiled, and no peer to pick,
	// whatever the algorithm.
	m.Upstreams[0].Targets = m.Upstreams[0].Targets[2:3]
	for _, alg := range []string{"round-robin", "least-connections", "latency", "consistent-hashing", "power-of-two-choices"} {
		m.Upstreams[0].Upstream.Algorithm = alg
		s, err := Compile(m, Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools, Resolver: res})})
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if _, err := s.Services[0].Balancer.Pick(&upstream.PickRequest{Req: &http.Request{Header: http.Header{}}}); !errors.Is(err, upstream.ErrNoTarget) {
			t.Errorf("%s with no address: %v", alg, err)
		}
	}
}
