package resolver

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// parseDNSOrder turns Kong's dns_order into query types (0 for LAST), and
// the address types (A, AAAA) in their order, used to resolve SRV and
// CNAME targets and to read the hosts file.
func parseDNSOrder(order []string) (types, addrTypes []uint16, err error) {
	if len(order) == 0 {
		order = strings.Split(DefaultOrder, ",")
	}
	seen := map[uint16]bool{}
	for _, o := range order {
		var t uint16
		switch strings.ToUpper(strings.TrimSpace(o)) {
		case "LAST":
		case "SRV":
			t = dns.TypeSRV
		case "A":
			t = dns.TypeA
		case "AAAA":
			t = dns.TypeAAAA
		case "CNAME":
			t = dns.TypeCNAME
		default:
			return nil, nil, fmt.Errorf("dns order: unknown record type %q (use LAST, SRV, A, AAAA, CNAME)", o)
		}
		if seen[t] {
			continue
		}
		seen[t] = true
		types = append(types, t)
		if t == dns.TypeA || t == dns.TypeAAAA {
			addrTypes = append(addrTypes, t)
		}
	}
	if len(addrTypes) == 0 {
		addrTypes = []uint16{dns.TypeA}
	}
	return types, addrTypes, nil
}

// parseNameservers accepts "ip" and "ip:port" ("[v6]:port").
func parseNameservers(list []string) ([]string, error) {
	var out []string
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if ap, err := netip.ParseAddrPort(s); err == nil {
			out = append(out, ap.String())
			continue
		}
		ip, err := netip.ParseAddr(strings.Trim(s, "[]"))
		if err != nil {
			return nil, fmt.Errorf("dns resolver %q: want ip or ip:port", s)
		}
		out = append(out, netip.AddrPortFrom(ip, 53).String())
	}
	return out, nil
}
