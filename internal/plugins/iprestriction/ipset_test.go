package iprestriction

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func mustSet(t *testing.T, entries ...string) ipSet {
	t.Helper()
	var ps []netip.Prefix
	for _, e := range entries {
		p, ok := parseEntry(e)
		if !ok {
			t.Fatalf("bad entry %q", e)
		}
		ps = append(ps, p)
	}
	return newIPSet(ps)
}

func TestIPSetMerges(t *testing.T) {
	s := mustSet(t, "10.0.0.0/24", "10.0.1.0/24", "10.0.0.5", "10.0.3.0/24", "10.0.2.0/25", "0.0.0.0/32", "255.255.255.255/32")
	// 10.0.0.0-10.0.2.127 in one span, 10.0.3.0/24 apart (10.0.2.128-255
	// is the gap), and both ends of the space.
	if len(s.v4) != 4 {
		t.Fatalf("spans: %+v", s.v4)
	}
	in := []string{"10.0.0.0", "10.0.1.255", "10.0.2.127", "10.0.3.0", "10.0.3.255", "0.0.0.0", "255.255.255.255"}
	out := []string{"10.0.2.128", "10.0.2.255", "10.0.4.0", "9.255.255.255", "0.0.0.1", "255.255.255.254"}
	check(t, s, in, out)
	s6 := mustSet(t, "::/0")
	check(t, s6, []string{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::1"}, []string{"1.2.3.4"})
	s6 = mustSet(t, "2001:db8::/64", "2001:db8:0:1::/64", "fe80::/10")
	if len(s6.v6) != 2 {
		t.Fatalf("v6 spans: %+v", s6.v6)
	}
	check(t, s6, []string{"2001:db8::", "2001:db8:0:1:ffff:ffff:ffff:ffff", "febf::1"},
		[]string{"2001:db8:0:2::", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "fec0::"})
}

func check(t *testing.T, s ipSet, in, out []string) {
	t.Helper()
	for _, a := range in {
		if !s.contains(netip.MustParseAddr(a)) {
			t.Errorf("%s not in set", a)
		}
	}
	for _, a := range out {
		if s.contains(netip.MustParseAddr(a)) {
			t.Errorf("%s in set", a)
		}
	}
}

// The set agrees with a linear scan of the prefixes on random lists and
// addresses, near the range edges too.
func TestIPSetAgreesWithPrefixes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		var ps []netip.Prefix
		for range 1 + r.IntN(40) {
			ps = append(ps, randomPrefix(r))
		}
		s := newIPSet(append([]netip.Prefix(nil), ps...))
		for range 300 {
			a := randomPrefix(r).Addr()
			if r.IntN(2) == 0 {
				// An edge of one of the prefixes, or next to one.
				p := ps[r.IntN(len(ps))]
				lo, hi := bounds(p)
				a = addrOf(p.Addr().Is4(), lo)
				if r.IntN(2) == 0 {
					a = addrOf(p.Addr().Is4(), hi)
				}
				if r.IntN(2) == 0 {
					a = a.Next()
				}
				if !a.IsValid() {
					continue
				}
			}
			want := false
			for _, p := range ps {
				want = want || p.Contains(a)
			}
			if got := s.contains(a); got != want {
				t.Fatalf("round %d: %s: got %v want %v (prefixes %v)", round, a, got, want, ps)
			}
		}
	}
}

func randomPrefix(r *rand.Rand) netip.Prefix {
	if r.IntN(2) == 0 {
		var b [4]byte
		for i := range b {
			b[i] = byte(r.IntN(4))
		}
		return netip.PrefixFrom(netip.AddrFrom4(b), 20+r.IntN(13)).Masked()
	}
	var b [16]byte
	b[0], b[15] = byte(r.IntN(3)), byte(r.IntN(8))
	return netip.PrefixFrom(netip.AddrFrom16(b), 100+r.IntN(29)).Masked()
}

func addrOf(v4 bool, n u128) netip.Addr {
	if v4 {
		return netip.AddrFrom4([4]byte{byte(n.lo >> 24), byte(n.lo >> 16), byte(n.lo >> 8), byte(n.lo)})
	}
	var b [16]byte
	for i := range 8 {
		b[i] = byte(n.hi >> (56 - 8*i))
		b[8+i] = byte(n.lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b)
}
