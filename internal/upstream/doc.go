// Package upstream owns where requests go: targets, the balancers that pick
// one, and each target's pool of keep-alive connections. Health checks and
// circuit breakers plug in here (the Balancer interface is the seam), so the
// proxy only asks for a target and a connection. Targets named by DNS are
// resolved by internal/resolver, which keeps their answers fresh in the
// background, so no request ever waits for DNS.
package upstream
