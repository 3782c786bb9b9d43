package resolver

import (
	"bufio"
	"net/netip"
	"os"
	"strings"

	"github.com/miekg/dns"
)

// readHostsFile reads an /etc/hosts style file into name → addresses. A
// missing file is an empty one.
func readHostsFile(path string) (map[string][]netip.Addr, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hosts := map[string][]netip.Addr{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		ip, err := netip.ParseAddr(fields[0])
		if err != nil {
			continue
		}
		// A link-local IPv6 address keeps its zone (fe80::1%eth0): it is
		// not reachable without it.
		ip = ip.Unmap()
		for _, name := range fields[1:] {
			key := dnsKey(name)
			if !containsAddr(hosts[key], ip) {
				hosts[key] = append(hosts[key], ip)
			}
		}
	}
	return hosts, sc.Err()
}

func containsAddr(list []netip.Addr, ip netip.Addr) bool {
	for _, a := range list {
		if a == ip {
			return true
		}
	}
	return false
}

// fromHosts answers name from the hosts file with the addresses of the
// first address type of the order it has (IPv4 for A, IPv6 for AAAA).
func (r *Resolver) fromHosts(name string) ([]Address, bool) {
	ips := r.hosts[dnsKey(name)]
	if len(ips) == 0 {
		return nil, false
	}
	for _, at := range r.addrTypes {
		var addrs []Address
		for _, ip := range ips {
			if ip.Is4() == (at == dns.TypeA) {
				addrs = append(addrs, Address{IP: ip})
			}
		}
		if len(addrs) > 0 {
			return sortAddrs(addrs), true
		}
	}
	return nil, false
}
