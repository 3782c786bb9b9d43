// Package snapshot compiles a validated config.Model into an immutable
// Snapshot: the router, per-route plugin chains with Kong's scope
// precedence, services with their balancers and connection pools, and the
// TLS certificates. A Snapshot is never modified after Compile; the server
// swaps whole snapshots behind one atomic pointer, and requests in flight
// keep the one they started with.
package snapshot
