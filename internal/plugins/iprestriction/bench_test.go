package iprestriction

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// BenchmarkAccess1000CIDRs is the budget: 1,000 CIDRs, a client
// in none of them and one in the last. With a deny list the first
// passes; with an allow list the second does; refused is the cost of a
// refusal with Kong's default message, which names the address.
func BenchmarkAccess1000CIDRs(b *testing.B) {
	list := make([]string, 1000)
	for i := range list {
		list[i] = "10." + strconv.Itoa(i/60) + "." + strconv.Itoa(4*(i%60)) + ".0/24"
	}
	last := netip.MustParsePrefix(list[len(list)-1]).Addr().Next().String()
	for _, tc := range []struct {
		name string
		cfg  Config
		ip   string
		pass bool
	}{
		{"deny/none", Config{Deny: list}, "192.0.2.7", true},
		{"allow/last", Config{Allow: list}, last, true},
		{"deny/last-refused", Config{Deny: list}, last, false},
	} {
		in, err := New(&tc.cfg, plugin.Env{})
		if err != nil {
			b.Fatal(err)
		}
		acc := in.(plugin.Accessor)
		if in := acc.(*instance); len(in.allow.v4)+len(in.deny.v4) != len(list) {
			b.Fatal("the CIDRs were merged: the search is not over 1,000 ranges")
		}
		b.Run(tc.name, func(b *testing.B) {
			c := ctx(tc.ip)
			b.ReportAllocs()
			for b.Loop() {
				if err := acc.Access(c); (err == nil) != tc.pass {
					b.Fatal(err)
				}
			}
		})
	}
}
