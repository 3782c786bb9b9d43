package snapshot

import (
	"sort"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/resolver"
)

// endpoint is an address a target or service host is dialled at.
type endpoint struct {
	host         string
	port, weight int
}

// expand returns where host is dialled: host itself when it is an IP or
// there is no resolver; else one endpoint per cached DNS address, with the
// port and weight of an SRV answer (a weight of 0 stays 0: the target is
// disabled), and none, with the reason, while the name has no address.
func (c *compiler) expand(host string, port, weight int) ([]endpoint, error) {
	if !c.lease.Resolves() || resolver.IsIPLiteral(host) {
		return []endpoint{{host: host, port: port, weight: weight}}, nil
	}
	addrs, err := c.lease.Lookup(host)
	eps := make([]endpoint, 0, len(addrs))
	for _, a := range addrs {
		ep := endpoint{host: a.IP.String(), port: port, weight: weight}
		if a.Port != 0 {
			ep.port = a.Port
		}
		if a.Weight != 0 && weight != 0 {
			ep.weight = a.Weight
		}
		eps = append(eps, ep)
	}
	return eps, err
}

// dnsNames are the host names of m that DNS resolves: the targets of
// upstreams a service is balanced over, and the hosts of services that
// name no upstream. IP addresses are not among them.
func dnsNames(m *config.Model) []string {
	seen := map[string]bool{}
	var names []string
	add := func(host string) {
		if host != "" && !seen[host] && !resolver.IsIPLiteral(host) {
			seen[host] = true
			names = append(names, host)
		}
	}
	for _, se := range m.Services {
		if se.Upstream == nil {
			add(se.Service.Host)
			continue
		}
		for _, te := range se.Upstream.Targets {
			add(te.Host)
		}
	}
	sort.Strings(names)
	return names
}
