// Package canary is a canary release plugin with the fields of Kong's
// Enterprise canary plugin (Kong OSS has none, so this one is Turnpike's):
// a share of a route's traffic, sticky per consumer, client address or
// header value, goes to another upstream (a host and port, an upstreams
// entity, or another path); the share is fixed (percentage) or ramps from
// 0 to 100% over duration seconds after start in steps; ACL groups may
// decide instead (hash allow/deny). The request is sent elsewhere through
// the SDK's Ctx.Target, which the gateway compiles per route.
package canary
