package resolver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// slowDNS answers every A query with one address after a delay, counting
// the queries it is serving at once. Each query is its own goroutine in
// the server, so how many are in flight is how many the client sent.
type slowDNS struct {
	delay time.Duration
	ttl   uint32
	// rcode, when set, answers every query with it.
	rcode             int
	inFlight, most    atomic.Int32
	queries, answered atomic.Int64
	// mark is a query name whose arrival is recorded in markAt, as the
	// count of queries that had arrived by then (itself included).
	mark   string
	markAt atomic.Int64
	// While blocked, queries wait until release is closed.
	blocked atomic.Bool
	release chan struct{}
}

func (s *slowDNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	n := s.inFlight.Add(1)
	for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
	}
	if q := s.queries.Add(1); req.Question[0].Name == s.mark {
		s.markAt.Store(q)
	}
	if s.blocked.Load() {
		<-s.release
	}
	time.Sleep(s.delay)
	// Counted out before the answer leaves: the client's next query may
	// arrive right after it.
	s.inFlight.Add(-1)
	m := new(dns.Msg)
	m.SetReply(req)
	m.Rcode = s.rcode
	if q := req.Question[0]; s.rcode == 0 && q.Qtype == dns.TypeA {
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: s.ttl},
			A: net.IPv4(10, 0, 0, 1)})
	}
	w.WriteMsg(m)
	s.answered.Add(1)
}

func manyNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("n%d.test", i)
	}
	return names
}

func newSlowResolver(t *testing.T, s *slowDNS, opts Options) *Resolver {
	t.Helper()
	return newTestResolver(t, &fakeDNS{addr: serveDNS(t, s)}, opts)
}

// 2,000 names resolved together never have more lookups in flight than the
// concurrency, neither the first lookups nor the refreshes; a first lookup
// asked for while refreshes are queued goes ahead of them.
func TestResolverLookupsBounded(t *testing.T) {
	s := &slowDNS{delay: 2 * time.Millisecond, mark: "late.test."}
	const limit = 16
	r := newSlowResolver(t, s, Options{Order: []string{"A"}, Concurrency: limit})
	names := manyNames(2000)
	r.Resolve(names)
	if most := s.most.Load(); most > limit || most < 4 {
		t.Fatalf("first lookups: %d queries in flight at most, want 4 to %d", most, limit)
	}
	for _, n := range names {
		if got := lookupList(t, r, n); got != "10.0.0.1" {
			t.Fatalf("%s: %s", n, got)
		}
	}

	// A TTL of 0 makes every name due every 50 ms (the test floor): more
	// than 16 slots at 2 ms a query can serve, so refreshes queue up.
	s.most.Store(0)
	before := s.queries.Load()
	waitUntil(t, 10*time.Second, "200 refresh queries", func() bool { return s.queries.Load()-before >= 200 })
	if most := s.most.Load(); most > limit {
		t.Errorf("refreshes: %d queries in flight, want at most %d", most, limit)
	}
	// Counted in queries, not time, so a slow machine changes nothing: in
	// turn with the refreshes, the first lookup would come after every
	// overdue name; ahead of them, after about the lookups in flight.
	r.mu.Lock()
	overdue, now := 0, time.Now()
	for _, e := range r.due {
		if !e.due.After(now) {
			overdue++
		}
	}
	r.mu.Unlock()
	if overdue < 200 {
		t.Fatalf("only %d names overdue: no queue of refreshes to jump", overdue)
	}
	before = s.queries.Load()
	r.Resolve([]string{"late.test"})
	if lookupList(t, r, "late.test") != "10.0.0.1" {
		t.Fatalf("late.test: %s", lookupList(t, r, "late.test"))
	}
	if pos := s.markAt.Load() - before; pos > int64(overdue/4) {
		t.Errorf("a first lookup was query %d after it was asked for, behind %d overdue refreshes", pos, overdue)
	}
}

// Names answered together with the same TTL are due at times spread over
// ±10% of it, kept in a heap ordered by due time; forgotten names leave
// it and hosts-file names are never in it.
func TestResolverDueTimesSpread(t *testing.T) {
	s := &slowDNS{ttl: 10}
	r := newSlowResolver(t, s, Options{Order: []string{"A"}})
	names := manyNames(500)
	start := time.Now()
	r.Resolve(names)
	end := time.Now()
	r.mu.Lock()
	lo, hi := r.entries[names[0]].due, r.entries[names[0]].due
	for _, n := range names {
		due := r.entries[n].due
		if due.Before(start.Add(9*time.Second)) || due.After(end.Add(11*time.Second)) {
			r.mu.Unlock()
			t.Fatalf("%s due in %v, want 10 s ±10%%", n, due.Sub(start))
		}
		lo, hi = minTime(lo, due), maxTime(hi, due)
	}
	if spread := hi.Sub(lo); spread < time.Second {
		t.Errorf("due times of names answered together spread over %v only", spread)
	}
	checkQueue(t, r, len(names))
	r.mu.Unlock()
	r.Retain(names[:100])
	r.mu.Lock()
	checkQueue(t, r, 100)
	r.mu.Unlock()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// checkQueue checks the due queue holds want entries, each the one of its
// name, at its index, none due before its parent (r.mu held; it reports
// with Errorf, so the caller can unlock).
func checkQueue(t *testing.T, r *Resolver, want int) {
	t.Helper()
	if len(r.due) != want {
		t.Errorf("%d names queued, want %d", len(r.due), want)
	}
	for i, e := range r.due {
		if e.index != i || r.entries[e.name] != e {
			t.Errorf("queue entry %d: index %d, current %v", i, e.index, r.entries[e.name] == e)
			return
		}
		if i > 0 && e.due.Before(r.due[(i-1)/2].due) {
			t.Errorf("queue entry %d is due before its parent", i)
			return
		}
	}
}

// Names answered at the same moment are due at spread times, whatever the
// answer: the TTL of an answer, the not-found TTL, the error TTL (never
// before the floor); a failing name with a stale answer is due when that
// answer expires at the latest.
func TestResolverStoreSpreadsDueTimes(t *testing.T) {
	r := newTestResolver(t, startDNS(t), Options{NotFoundTTL: 30 * time.Second, ErrorTTL: time.Second, StaleTTL: time.Minute})
	r.minTTL = time.Second
	addrs := []Address{{IP: netip.MustParseAddr("10.0.0.1")}}
	now := time.Now()
	for _, c := range []struct {
		what   string
		res    lookupResult
		lo, hi time.Duration
	}{
		{"answer", lookupResult{addrs: addrs, ttl: 10 * time.Second, qtype: dns.TypeA}, 9 * time.Second, 11 * time.Second},
		{"name error", lookupResult{err: &DNSError{Name: "x", NotFound: true, Err: errNXDomain}}, 27 * time.Second, 33 * time.Second},
		{"failure", lookupResult{err: &DNSError{Name: "x", Err: errors.New("timeout")}}, time.Second, 1100 * time.Millisecond},
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			e := &dnsEntry{name: "x", index: -1}
			r.mu.Lock()
			r.store(e, c.res, now, true)
			r.mu.Unlock()
			wait := e.due.Sub(now)
			if wait < c.lo || wait > c.hi {
				t.Fatalf("%s: due in %v, want %v to %v", c.what, wait, c.lo, c.hi)
			}
			seen[wait] = true
		}
		if len(seen) < 150 {
			t.Errorf("%s: 200 names answered together are due at %d distinct times", c.what, len(seen))
		}
	}
	e := &dnsEntry{name: "x", index: -1, addrs: addrs, staleUntil: now.Add(500 * time.Millisecond)}
	r.mu.Lock()
	r.store(e, lookupResult{err: &DNSError{Name: "x", Err: errors.New("timeout")}}, now, false)
	r.mu.Unlock()
	if !e.due.Equal(e.staleUntil) || len(e.addrs) != 1 {
		t.Errorf("failure with a stale answer: due in %v, stale until %v", e.due.Sub(now), e.staleUntil.Sub(now))
	}
}

func TestResolverSpreadBounds(t *testing.T) {
	r := &Resolver{minTTL: time.Second}
	for _, c := range []struct{ d, lo, hi time.Duration }{
		{0, time.Second, 1100 * time.Millisecond},
		{time.Second, time.Second, 1100 * time.Millisecond},
		{1050 * time.Millisecond, time.Second, 1155 * time.Millisecond},
		{30 * time.Second, 27 * time.Second, 33 * time.Second},
	} {
		seen := map[time.Duration]bool{}
		for range 1000 {
			got := r.spread(c.d)
			if got < c.lo || got > c.hi {
				t.Fatalf("spread(%v) = %v, want %v to %v", c.d, got, c.lo, c.hi)
			}
			seen[got] = true
		}
		if len(seen) < 900 {
			t.Errorf("spread(%v): %d distinct waits of 1000", c.d, len(seen))
		}
	}
}

// Resolve waits at most the timeout and a grace: names whose lookups have
// not finished by then have none yet, and their answers run the change
// callback when they come.
func TestResolverResolveWaitIsBounded(t *testing.T) {
	s := &slowDNS{delay: 100 * time.Millisecond}
	r := newSlowResolver(t, s, Options{Order: []string{"A"}, Concurrency: 1, Timeout: 200 * time.Millisecond})
	var changes atomic.Int32
	r.OnChange(func() { changes.Add(1) })
	// Waiting for all 50 would take 5 s; the bound leaves a loaded machine
	// ten times the 200 ms timeout.
	names := manyNames(50)
	start := time.Now()
	r.Resolve(names)
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Fatalf("Resolve of 50 names one at a time at 100 ms took %v with a 200 ms timeout", d)
	}
	if got := lookupList(t, r, names[49]); got != "error: dns: n49.test: lookup in progress" {
		t.Fatalf("the last name when Resolve returned: %s", got)
	}
	waitUntil(t, 20*time.Second, "every name", func() bool { return lookupList(t, r, names[49]) == "10.0.0.1" })
	waitUntil(t, 10*time.Second, "the change callback", func() bool { return changes.Load() > 0 })
}

// Resolve of cached names returns without a lookup: here the nameserver
// has stopped answering and the timeout is a minute.
func TestResolverCachedNamesDoNotWait(t *testing.T) {
	s := &slowDNS{ttl: 3600, release: make(chan struct{})}
	r := newSlowResolver(t, s, Options{Order: []string{"A"}, Timeout: time.Minute})
	names := manyNames(10)
	r.Resolve(names)
	if got := lookupList(t, r, names[9]); got != "10.0.0.1" {
		t.Fatalf("%s: %s", names[9], got)
	}
	s.blocked.Store(true)
	t.Cleanup(func() { close(s.release) })
	done := make(chan struct{})
	go func() {
		r.Resolve(names)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Resolve of cached names waited for the nameserver")
	}
}

// Close fails the first lookups not started, so nobody waits for them.
func TestResolverCloseEndsQueuedLookups(t *testing.T) {
	s := &slowDNS{delay: 50 * time.Millisecond}
	r := newSlowResolver(t, s, Options{Order: []string{"A"}, Concurrency: 1, Timeout: 5 * time.Second})
	done := make(chan struct{})
	go func() {
		r.Resolve(manyNames(50))
		close(done)
	}()
	waitUntil(t, 10*time.Second, "the first query", func() bool { return s.queries.Load() > 0 })
	r.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Resolve still waiting after Close")
	}
	if got := lookupList(t, r, "n49.test"); got != "error: dns: n49.test: resolver closed" {
		t.Errorf("a queued name after Close: %s", got)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.todo) != 0 {
		t.Errorf("%d first lookups left queued", len(r.todo))
	}
}
