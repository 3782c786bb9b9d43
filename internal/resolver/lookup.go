package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// errNXDomain is a nameserver's "name error (3)": the name does not exist
// for any record type.
var errNXDomain = errors.New("name error (3): no such name")

// lookupResult is one lookup of a name.
type lookupResult struct {
	addrs []Address
	// ttl is the smallest TTL of the records the answer was built from.
	ttl   time.Duration
	qtype uint16
	// static: the hosts file answered.
	static bool
	err    *DNSError
}

// maxCNAMEDepth bounds CNAME chains followed by hand.
const maxCNAMEDepth = 8

// lookup resolves name Kong's way: the hosts file first; then each record
// type of the order (LAST standing for the type that answered last time)
// over each search-list expansion of the name, the first non-empty answer
// winning. A name error skips that expansion for the remaining types. Any
// failed query makes an empty result an error rather than "not found",
// since the failed query might have had the answer.
func (r *Resolver) lookup(ctx context.Context, name string, last uint16) lookupResult {
	if addrs, ok := r.fromHosts(name); ok {
		return lookupResult{addrs: addrs, static: true}
	}
	names := []string{dns.Fqdn(name)}
	if r.search != nil {
		names = r.search.NameList(name)
	}
	nx := map[string]bool{}
	var failure error
	for _, qt := range r.types(last) {
		for _, fq := range names {
			if nx[fq] {
				continue
			}
			addrs, ttl, err := r.query(ctx, fq, qt)
			switch {
			case errors.Is(err, errNXDomain):
				nx[fq] = true
			case err != nil:
				failure = err
			case len(addrs) > 0:
				return lookupResult{addrs: sortAddrs(addrs), ttl: ttl, qtype: qt}
			}
			if err := ctx.Err(); err != nil {
				if failure == nil {
					failure = err
				}
				return lookupResult{err: &DNSError{Name: name, Err: failure}}
			}
		}
	}
	switch {
	case failure != nil:
		return lookupResult{err: &DNSError{Name: name, Err: failure}}
	case len(nx) == len(names):
		return lookupResult{err: &DNSError{Name: name, NotFound: true, Err: errNXDomain}}
	}
	return lookupResult{err: &DNSError{Name: name, NotFound: true, Err: fmt.Errorf("no %s record", r.typeNames())}}
}

// types is the order with LAST replaced by last (dropped when there is no
// last type yet or it is listed again).
func (r *Resolver) types(last uint16) []uint16 {
	out := make([]uint16, 0, len(r.order))
	for _, t := range r.order {
		if t == 0 {
			t = last
		}
		if t != 0 && !containsType(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func containsType(ts []uint16, t uint16) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

func (r *Resolver) typeNames() string {
	var names []string
	for _, t := range r.order {
		if t != 0 {
			names = append(names, dns.TypeToString[t])
		}
	}
	return strings.Join(names, ", ")
}

// query asks for one type of one fully qualified name and returns the
// addresses it leads to.
func (r *Resolver) query(ctx context.Context, fq string, qt uint16) ([]Address, time.Duration, error) {
	switch qt {
	case dns.TypeSRV:
		return r.querySRV(ctx, fq)
	case dns.TypeCNAME:
		in, err := r.exchange(ctx, fq, dns.TypeCNAME)
		if err != nil {
			return nil, 0, err
		}
		for _, rr := range in.Answer {
			if c, ok := rr.(*dns.CNAME); ok {
				addrs, ttl, err := r.resolveAddrs(ctx, c.Target, maxCNAMEDepth)
				return addrs, min(ttl, ttlOf(rr)), err
			}
		}
		return nil, 0, nil
	}
	in, err := r.exchange(ctx, fq, qt)
	if err != nil {
		return nil, 0, err
	}
	addrs, ttl := addrRecords(in.Answer, "", qt)
	return addrs, ttl, nil
}

// querySRV resolves SRV records Kong's way: only the lowest priority is
// used; each record's target is resolved to addresses (from the answer's
// additional section when it has them) that take the record's port and
// share its weight (a weight of 0 counts as 1). Kong balances over one
// entry per record and rotates through the target's addresses within it;
// here each address is an entry, so a record's weight is split evenly
// among its addresses (each at least 1) and a target with 3 addresses
// does not get 3 times the share its record gives it.
func (r *Resolver) querySRV(ctx context.Context, fq string) ([]Address, time.Duration, error) {
	in, err := r.exchange(ctx, fq, dns.TypeSRV)
	if err != nil {
		return nil, 0, err
	}
	var srvs []*dns.SRV
	for _, rr := range in.Answer {
		if s, ok := rr.(*dns.SRV); ok && s.Target != "." {
			switch {
			case len(srvs) == 0 || s.Priority == srvs[0].Priority:
				srvs = append(srvs, s)
			case s.Priority < srvs[0].Priority:
				srvs = []*dns.SRV{s}
			}
		}
	}
	var addrs []Address
	ttl := time.Duration(1<<63 - 1)
	var failure error
	for _, s := range srvs {
		ttl = min(ttl, ttlOf(s))
		var ips []Address
		var t time.Duration
		for _, at := range r.addrTypes {
			if ips, t = addrRecords(in.Extra, s.Target, at); len(ips) > 0 {
				break
			}
		}
		if len(ips) == 0 {
			ips, t, err = r.resolveAddrs(ctx, s.Target, maxCNAMEDepth)
			if err != nil {
				failure = err
				continue
			}
		}
		if len(ips) > 0 {
			ttl = min(ttl, t)
		}
		weight := max(int(s.Weight)/max(len(ips), 1), 1)
		for _, ip := range ips {
			addrs = append(addrs, Address{IP: ip.IP, Port: int(s.Port), Weight: weight})
		}
	}
	if len(addrs) == 0 {
		return nil, 0, failure
	}
	return addrs, ttl, nil
}

// resolveAddrs resolves a fully qualified name (an SRV or CNAME target) to
// addresses of the order's address types; a name error is no addresses.
func (r *Resolver) resolveAddrs(ctx context.Context, fq string, depth int) ([]Address, time.Duration, error) {
	if ip, err := netip.ParseAddr(strings.TrimSuffix(fq, ".")); err == nil {
		return []Address{{IP: ip.Unmap()}}, time.Duration(1<<63 - 1), nil
	}
	var failure error
	for _, at := range r.addrTypes {
		in, err := r.exchange(ctx, fq, at)
		if errors.Is(err, errNXDomain) {
			return nil, 0, nil
		}
		if err != nil {
			failure = err
			continue
		}
		if addrs, ttl := addrRecords(in.Answer, "", at); len(addrs) > 0 {
			return addrs, ttl, nil
		}
		// A CNAME the server did not follow.
		for _, rr := range in.Answer {
			if c, ok := rr.(*dns.CNAME); ok && depth > 0 && strings.EqualFold(c.Hdr.Name, fq) {
				addrs, ttl, err := r.resolveAddrs(ctx, c.Target, depth-1)
				return addrs, min(ttl, ttlOf(rr)), err
			}
		}
	}
	return nil, 0, failure
}

// addrRecords collects the A or AAAA records of rrs (owned by name, or by
// any name when name is empty: an answer's CNAME chain leads to them) and
// the smallest TTL among them and the chain.
func addrRecords(rrs []dns.RR, name string, qt uint16) ([]Address, time.Duration) {
	var addrs []Address
	ttl := time.Duration(1<<63 - 1)
	for _, rr := range rrs {
		if name != "" && !strings.EqualFold(rr.Header().Name, name) {
			continue
		}
		var ip netip.Addr
		switch v := rr.(type) {
		case *dns.A:
			if qt != dns.TypeA {
				continue
			}
			ip, _ = netip.AddrFromSlice(v.A.To4())
		case *dns.AAAA:
			if qt != dns.TypeAAAA {
				continue
			}
			ip, _ = netip.AddrFromSlice(v.AAAA.To16())
		case *dns.CNAME:
			ttl = min(ttl, ttlOf(rr))
			continue
		default:
			continue
		}
		if ip.IsValid() {
			addrs = append(addrs, Address{IP: ip.Unmap()})
			ttl = min(ttl, ttlOf(rr))
		}
	}
	if len(addrs) == 0 {
		return nil, 0
	}
	return addrs, ttl
}

func ttlOf(rr dns.RR) time.Duration { return time.Duration(rr.Header().Ttl) * time.Second }

// exchange sends one query to the nameservers in turn until one answers
// with success or a name error (a server failure or refusal moves on to the
// next). With several nameservers each gets an equal share of the time
// left. A truncated UDP answer is asked again over TCP.
func (r *Resolver) exchange(ctx context.Context, fq string, qt uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(fq, qt)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	var failure error
	for i, ns := range r.servers {
		qctx, cancel := ctx, context.CancelFunc(func() {})
		if left := len(r.servers) - i; left > 1 {
			if dl, ok := ctx.Deadline(); ok {
				qctx, cancel = context.WithTimeout(ctx, time.Until(dl)/time.Duration(left))
			}
		}
		in, _, err := r.udp.ExchangeContext(qctx, m, ns)
		if err == nil && in.Truncated {
			in, _, err = r.tcp.ExchangeContext(qctx, m, ns)
		}
		cancel()
		if err != nil {
			failure = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		switch in.Rcode {
		case dns.RcodeSuccess:
			return in, nil
		case dns.RcodeNameError:
			return in, errNXDomain
		}
		failure = fmt.Errorf("%s answered %s", ns, dns.RcodeToString[in.Rcode])
	}
	if failure == nil {
		failure = errors.New("no nameserver")
	}
	return nil, failure
}
