// Package engine is the counting engine under the rate-limiting plugin:
// it decides whether a request for a key (a plugin instance and an
// identifier such as a consumer or a client IP) fits the instance's
// limits, and counts it if so. The plugin compiles its configuration into
// a Policy once and asks a Store for a Decision per request; the Decision
// carries what the response headers need (limit, remaining and reset of
// every window) and, for a rejection, when to retry.
//
// # Exactness
//
// A request is admitted only if every window of the policy has room for
// it, and is then counted in every window; a rejected request is counted
// in none. Both stores make the check and the count one atomic step (a
// shard's mutex in the Local store, one Lua script in Redis), so that a
// limit of 100 a minute admits exactly 100 of 1,000 concurrent requests,
// from one gateway node or from several sharing a Redis. Kong counts
// after the fact and over-admits under concurrency; we do not.
//
// A request may cost more than one permit (Take's n); it is admitted only
// if all n fit, and a cost above a limit is never admitted.
//
// # Fixed windows
//
// Fixed windows are Kong's: calendar-aligned in UTC, second, minute, hour,
// day, month and year, any several at once. A month window runs from the
// first of the month at midnight to the first of the next, so it lasts 28
// to 31 days, and a year 365 or 366.
//
// Worked example: limits of 2 a second and 3 a minute. At 10:00:00.0
// three requests arrive: two are admitted (second: 0 remaining; minute: 1
// remaining) and the third is rejected by the second's window, and is
// counted in neither, with RetryAfter 1s. At 10:00:01.0 a request is
// admitted: the second's window is new, and the minute's count becomes 3.
// At 10:00:01.5 another is rejected by the minute (the second still has
// room): RetryAfter is 58.5s, the time to 10:01:00, and Reset of the
// minute window says the same. When several windows block a request,
// RetryAfter is the latest of their ends.
//
// # Sliding windows
//
// Sliding windows weigh the previous window's count by the part of the
// current window still to run, as Kong's Rate Limiting Advanced does: at
// elapsed time e into a window of size s,
//
//	count = previous × (1 − e/s) + current
//
// and a request of cost n is admitted when count + n ≤ limit. Windows are
// the same calendar windows as the fixed ones (a month's size is that
// month's length); a window two or more windows back weighs nothing.
//
// Worked example: 10 a minute, and 10 requests admitted between 10:00
// and 10:01. At 10:01:15 a quarter of the new minute has passed, so the
// previous minute weighs 10 × 0.75 = 7.5: two requests are admitted
// (9.5) and a third is rejected (it would make 10.5). Its RetryAfter is
// 3s: at 10:01:18 the previous minute weighs 10 × 0.7 = 7, and 7 + 2 + 1
// fits. Had all ten arrived in the current minute, the count would only
// fall after 10:02, as those ten decay over the next minute.
//
// For a sliding window, Reset is the time until Remaining grows by one
// (0 when nothing is counted), which is also when a rejected request of
// cost 1 fits again.
//
// # Token bucket
//
// The token bucket is NGINX's limit_req: Rate permits a second, and up to
// Burst requests beyond the one the rate allows at once. The state is the
// backlog of admitted requests not yet drained at the rate; a request's
// wait is the backlog's drain time, and a request whose wait would exceed
// Burst/Rate is rejected (and not counted). With NoDelay the admitted
// excess passes at once; without it the caller must hold the request for
// Decision.Delay before proxying it, which paces the burst at the rate.
//
// Worked example: rate 10 a second, burst 20. With NoDelay, 21 requests
// arriving together are all admitted at once (the first, plus a burst of
// 20) and the 22nd is rejected with RetryAfter 100ms; after 100ms one
// more fits, after 2.1s idle the bucket is full again. Without NoDelay
// the same 21 are admitted with delays of 0, 100ms, 200ms, ... 2s, and
// the 22nd is rejected. Its one window reports Limit burst+1 (21),
// Remaining the requests that would still be admitted at once, and Reset
// the time until the next token is back.
//
// # Local store
//
// Local keeps counts in the process, in up to 256 shards (maps behind
// their own mutexes, chosen by a hash of the key), so concurrent requests
// for different keys rarely wait on each other and requests for one key
// never lose an update. Its clock is injected (tests move it by hand).
//
// Memory is bounded for any number of distinct keys. An entry expires as
// soon as forgetting it changes nothing (a fixed window's end, the end of
// the window after a sliding one, a refilled bucket) and a sweep drops
// expired entries every second. The number of keys is capped (NewLocal's
// maxKeys, a million by default, split evenly over the shards); at the
// cap, a new key first drops its shard's expired entries, and if none has
// expired it evicts, of 8 entries sampled, the one that would expire
// first. An evicted key starts from zero when it returns: under a flood
// of distinct keys (say a million spoofed IPs a second) the error is
// over-admission for keys idle long enough to be evicted; a new key is
// never rejected because the table is full.
//
// # Redis store
//
// Redis shares the counts between gateway nodes. Every decision is one
// script call: a Lua script (EVALSHA) reads, checks and counts every
// window of the key atomically, and concurrent decisions share round
// trips (see Pipelining). The client is go-redis' UniversalClient: one
// address is a single server, several are a Redis Cluster's seeds (or one
// with RedisOptions.Cluster), and with MasterName they are Sentinels.
// Redis 4.0 or later is needed.
//
// Windows are computed inside the script from the Redis server's clock
// (TIME), not from the gateway nodes' clocks: nodes whose clocks are
// skewed still count into the same windows, and a window's reset is the
// same for every node. The script carries its own calendar arithmetic for
// months and years, since Redis' Lua has no date functions.
//
// Each limit key under one algorithm is one Redis hash,
// "<prefix>{<key>}:fixed" (or ":sliding", ":bucket"), with the prefix
// "turnpike:ratelimit:" by default. For each period the hash holds the
// start of the window counted, its count, and for sliding windows the
// count of the window before; a request in a new window replaces them, so
// windows of different periods, algorithms or times never collide and a
// key with a second and a year limit does not pile up a key per second.
// The hash expires (PEXPIRE) when its longest window ends, or for sliding
// windows when the window after it ends (when its count no longer
// weighs); a bucket expires when it has refilled. The hash tag {<key>}
// keeps everything of one key in one Cluster slot; a script touches only
// that one key.
//
// Every call is bounded by RedisOptions.Timeout (2s by default, Kong's),
// counted from the call, connecting and waiting in the queue included,
// and by its context's deadline; it then answers ErrUnavailable, even if
// its pipeline goes on for other calls. A call waiting in the queue or in
// a pipeline also returns as soon as its context is canceled (the client
// went away); a call sent alone notices a cancellation when its round
// trip ends, as go-redis' reads do. A circuit breaker (sony/gobreaker)
// counts round trips that could not reach Redis (refused, reset, timed
// out, or a server loading, read-only or without a master); after
// BreakerFailures (3) in a row it opens and calls fail at once with
// ErrUnavailable, before they are queued, for BreakerCooldown (5s); then
// one round trip is let through as the probe, and counting resumes by
// itself when it succeeds.
// Errors Redis answers with (a key of the wrong type) are returned to
// their caller but do not open the breaker. The caller decides what an
// error means: the plugin lets the request pass or answers 500
// (fault_tolerant). A call that timed out or was given up after its
// script reached a hung server may still be counted when the server
// wakes, and a pipeline whose connection broke mid-way is sent once more
// on a new one, so failures can over-count (never over-admit).
//
// # Pipelining
//
// Concurrent decisions share round trips, with at most RedisOptions.PoolSize
// (2 by default) in flight per client, and so at most that many
// connections per Redis node. A call that finds nothing queued and a round
// trip free is sent at once by its own goroutine, as one command: there
// is no timer and no waiting for a batch to fill, and a lightly loaded
// gateway sees the latency of a single call. Calls that arrive while every
// round trip is taken are queued; when one comes back, a pipeline worker
// (started as needed, up to PoolSize, until Close) sends everything queued,
// up to 128 calls, as one go-redis pipeline (one write, one read, one
// connection check) and hands each caller its own reply. The busier the
// gateway, the more calls share a round trip. Each call stays its own
// EVALSHA, so every decision is still atomic and exact.
//
// A pipeline's deadline is the earliest of its calls' (so it never
// outlives a caller's timeout), and a call that waited its whole timeout
// in the queue fails without being sent; a caller that gives up while its
// pipeline is in flight returns at once and the others get their replies.
// For the breaker a pipeline is one call: a pipeline of 128 calls that
// times out is one failure, not 128, and a call that failed because its
// caller's context ended is no failure at all. Scripts Redis does not know
// (after SCRIPT FLUSH or a restart: NOSCRIPT) are loaded once per round
// trip (SCRIPT LOAD, on every node of a cluster) and the calls that failed
// are sent again. In a cluster, go-redis splits each pipeline by node and
// sends the parts in parallel; a call's key (its hash tag) still decides
// its node. The client speaks RESP2: the replies are arrays of integers
// and need nothing from RESP3. Close fails the queued calls and those in
// flight with ErrUnavailable, closes the connections and ends the workers.
//
// The effect is on CPU: a round trip costs the gateway several system
// calls (write, read, and go-redis' check of the pooled connection) and
// Redis a read and a write, which pipelining shares. With 32 concurrent
// callers per CPU the client's CPU per decision fell from about 20µs to
// about 5µs; behind key-auth, a gateway on one core went from 54µs to
// 41µs of CPU per request, and from 0.53 to 0.65 of its no-plugin
// throughput; redis-server's CPU per decision fell by about 45% (the
// windows script also writes the key's expiry only when a window starts).
// Figures and commands: bench/RESULTS.md, "Rate limiting".
//
// Several plugin instances with equal Redis options should share one
// client: SharedRedis makes stores on the clients a store.Redis hands out
// by connection settings, with reference counting, so a reload that
// acquires the new instances' stores before releasing the old ones keeps
// the pool, its connections and its breaker. Stores on one client with
// the same key prefix share its pipelines, scripts and leases too (an
// extension of the client), so the bound on round trips in flight holds
// per client, however many instances use it.
//
// # Batching
//
// For very hot keys a Fixed or Sliding policy may set Batch (Kong's
// sync_rate plays the same role). A node then reserves up to Batch
// permits in one script call, counted in Redis at once in every window,
// and hands them out locally until they are used up, the policy changes,
// or the first of the windows they were counted in ends (measured on the
// local clock from just before the call, so skew does not stretch a
// lease). Redis never grants more than every window has room for, so
// batching never admits more than the limit; its error is
// under-admission: permits a node reserved but did not use before the
// window ended are lost, at most Batch−1 per node per window (for a
// sliding window they also weigh on the next window, decaying as
// counted permits do). Remaining, while permits come from a batch, is
// Redis' count at the reservation plus the permits the node still holds.
// Token buckets ignore Batch: each decision goes to Redis.
//
// # Usage
//
// Usage reports a key's state without counting (for the admin API): the
// windows as they are, and whether a request of cost 1 would be admitted
// now, with its RetryAfter if not. Usage creates no key.
package engine
