package iprestriction

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
)

// u128 is an address as a number: IPv4 in lo alone, IPv6 in both halves.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

// inc is a+1, and whether that wrapped past the last IPv6 address.
func (a u128) inc() (u128, bool) {
	lo := a.lo + 1
	hi := a.hi
	if lo == 0 {
		hi++
	}
	return u128{hi, lo}, hi == 0 && lo == 0
}

// span is an inclusive range of addresses.
type span struct{ lo, hi u128 }

// ipSet is a set of addresses as sorted, disjoint, non-adjacent ranges,
// one list per family: IPv4 (and IPv4-mapped IPv6) and IPv6 never match
// each other's entries, as in Kong's matcher.
type ipSet struct{ v4, v6 []span }

// parseEntry reads an allow or deny entry the way Kong's schema accepts
// it: an IPv4 or IPv6 address, or one with a decimal prefix length
// (0-32, 0-128, no sign or leading zero). Zones are refused. An
// IPv4-mapped IPv6 entry whose prefix covers only mapped addresses is
// taken as the IPv4 range it maps.
func parseEntry(s string) (netip.Prefix, bool) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, false
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}

// newIPSet builds the set of the given prefixes.
func newIPSet(ps []netip.Prefix) ipSet {
	var s ipSet
	for _, p := range ps {
		lo, hi := bounds(p)
		if p.Addr().Is4() {
			s.v4 = append(s.v4, span{lo, hi})
		} else {
			s.v6 = append(s.v6, span{lo, hi})
		}
	}
	s.v4, s.v6 = merge(s.v4), merge(s.v6)
	return s
}

// bounds are the first and last address of a masked prefix.
func bounds(p netip.Prefix) (lo, hi u128) {
	lo = number(p.Addr())
	host := p.Addr().BitLen() - p.Bits()
	var mask u128
	switch {
	case host >= 64:
		mask = u128{^uint64(0) >> (128 - host), ^uint64(0)}
	case host > 0:
		mask = u128{0, ^uint64(0) >> (64 - host)}
	}
	return lo, u128{lo.hi | mask.hi, lo.lo | mask.lo}
}

// merge sorts the spans and joins those that overlap or touch.
func merge(ss []span) []span {
	if len(ss) == 0 {
		return nil
	}
	slices.SortFunc(ss, func(a, b span) int {
		if a.lo == b.lo {
			return 0
		}
		if a.lo.less(b.lo) {
			return -1
		}
		return 1
	})
	out := ss[:1]
	for _, sp := range ss[1:] {
		last := &out[len(out)-1]
		next, wrapped := last.hi.inc()
		if wrapped || !next.less(sp.lo) {
			if last.hi.less(sp.hi) {
				last.hi = sp.hi
			}
			continue
		}
		out = append(out, sp)
	}
	return slices.Clip(out)
}

// number is an address as a u128 (an IPv4-mapped address as IPv4).
func number(a netip.Addr) u128 {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// contains reports whether a is in the set; it does not allocate.
func (s *ipSet) contains(a netip.Addr) bool {
	a = a.Unmap()
	list := s.v6
	if a.Is4() {
		list = s.v4
	}
	n := number(a)
	// The first span starting after n; n can only be in the one before.
	i, j := 0, len(list)
	for i < j {
		h := int(uint(i+j) >> 1)
		if n.less(list[h].lo) {
			j = h
		} else {
			i = h + 1
		}
	}
	return i > 0 && !list[i-1].hi.less(n)
}
