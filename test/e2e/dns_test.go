package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/turnpikegw/turnpike/internal/gwtest"
)

// dnsServer is a real DNS server on a free loopback UDP port answering A
// records from a table the test changes, with a TTL of 1 s; a name not in
// the table gets a name error; silent drops every query.
type dnsServer struct {
	addr   string
	mu     sync.Mutex
	a      map[string][]string
	silent bool
}

func startDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	d := &dnsServer{a: map[string][]string{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.addr = pc.LocalAddr().String()
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: d, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return d
}

func (d *dnsServer) set(fn func(d *dnsServer)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(d)
}

func (d *dnsServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.silent {
		return
	}
	m := new(dns.Msg)
	m.SetReply(req)
	q := req.Question[0]
	ips, ok := d.a[q.Name]
	if !ok {
		m.Rcode = dns.RcodeNameError
	}
	if q.Qtype == dns.TypeA {
		for _, ip := range ips {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
				A: net.ParseIP(ip)})
		}
	}
	w.WriteMsg(m)
}

// echoesOnOnePort starts an upstream on 127.0.0.1, 127.0.0.2 and 127.0.0.3
// (all loopback on Linux) with the same free port, each answering with its
// name in X-Upstream.
func echoesOnOnePort(t *testing.T) (port int) {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		var lns []net.Listener
		for i := 1; i <= 3; i++ {
			addr := fmt.Sprintf("127.0.0.%d:%d", i, port)
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				break
			}
			if port == 0 {
				port = ln.Addr().(*net.TCPAddr).Port
			}
			lns = append(lns, ln)
		}
		if len(lns) < 3 {
			for _, ln := range lns {
				ln.Close()
			}
			port = 0
			continue
		}
		for i, ln := range lns {
			name := fmt.Sprintf("127.0.0.%d", i+1)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Upstream", name)
				fmt.Fprintf(w, "host=%s", r.Host)
			}))
			srv.Listener.Close()
			srv.Listener = ln
			srv.Start()
			t.Cleanup(srv.Close)
		}
		return port
	}
	t.Fatal("no port free on 127.0.0.1-3")
	return 0
}

// spread sends n requests to path and counts the upstreams that answered.
func spread(t *testing.T, gw *gwtest.Gateway, path string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		resp, body := gw.Get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		seen[resp.Header.Get("X-Upstream")]++
	}
	return seen
}

// A target named by DNS is balanced over every A record; when the records
// change, the removed address stops getting traffic and the new one gets
// it within the TTL; when the DNS server stops answering, the last answer
// keeps serving; a name that does not resolve is Kong's 503.
func TestDNSTargets(t *testing.T) {
	d := startDNSServer(t)
	d.set(func(d *dnsServer) { d.a["svc.test."] = []string{"127.0.0.1", "127.0.0.2"} })
	port := echoesOnOnePort(t)
	gw := gwtest.Start(t, fmt.Sprintf(`
_format_version: "3.0"
services:
- name: pooled
  host: pool
  routes: [{paths: [/pool]}]
- name: direct
  url: http://svc.test:%[1]d
  routes: [{paths: [/direct]}]
- name: missing
  host: missing-pool
  routes: [{paths: [/missing]}]
- name: missing-direct
  url: http://nowhere.test:%[1]d
  routes: [{paths: [/missing-direct]}]
upstreams:
- name: pool
  targets:
  - target: svc.test:%[1]d
- name: missing-pool
  targets:
  - target: nowhere.test:%[1]d
`, port), gwtest.Options{Args: []string{"--dns-resolver", d.addr, "--dns-timeout", "300ms"}})

	if got := spread(t, gw, "/pool", 20); got["127.0.0.1"] != 10 || got["127.0.0.2"] != 10 {
		t.Fatalf("upstream target over two A records: %v", got)
	}
	if got := spread(t, gw, "/direct", 20); got["127.0.0.1"] != 10 || got["127.0.0.2"] != 10 {
		t.Fatalf("service host over two A records: %v", got)
	}
	if _, body := gw.Get("/direct"); body != fmt.Sprintf("host=svc.test:%d", port) {
		t.Errorf("Host sent upstream by the service with a DNS host: %q", body)
	}

	resp, body := gwtest.Do(t, mustRequest(t, gw.AdminURL+"/upstreams/pool/health"))
	var health struct {
		Data []struct {
			Target string `json:"target"`
			Health string `json:"health"`
			Data   struct {
				Addresses []struct {
					IP   string `json:"ip"`
					Port int    `json:"port"`
				} `json:"addresses"`
			} `json:"data"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &health); err != nil || resp.StatusCode != 200 || len(health.Data) != 1 {
		t.Fatalf("health: %d %s", resp.StatusCode, body)
	}
	if h := health.Data[0]; h.Target != fmt.Sprintf("svc.test:%d", port) || h.Health != "HEALTHCHECKS_OFF" ||
		len(h.Data.Addresses) != 2 || h.Data.Addresses[0].IP != "127.0.0.1" || h.Data.Addresses[1].IP != "127.0.0.2" ||
		h.Data.Addresses[1].Port != port {
		t.Errorf("health report %s", body)
	}

	// The records change: 127.0.0.1 out, 127.0.0.3 in.
	d.set(func(d *dnsServer) { d.a["svc.test."] = []string{"127.0.0.2", "127.0.0.3"} })
	changed := time.Now()
	deadline := changed.Add(5 * time.Second)
	for {
		if resp, _ := gw.Get("/pool"); resp.Header.Get("X-Upstream") == "127.0.0.3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new address got no traffic within 5s of the change (TTL 1s)")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("new address in use %v after the change", time.Since(changed).Round(time.Millisecond))
	if got := spread(t, gw, "/pool", 20); got["127.0.0.1"] != 0 || got["127.0.0.2"] != 10 || got["127.0.0.3"] != 10 {
		t.Errorf("after the change: %v", got)
	}
	if got := spread(t, gw, "/direct", 20); got["127.0.0.1"] != 0 || got["127.0.0.2"] != 10 || got["127.0.0.3"] != 10 {
		t.Errorf("service host after the change: %v", got)
	}

	// The DNS server stops answering: past the TTL, the stale answer serves.
	d.set(func(d *dnsServer) { d.silent = true })
	time.Sleep(2500 * time.Millisecond)
	if got := spread(t, gw, "/pool", 20); got["127.0.0.2"] != 10 || got["127.0.0.3"] != 10 {
		t.Errorf("with DNS down: %v", got)
	}
	if !strings.Contains(gw.Stderr(), "using the previous answer") {
		t.Errorf("no log line for the failed refresh:\n%s", gw.Stderr())
	}

	// A name that does not resolve: Kong's 503.
	resp, body = gw.Get("/missing")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"message":"failure to get a peer from the ring-balancer"`) {
		t.Errorf("unresolvable target: %d %s", resp.StatusCode, body)
	}
	resp, body = gw.Get("/missing-direct")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"message":"name resolution failed"`) {
		t.Errorf("unresolvable service host: %d %s", resp.StatusCode, body)
	}
	logged := time.Now().Add(5 * time.Second)
	for !strings.Contains(gw.Stdout(), `"uri":"/missing-direct"`) && time.Now().Before(logged) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(gw.Stdout(), `"status":503,`) ||
		!strings.Contains(gw.Stdout(), `"error":"name resolution failed: dns: nowhere.test: name error (3): no such name"`) {
		t.Errorf("no access log line with name resolution failed:\n%s", gw.Stdout())
	}
}

func mustRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
