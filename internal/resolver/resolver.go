package resolver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Defaults of the DNS settings, as kong.conf's.
const (
	DefaultHostsFile  = "/etc/hosts"
	DefaultResolvConf = "/etc/resolv.conf"
	DefaultOrder      = "LAST,SRV,A,CNAME"
	// DefaultStaleTTL is dns_stale_ttl since Kong 3.6 (4 s before).
	DefaultStaleTTL    = time.Hour
	DefaultNotFoundTTL = 30 * time.Second
	DefaultErrorTTL    = time.Second
	// DefaultTimeout bounds one name's whole lookup (every record type,
	// search domain and nameserver).
	DefaultTimeout = 2 * time.Second
	// DefaultDebounce gathers the changes of a burst of refreshes into
	// one notification.
	DefaultDebounce = 100 * time.Millisecond
	// DefaultConcurrency is the most lookups in flight at once.
	DefaultConcurrency = 32
)

// minDNSTTL is the shortest time an answer is kept: a TTL of 0 would
// otherwise make the refresh loop spin.
const minDNSTTL = time.Second

// Options configure a Resolver (Kong's dns_* settings).
type Options struct {
	// Nameservers are "ip" or "ip:port" (port 53 when left out); empty:
	// those of ResolvConf.
	Nameservers []string
	// ResolvConf supplies the nameservers (unless Nameservers is set) and
	// the search domains and ndots ("" : DefaultResolvConf). A missing
	// file means no search domains and a nameserver on localhost.
	ResolvConf string
	// HostsFile is read once; its names resolve without a query and never
	// expire ("" : none).
	HostsFile string
	// Order is the record types tried, first answer wins: LAST (the type
	// that answered last time for the name), SRV, A, AAAA, CNAME
	// (case-insensitive; empty: DefaultOrder).
	Order []string
	// ValidTTL, when above 0, replaces the TTL of every answer.
	ValidTTL time.Duration
	// StaleTTL is how long past its TTL an answer keeps being used while
	// refreshing it fails (0: not at all).
	StaleTTL time.Duration
	// NotFoundTTL is how long a name without records is cached before
	// asking again; ErrorTTL the same after a failed lookup. Each is at
	// least a second.
	NotFoundTTL, ErrorTTL time.Duration
	// Timeout bounds one name's lookup (0: DefaultTimeout).
	Timeout time.Duration
	// Debounce is the wait between the first change of a burst and the
	// change notification (0: DefaultDebounce).
	Debounce time.Duration
	// Concurrency is the most lookups in flight at once, each with its own
	// socket; the others wait their turn, first lookups ahead of refreshes
	// (0: DefaultConcurrency).
	Concurrency int
	// Logger receives lookups that fail and answers that change (nil:
	// discarded).
	Logger *slog.Logger
}

// Address is one address a name resolved to.
type Address struct {
	IP netip.Addr
	// Port and Weight come from an SRV record; 0 for A and AAAA answers,
	// where the target's own port and weight apply.
	Port, Weight int
}

// String is ip, or ip:port for an SRV answer.
func (a Address) String() string {
	if a.Port == 0 {
		return a.IP.String()
	}
	return net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port))
}

// DNSError is why a name has no addresses.
type DNSError struct {
	Name string
	// NotFound is an authoritative "no such name" or "no records" answer,
	// as opposed to a failed lookup (timeout, server failure).
	NotFound bool
	Err      error
}

func (e *DNSError) Error() string { return "dns: " + e.Name + ": " + e.Err.Error() }

func (e *DNSError) Unwrap() error { return e.Err }

// Resolver resolves the DNS names of targets and keeps their answers
// fresh, the way Kong's balancer does: each name is looked up again when
// its TTL ends (give or take a tenth, so names do not stay in step), in the
// background; when that fails, the previous answer is kept for StaleTTL;
// when the set of addresses of a name changes, the change callback runs
// (debounced), so the configuration can be compiled again over the new
// addresses. At most Concurrency lookups run at once. Waits for lookups
// (Resolve) are bounded, and names are only ever resolved by the resolver,
// never on a request.
type Resolver struct {
	opts      Options
	servers   []string
	search    *dns.ClientConfig
	hosts     map[string][]netip.Addr
	order     []uint16
	addrTypes []uint16
	minTTL    time.Duration
	udp, tcp  *dns.Client

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}
	// slots holds a token per lookup in flight.
	slots chan struct{}

	mu sync.Mutex
	// entries by dnsKey; each is in todo (first lookup not started), in
	// flight, in due (waiting for its next lookup) or static.
	entries   map[string]*dnsEntry
	todo      []*dnsEntry
	due       dueQueue
	onChange  func()
	notifying bool
	closed    bool
}

// dnsEntry is the cached answer for one name.
type dnsEntry struct {
	name  string
	addrs []Address
	err   *DNSError
	// qtype answered last (Kong's LAST).
	qtype uint16
	// static: from the hosts file, never refreshed.
	static bool
	// staleUntil: on failed refreshes addrs are kept until then.
	staleUntil time.Time
	// due is when the next lookup runs; index is the entry's place in the
	// due queue (-1 when it is not queued).
	due   time.Time
	index int
	// first: the first lookup has not finished; ready is closed when it
	// has. late: Resolve stopped waiting for it, so its answer notifies.
	first, late bool
	ready       chan struct{}
}

// New reads the resolver configuration and hosts file and starts
// the refresh loop; Close stops it.
func New(opts Options) (*Resolver, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.ResolvConf == "" {
		opts.ResolvConf = DefaultResolvConf
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Resolver{opts: opts, minTTL: minDNSTTL, entries: map[string]*dnsEntry{}, wake: make(chan struct{}, 1),
		slots: make(chan struct{}, opts.Concurrency), udp: &dns.Client{Net: "udp"}, tcp: &dns.Client{Net: "tcp"}}
	var err error
	if r.order, r.addrTypes, err = parseDNSOrder(opts.Order); err != nil {
		return nil, err
	}
	conf, err := dns.ClientConfigFromFile(opts.ResolvConf)
	switch {
	case err == nil:
		r.search = conf
		port, err := strconv.Atoi(conf.Port)
		if err != nil || port <= 0 || port > 65535 {
			port = 53
		}
		for _, s := range conf.Servers {
			r.servers = append(r.servers, net.JoinHostPort(strings.Trim(s, "[]"), strconv.Itoa(port)))
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%s: %v", opts.ResolvConf, err)
	}
	if len(opts.Nameservers) > 0 {
		if r.servers, err = parseNameservers(opts.Nameservers); err != nil {
			return nil, err
		}
	}
	if len(r.servers) == 0 {
		r.servers = []string{"127.0.0.1:53", "[::1]:53"}
	}
	if opts.HostsFile != "" {
		if r.hosts, err = readHostsFile(opts.HostsFile); err != nil {
			return nil, err
		}
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(1)
	go r.loop()
	return r, nil
}

// OnChange sets the callback run (on its own goroutine, debounced) when the
// addresses of a cached name change.
func (r *Resolver) OnChange(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onChange = f
}

// Servers are the nameservers queried, in order.
func (r *Resolver) Servers() []string { return r.servers }

// resolveGrace is how much longer than the timeout Resolve waits: the
// lookups it waits for are each bounded by the timeout, but may have had
// to wait for a free slot first.
const resolveGrace = 250 * time.Millisecond

// Resolve makes sure every name has an answer in the cache: the missing
// ones are queued for lookup (Concurrency at a time, ahead of refreshes)
// and waited for, at most the timeout and a quarter second in all. Names
// still being looked up then have no address until their answer comes,
// which runs the change callback. Names are host names without a port.
func (r *Resolver) Resolve(names []string) {
	var wait []*dnsEntry
	r.mu.Lock()
	for _, name := range names {
		key := dnsKey(name)
		e, ok := r.entries[key]
		if !ok {
			e = &dnsEntry{name: key, index: -1, first: true, ready: make(chan struct{})}
			r.entries[key] = e
			if r.closed {
				r.abandon(e)
				continue
			}
			r.todo = append(r.todo, e)
		}
		if e.first && !e.late {
			wait = append(wait, e)
		}
	}
	r.mu.Unlock()
	if len(wait) == 0 {
		return
	}
	r.poke()
	deadline := time.NewTimer(r.opts.Timeout + resolveGrace)
	defer deadline.Stop()
	for i, e := range wait {
		select {
		case <-e.ready:
		case <-deadline.C:
			r.mu.Lock()
			for _, e := range wait[i:] {
				e.late = e.first
			}
			r.mu.Unlock()
			return
		}
	}
}

// abandon ends the first lookup of e, never started, as failed (r.mu held).
func (r *Resolver) abandon(e *dnsEntry) {
	e.err = &DNSError{Name: e.name, Err: errors.New("resolver closed")}
	e.first = false
	close(e.ready)
}

// Lookup returns the cached addresses of name, sorted, or why there are
// none. A name Resolve was not asked for has none.
func (r *Resolver) Lookup(name string) ([]Address, error) {
	key := dnsKey(name)
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[key]
	switch {
	case !ok:
		return nil, &DNSError{Name: key, Err: errors.New("not resolved")}
	case len(e.addrs) > 0:
		return e.addrs, nil
	case e.err != nil:
		return nil, e.err
	}
	return nil, &DNSError{Name: key, Err: errors.New("lookup in progress")}
}

// Retain forgets every name not in names, so names no longer configured
// are not refreshed.
func (r *Resolver) Retain(names []string) {
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[dnsKey(n)] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, e := range r.entries {
		if !keep[key] {
			delete(r.entries, key)
			r.unschedule(e)
		}
	}
}

// Close stops the refresh loop and waits for lookups and a running change
// callback to return; first lookups not started fail.
func (r *Resolver) Close() {
	r.mu.Lock()
	r.closed = true
	for _, e := range r.todo {
		r.abandon(e)
	}
	r.todo = nil
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// dnsKey is the cache key of a name: lower case, without a final dot.
func dnsKey(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") }

// IsIPLiteral reports whether host is an IP address (which is never
// resolved).
func IsIPLiteral(host string) bool {
	_, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil
}

// loop starts the lookups: first lookups as they are asked for, then each
// name when it is due, at most Concurrency at a time. It takes a free slot
// before choosing the entry, so a first lookup asked for meanwhile goes
// ahead of refreshes.
func (r *Resolver) loop() {
	defer r.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case r.slots <- struct{}{}:
		case <-r.ctx.Done():
			return
		}
		r.mu.Lock()
		e, wait := r.next(time.Now())
		if e != nil {
			r.wg.Add(1)
			go r.refresh(e)
		}
		r.mu.Unlock()
		if e != nil {
			continue
		}
		<-r.slots
		timer.Reset(wait)
		select {
		case <-r.ctx.Done():
			return
		case <-r.wake:
		case <-timer.C:
		}
	}
}

func (r *Resolver) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// refresh looks e up in the slot the loop took for it, stores the answer
// and queues the next lookup. A first lookup notifies nobody, unless the
// caller of Resolve stopped waiting for it: then the configuration was
// compiled without its answer, whatever that is.
func (r *Resolver) refresh(e *dnsEntry) {
	defer func() {
		<-r.slots
		r.wg.Done()
	}()
	r.mu.Lock()
	last := e.qtype
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.Timeout)
	res := r.lookup(ctx, e.name, last)
	cancel()
	r.mu.Lock()
	first := e.first
	changed := r.store(e, res, time.Now(), first)
	notify := first && e.late || changed && !first
	if first {
		e.first = false
		close(e.ready)
	}
	current := r.entries[e.name] == e
	if current && !e.static && !r.closed {
		r.schedule(e)
	}
	r.mu.Unlock()
	if notify && current {
		r.changed()
	}
}

// store applies a lookup's result to e (r.mu held) and reports whether the
// addresses changed. It logs transitions only (a name failing every
// second logs once).
func (r *Resolver) store(e *dnsEntry, res lookupResult, now time.Time, first bool) bool {
	old, oldErr := e.addrs, e.err
	log := r.opts.Logger
	switch {
	case res.static:
		e.addrs, e.err, e.static = res.addrs, nil, true
	case res.err == nil:
		ttl := res.ttl
		if r.opts.ValidTTL > 0 {
			ttl = r.opts.ValidTTL
		}
		e.addrs, e.err, e.qtype = res.addrs, nil, res.qtype
		e.due = now.Add(r.spread(ttl))
		e.staleUntil = now.Add(max(ttl, r.minTTL) + r.opts.StaleTTL)
		if oldErr != nil && !first {
			log.Info("dns: name resolves again", "name", e.name, "addresses", addrList(e.addrs))
		}
	case res.err.NotFound:
		e.addrs, e.err = nil, res.err
		e.due = now.Add(r.spread(r.opts.NotFoundTTL))
		if oldErr == nil || !oldErr.NotFound {
			log.Warn("dns: name has no addresses", "name", e.name, "error", res.err.Err.Error())
		}
	default:
		e.err = res.err
		e.due = now.Add(r.spread(r.opts.ErrorTTL))
		if len(e.addrs) > 0 && now.Before(e.staleUntil) {
			e.due = minTime(e.due, e.staleUntil)
			if oldErr == nil {
				log.Warn("dns: lookup failed; using the previous answer", "name", e.name, "error", res.err.Err.Error(),
					"addresses", addrList(e.addrs), "stale_until", e.staleUntil.Format(time.RFC3339))
			}
			return false
		}
		e.addrs = nil
		if len(old) > 0 || oldErr == nil || oldErr.NotFound {
			log.Warn("dns: lookup failed; no addresses", "name", e.name, "error", res.err.Err.Error())
		}
	}
	if slices.Equal(old, e.addrs) {
		return false
	}
	if !first {
		log.Info("dns: addresses changed", "name", e.name, "addresses", addrList(e.addrs), "previous", addrList(old))
	}
	return true
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// changed runs the change callback after the debounce wait, unless one is
// already pending (changes until it runs are covered by it).
func (r *Resolver) changed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.onChange == nil || r.notifying {
		return
	}
	r.notifying = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTimer(r.opts.Debounce)
		defer t.Stop()
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		r.notifying = false
		f, closed := r.onChange, r.closed
		r.mu.Unlock()
		if !closed {
			f()
		}
	}()
}

func addrList(addrs []Address) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

func sortAddrs(addrs []Address) []Address {
	slices.SortFunc(addrs, func(a, b Address) int {
		if c := a.IP.Compare(b.IP); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Port, b.Port); c != 0 {
			return c
		}
		return cmp.Compare(a.Weight, b.Weight)
	})
	return slices.Compact(addrs)
}
