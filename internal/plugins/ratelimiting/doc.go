// Package ratelimiting is Kong's rate-limiting plugin on Turnpike's
// counting engine (its engine subpackage): limits per second to year, counted
// per consumer, credential, IP, service, header, path, JWT claim or
// consumer group, in process (policy local) or in Redis shared by every
// gateway node (policy redis, and cluster, which has no database to use in
// a DB-less gateway and runs as redis), with Kong's headers, answers and
// fault tolerance.
//
// Where Kong reads the usage and increments it afterwards, in a timer, so
// that concurrent requests (and nodes) over-admit, every decision here is
// one atomic take: a refused request is counted in no window, an admitted
// one in all of them, and N nodes sharing a Redis admit exactly the limit.
//
// Beyond Kong: window_type sliding (a weighted previous window) and
// token-bucket (NGINX limit_req's rate, burst and nodelay: without nodelay
// a request within the burst is delayed to its turn rather than refused),
// and sync_rate as a number of permits the redis policy reserves per round
// trip for hot keys.
//
// The package also registers Kong's response-ratelimiting
// (ResponseRegistration): named limits counted from what the upstream
// reports in a response header, each period under a key of its own on the
// same stores. Its counts follow Kong's shape (usage read in the access
// phase, counted in the log phase), with one difference: a count stops at
// the limit, where Kong's goes past it.
//
// The instance writes its headers in the header filter from what Access
// decided, so they survive retried upstream attempts (Kong sets them in
// the access phase, where a retry loses them). See docs/rate-limiting.md.
package ratelimiting
