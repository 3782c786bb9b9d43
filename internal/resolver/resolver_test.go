package resolver

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeDNS is a real DNS server on a loopback UDP port, answering from
// tables the test changes.
type fakeDNS struct {
	addr string
	mu   sync.Mutex
	// records by lower-case FQDN
	a, aaaa map[string][]string
	srv     map[string][]*dns.SRV
	cname   map[string]string
	// extra: SRV answers carry their targets' A records.
	extra bool
	ttl   uint32
	// silent drops every query (the client times out); rcode answers
	// every query with it when set.
	silent  bool
	rcode   int
	queries []string
}

func startDNS(t *testing.T) *fakeDNS {
	t.Helper()
	f := &fakeDNS{a: map[string][]string{}, aaaa: map[string][]string{}, srv: map[string][]*dns.SRV{},
		cname: map[string]string{}, ttl: 0}
	f.addr = serveDNS(t, f)
	return f
}

// serveDNS serves h on a loopback UDP port and returns the address.
func serveDNS(t *testing.T, h dns.Handler) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func (f *fakeDNS) set(fn func(f *fakeDNS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// asked returns and clears the queries seen ("name TYPE").
func (f *fakeDNS) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queries
	f.queries = nil
	return q
}

func (f *fakeDNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	f.queries = append(f.queries, name+" "+dns.TypeToString[q.Qtype])
	if f.silent {
		return
	}
	m := new(dns.Msg)
	m.SetReply(req)
	if f.rcode != 0 {
		m.Rcode = f.rcode
		w.WriteMsg(m)
		return
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: f.ttl}
	}
	switch q.Qtype {
	case dns.TypeA:
		for _, ip := range f.a[name] {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.ParseIP(ip)})
		}
	case dns.TypeAAAA:
		for _, ip := range f.aaaa[name] {
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.ParseIP(ip)})
		}
	case dns.TypeSRV:
		for _, s := range f.srv[name] {
			rr := *s
			rr.Hdr = hdr(dns.TypeSRV)
			m.Answer = append(m.Answer, &rr)
			if f.extra {
				for _, ip := range f.a[strings.ToLower(s.Target)] {
					m.Extra = append(m.Extra, &dns.A{Hdr: dns.RR_Header{Name: s.Target, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: f.ttl}, A: net.ParseIP(ip)})
				}
			}
		}
	case dns.TypeCNAME:
		if c, ok := f.cname[name]; ok {
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: c})
		}
	}
	_, known := f.a[name]
	if _, ok := f.aaaa[name]; ok {
		known = true
	}
	if _, ok := f.srv[name]; ok {
		known = true
	}
	if _, ok := f.cname[name]; ok {
		known = true
	}
	if !known {
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}

// newTestResolver makes a resolver on f with a 50 ms TTL floor, no
// resolv.conf and no hosts file unless opts say otherwise.
func newTestResolver(t *testing.T, f *fakeDNS, opts Options) *Resolver {
	t.Helper()
	opts.Nameservers = []string{f.addr}
	if opts.ResolvConf == "" {
		opts.ResolvConf = filepath.Join(t.TempDir(), "none")
	}
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	if opts.Debounce == 0 {
		opts.Debounce = 20 * time.Millisecond
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.minTTL = 50 * time.Millisecond
	t.Cleanup(r.Close)
	return r
}

func lookupList(t *testing.T, r *Resolver, name string) string {
	t.Helper()
	addrs, err := r.Lookup(name)
	if err != nil {
		return "error: " + err.Error()
	}
	return addrList(addrs)
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A records: every address, sorted; refreshed in the background when the
// TTL ends, a change notifying once per burst; LAST puts A first from then
// on, so a refresh is one query.
func TestResolverARecordsRefresh(t *testing.T) {
	f := startDNS(t)
	f.set(func(f *fakeDNS) { f.a["svc.test."] = []string{"10.0.0.2", "10.0.0.1"} })
	r := newTestResolver(t, f, Options{})
	var changes atomic.Int32
	r.OnChange(func() { changes.Add(1) })
	r.Resolve([]string{"svc.test", "SVC.test."})
	if got := lookupList(t, r, "svc.test"); got != "10.0.0.1,10.0.0.2" {
		t.Fatalf("first answer %s", got)
	}
	if q := f.asked(); strings.Join(q, ";") != "svc.test. SRV;svc.test. A" {
		t.Errorf("first lookup asked %v, want SRV then A (Kong's order)", q)
	}
	time.Sleep(150 * time.Millisecond)
	if changes.Load() != 0 {
		t.Fatal("an unchanged answer notified")
	}
	if q := f.asked(); len(q) == 0 || q[0] != "svc.test. A" {
		t.Errorf("refreshes asked %v, want A first (LAST)", q)
	}
	f.set(func(f *fakeDNS) { f.a["svc.test."] = []string{"10.0.0.3", "10.0.0.1"} })
	waitUntil(t, 2*time.Second, "the new answer", func() bool { return lookupList(t, r, "svc.test") == "10.0.0.1,10.0.0.3" })
	waitUntil(t, time.Second, "the change callback", func() bool { return changes.Load() == 1 })
	time.Sleep(100 * time.Millisecond)
	if n := changes.Load(); n != 1 {
		t.Errorf("%d change notifications for one change", n)
	}
}

// A failed refresh keeps the previous answer for the stale TTL, then drops
// it; the name resolving again brings the addresses back.
func TestResolverStaleOnFailure(t *testing.T) {
	f := startDNS(t)
	f.set(func(f *fakeDNS) { f.a["svc.test."] = []string{"10.0.0.1"} })
	r := newTestResolver(t, f, Options{StaleTTL: 400 * time.Millisecond, ErrorTTL: time.Millisecond, Timeout: 100 * time.Millisecond})
	var changes atomic.Int32
	r.OnChange(func() { changes.Add(1) })
	r.Resolve([]string{"svc.test"})
	f.set(func(f *fakeDNS) { f.silent = true })
	failedAt := time.Now()
	time.Sleep(250 * time.Millisecond)
	if got := lookupList(t, r, "svc.test"); got != "10.0.0.1" {
		t.Fatalf("while stale: %s", got)
	}
	waitUntil(t, 2*time.Second, "the stale answer to go", func() bool {
		return strings.HasPrefix(lookupList(t, r, "svc.test"), "error:")
	})
	if d := time.Since(failedAt); d < 300*time.Millisecond {
		t.Errorf("stale answer dropped after %v, before its stale TTL", d)
	}
	_, err := r.Lookup("svc.test")
	var de *DNSError
	if !errors.As(err, &de) || de.NotFound {
		t.Errorf("after the stale TTL: %v, want a failed lookup", err)
	}
	waitUntil(t, time.Second, "the change callback", func() bool { return changes.Load() == 1 })
	f.set(func(f *fakeDNS) { f.silent = false })
	waitUntil(t, 2*time.Second, "the name to resolve again", func() bool { return lookupList(t, r, "svc.test") == "10.0.0.1" })
}

// A server failure is a failed lookup (stale answers apply); a name error
// or an empty answer is authoritative: the addresses go at once.
func TestResolverNotFoundAndErrors(t *testing.T) {
	f := startDNS(t)
	f.set(func(f *fakeDNS) {
		f.a["svc.test."] = []string{"10.0.0.1"}
		f.aaaa["v6only.test."] = []string{"::1"}
	})
	r := newTestResolver(t, f, Options{StaleTTL: time.Hour})
	r.Resolve([]string{"svc.test", "nope.test", "v6only.test"})
	_, err := r.Lookup("nope.test")
	var de *DNSError
	if !errors.As(err, &de) || !de.NotFound || !strings.Contains(err.Error(), "name error") {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := r.Lookup("v6only.test"); !errors.As(err, &de) || !de.NotFound || !strings.Contains(err.Error(), "no SRV, A, CNAME record") {
		t.Errorf("no record of the order's types: %v", err)
	}
	if _, err := r.Lookup("never.asked"); err == nil {
		t.Error("a name never resolved has addresses")
	}
	f.set(func(f *fakeDNS) { f.rcode = dns.RcodeServerFailure })
	time.Sleep(200 * time.Millisecond)
	if got := lookupList(t, r, "svc.test"); got != "10.0.0.1" {
		t.Errorf("server failure dropped the answer: %s", got)
	}
	f.set(func(f *fakeDNS) { f.rcode = 0; delete(f.a, "svc.test.") })
	waitUntil(t, 2*time.Second, "the name error to drop the answer", func() bool {
		_, err := r.Lookup("svc.test")
		return errors.As(err, &de) && de.NotFound
	})
}

// SRV: the lowest priority only, each target's addresses with the record's
// port and a share of its weight (0 counts as 1), from the additional
// section or a lookup of their own.
func TestResolverSRV(t *testing.T) {
	for _, extra := range []bool{false, true} {
		f := startDNS(t)
		f.set(func(f *fakeDNS) {
			f.extra = extra
			f.srv["svc.test."] = []*dns.SRV{
				{Priority: 10, Weight: 5, Port: 8081, Target: "a.test."},
				{Priority: 10, Weight: 0, Port: 8082, Target: "b.test."},
				{Priority: 10, Weight: 30, Port: 8084, Target: "d.test."},
				{Priority: 20, Weight: 50, Port: 8083, Target: "c.test."},
			}
			f.a["a.test."] = []string{"10.0.0.1"}
			f.a["b.test."] = []string{"10.0.0.2", "10.0.0.3"}
			f.a["c.test."] = []string{"10.0.0.4"}
			f.a["d.test."] = []string{"10.0.1.1", "10.0.1.2", "10.0.1.3"}
		})
		r := newTestResolver(t, f, Options{})
		r.Resolve([]string{"svc.test"})
		addrs, err := r.Lookup("svc.test")
		if err != nil {
			t.Fatal(err)
		}
		// A record's weight is shared by its target's addresses (Kong has
		// one entry per record): d.test's 30 is 10 for each of its 3.
		want := []Address{
			{IP: netip.MustParseAddr("10.0.0.1"), Port: 8081, Weight: 5},
			{IP: netip.MustParseAddr("10.0.0.2"), Port: 8082, Weight: 1},
			{IP: netip.MustParseAddr("10.0.0.3"), Port: 8082, Weight: 1},
			{IP: netip.MustParseAddr("10.0.1.1"), Port: 8084, Weight: 10},
			{IP: netip.MustParseAddr("10.0.1.2"), Port: 8084, Weight: 10},
			{IP: netip.MustParseAddr("10.0.1.3"), Port: 8084, Weight: 10},
		}
		if len(addrs) != len(want) {
			t.Fatalf("extra=%v: %v", extra, addrs)
		}
		for i := range want {
			if addrs[i] != want[i] {
				t.Errorf("extra=%v: address %d = %s weight %d, want %s weight %d", extra, i, addrs[i], addrs[i].Weight, want[i], want[i].Weight)
			}
		}
		if q := f.asked(); extra && len(q) != 1 {
			t.Errorf("with the additional section: asked %v, want the SRV query alone", q)
		}
	}
}

// CNAME in the order: the alias is followed to its addresses.
func TestResolverCNAME(t *testing.T) {
	f := startDNS(t)
	f.set(func(f *fakeDNS) {
		f.cname["alias.test."] = "real.test."
		f.a["real.test."] = []string{"10.0.0.9"}
	})
	r := newTestResolver(t, f, Options{Order: []string{"cname"}})
	r.Resolve([]string{"alias.test"})
	if got := lookupList(t, r, "alias.test"); got != "10.0.0.9" {
		t.Errorf("alias: %s", got)
	}
}

// The hosts file answers without a query and never expires; resolv.conf's
// search list expands short names.
func TestResolverHostsFileAndSearch(t *testing.T) {
	f := startDNS(t)
	f.set(func(f *fakeDNS) { f.a["api.corp.test."] = []string{"10.0.0.5"} })
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("# comment\n127.0.0.1 localhost box.local\n::1 localhost\n10.1.1.1 Pinned.Test # inline\nnot-an-ip x\nfe80::1%eth0 linklocal.test\n"), 0o600)
	conf := filepath.Join(dir, "resolv.conf")
	os.WriteFile(conf, []byte("nameserver 192.0.2.1\nsearch corp.test\noptions ndots:1\n"), 0o600)
	r := newTestResolver(t, f, Options{HostsFile: hosts, ResolvConf: conf, Order: []string{"LAST", "AAAA", "A"}})
	r.Resolve([]string{"localhost", "pinned.test", "api", "linklocal.test"})
	if got := lookupList(t, r, "localhost"); got != "::1" {
		t.Errorf("localhost with AAAA first: %s", got)
	}
	// A link-local address is only reachable with its zone.
	if addrs, err := r.Lookup("linklocal.test"); err != nil || len(addrs) != 1 || addrs[0].IP.Zone() != "eth0" ||
		net.JoinHostPort(addrs[0].IP.String(), "8080") != "[fe80::1%eth0]:8080" {
		t.Errorf("link-local hosts entry: %v %v", addrs, err)
	}
	if got := lookupList(t, r, "PINNED.test"); got != "10.1.1.1" {
		t.Errorf("pinned: %s", got)
	}
	if got := lookupList(t, r, "api"); got != "10.0.0.5" {
		t.Errorf("short name: %s", got)
	}
	// The short name tries the search domain first; "api." has a name
	// error, so it is not asked for A.
	if q := f.asked(); strings.Join(q, ";") != "api.corp.test. AAAA;api. AAAA;api.corp.test. A" {
		t.Errorf("queries %v: hosts-file names must not be asked, short names with the search domain first", q)
	}
	time.Sleep(120 * time.Millisecond)
	for _, q := range f.asked() {
		if !strings.HasPrefix(q, "api.") {
			t.Errorf("a hosts-file name was refreshed: %s", q)
		}
	}
}

// A server that does not answer: Resolve returns after the timeout, the
// name has no addresses, and it is asked again after the error TTL.
func TestResolverTimeout(t *testing.T) {
	f := startDNS(t)
	f.set(func(f *fakeDNS) { f.silent = true })
	var logs syncBuffer
	r := newTestResolver(t, f, Options{Timeout: 150 * time.Millisecond, ErrorTTL: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	start := time.Now()
	r.Resolve([]string{"slow.test", "slower.test"})
	// The timeout and Resolve's grace are 400ms; the bound is for a
	// Resolve that does not give up, with room for a loaded machine.
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Resolve took %v with a 150ms timeout", d)
	}
	if _, err := r.Lookup("slow.test"); err == nil {
		t.Fatal("no answer gave addresses")
	}
	time.Sleep(700 * time.Millisecond)
	if n := strings.Count(logs.String(), "name=slow.test"); n != 1 {
		t.Errorf("a name failing on every retry logged %d times, want once:\n%s", n, logs.String())
	}
	f.set(func(f *fakeDNS) { f.silent = false; f.a["slow.test."] = []string{"10.0.0.7"} })
	waitUntil(t, 2*time.Second, "the retry", func() bool { return lookupList(t, r, "slow.test") == "10.0.0.7" })
	waitUntil(t, time.Second, "the recovery log", func() bool {
		return strings.Contains(logs.String(), `msg="dns: name resolves again" name=slow.test addresses=10.0.0.7`)
	})
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Names no longer configured are forgotten and no longer refreshed; the
// valid TTL replaces the answer's.
func TestResolverRetainAndValidTTL(t *testing.T) {
	f := startDNS(t)
	f.set(func(f *fakeDNS) {
		f.a["a.test."] = []string{"10.0.0.1"}
		f.a["b.test."] = []string{"10.0.0.2"}
		f.ttl = 3600
	})
	r := newTestResolver(t, f, Options{ValidTTL: 60 * time.Millisecond})
	r.Resolve([]string{"a.test", "b.test"})
	r.Retain([]string{"A.test"})
	f.asked()
	time.Sleep(200 * time.Millisecond)
	q := f.asked()
	if len(q) == 0 {
		t.Error("the valid TTL did not replace the answer's 3600 s")
	}
	for _, s := range q {
		if strings.HasPrefix(s, "b.test") {
			t.Fatalf("a forgotten name was refreshed: %v", q)
		}
	}
	if _, err := r.Lookup("b.test"); err == nil {
		t.Error("a forgotten name still has addresses")
	}
}

func TestResolverOptionsErrors(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	if _, err := New(Options{ResolvConf: none, Order: []string{"A", "MX"}}); err == nil || !strings.Contains(err.Error(), `"MX"`) {
		t.Errorf("bad order: %v", err)
	}
	if _, err := New(Options{ResolvConf: none, Nameservers: []string{"dns.example"}}); err == nil || !strings.Contains(err.Error(), "ip:port") {
		t.Errorf("bad nameserver: %v", err)
	}
	r, err := New(Options{ResolvConf: none, Nameservers: []string{"10.0.0.53", "[::1]:5353", " 127.0.0.1:53 "}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := strings.Join(r.Servers(), ","); got != "10.0.0.53:53,[::1]:5353,127.0.0.1:53" {
		t.Errorf("servers %s", got)
	}
	local, err := New(Options{ResolvConf: none})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if got := strings.Join(local.Servers(), ","); got != "127.0.0.1:53,[::1]:53" {
		t.Errorf("without resolv.conf: %s", got)
	}
}

func TestIsIPLiteral(t *testing.T) {
	if !IsIPLiteral("::1") || !IsIPLiteral("[fe80::1]") || IsIPLiteral("svc.test") {
		t.Error("IP literal check")
	}
}
