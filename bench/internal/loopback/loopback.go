// Package loopback checks the addresses the benchmark tools are given: the
// benchmarks never reach beyond the machine.
package loopback

import "net"

// HostPort reports whether addr is host:port with a loopback host
// (localhost or a loopback IP).
func HostPort(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
