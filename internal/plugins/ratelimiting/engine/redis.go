package engine

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turnpikegw/turnpike/internal/record"
	"github.com/turnpikegw/turnpike/internal/store"
)

//go:embed windows.lua
var windowsLua string

//go:embed bucket.lua
var bucketLua string

const (
	defaultPrefix    = "turnpike:ratelimit:"
	defaultMaxLeases = 1 << 16
)

// Redis counts in Redis, so that every gateway node sharing it shares the
// counts. Each decision is one script call (EVALSHA, the script loaded
// again after a NOSCRIPT), checking and counting every window of the key
// atomically on the Redis server's clock; concurrent decisions share
// round trips (pipelines). The client's circuit breaker stops calling a
// Redis that keeps failing; calls then fail at once with ErrUnavailable
// until a probe after the cool-down succeeds.
type Redis struct {
	c       *redisClient
	release func() // gives the store client back (closes it when not shared)
	closed  atomic.Bool
	once    sync.Once
}

// redisClient is the pipelines, scripts and leases that stores on one
// store.RedisClient with the same key prefix and lease bound share: an
// extension of that client.
type redisClient struct {
	conn       *store.RedisClient
	pipe       *pipeline
	prefix     string
	clock      Clock
	windows    *redis.Script
	bucket     *redis.Script
	windowsSHA any // the scripts' hashes, boxed once for the calls' arguments
	bucketSHA  any
	leases     leases
	target     string // the node's host:port for call records ("" for a cluster or sentinels)
}

// extensionKey tells this package's extensions of a store.RedisClient
// apart from other users', and apart from each other by the settings
// that are the engine's, not the connection's.
type extensionKey struct {
	prefix    string
	maxLeases int
}

// unavailableError wraps the reason Redis could not be used.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string   { return ErrUnavailable.Error() + ": " + e.cause.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.cause} }

var (
	errOpen   error = &unavailableError{errors.New("circuit breaker open")}
	errClosed error = &unavailableError{errors.New("store closed")}
)

// NewRedis makes a Redis store on a client of its own; it does not dial
// until used. One address is a single node, several a cluster, and with
// MasterName they are sentinels. Close closes its connections.
func NewRedis(opts RedisOptions, clock Clock) (*Redis, error) {
	conn, err := store.NewRedisClient(opts.RedisOptions)
	if err != nil {
		return nil, errors.New("ratelimit: " + err.Error())
	}
	return newRedis(conn, opts, clock, conn.Close), nil
}

// SharedRedis makes a Redis store on the client clients hands out for the
// connection settings of opts, so that the instances of one
// configuration, and those of the next after a reload, share its
// connections and breaker. Close gives the client back.
func SharedRedis(clients *store.Redis, opts RedisOptions) (*Redis, error) {
	conn, release, err := clients.Acquire(opts.RedisOptions)
	if err != nil {
		return nil, errors.New("ratelimit: " + err.Error())
	}
	return newRedis(conn, opts, nil, release), nil
}

func newRedis(conn *store.RedisClient, opts RedisOptions, clock Clock, release func()) *Redis {
	if clock == nil {
		clock = time.Now
	}
	key := extensionKey{prefix: opts.KeyPrefix, maxLeases: opts.MaxLeases}
	if key.prefix == "" {
		key.prefix = defaultPrefix
	}
	if key.maxLeases <= 0 {
		key.maxLeases = defaultMaxLeases
	}
	ext := conn.Extension(key, func(conn *store.RedisClient) store.Extension {
		c := newRedisClient(conn, key, clock)
		if len(opts.Addrs) == 1 && opts.MasterName == "" && !opts.Cluster {
			c.target = opts.Addrs[0]
		}
		return c
	})
	return &Redis{c: ext.(*redisClient), release: release}
}

func newRedisClient(conn *store.RedisClient, key extensionKey, clock Clock) *redisClient {
	c := &redisClient{
		conn:    conn,
		prefix:  key.prefix,
		clock:   clock,
		windows: redis.NewScript(windowsLua),
		bucket:  redis.NewScript(bucketLua),
		leases:  leases{m: make(map[string]*lease), max: key.maxLeases},
	}
	c.windowsSHA, c.bucketSHA = c.windows.Hash(), c.bucket.Hash()
	c.pipe = newPipeline(conn.Client(), conn.Breaker(), conn.Timeout(), conn.PoolSize())
	return c
}

// Close ends the pipelines, as the extension of a client being closed.
func (c *redisClient) Close() { c.pipe.close() }

// Take admits or rejects a request of cost n for key under p.
func (r *Redis) Take(ctx context.Context, key string, p *Policy, n int64) (Decision, error) {
	if n < 1 {
		return Decision{}, errCost
	}
	if r.closed.Load() {
		return Decision{}, errClosed
	}
	if p.Algorithm != TokenBucket && p.Batch > 1 {
		return r.c.takeLeased(ctx, key, p, n)
	}
	return r.c.decide(ctx, key, p, n, true)
}

// TakeInto is Take that fills d, its windows copied into the array of
// d.Windows when its capacity is enough.
func (r *Redis) TakeInto(ctx context.Context, key string, p *Policy, n int64, d *Decision) error {
	got, err := r.Take(ctx, key, p, n)
	room := d.Windows
	*d = got
	if cap(room) >= len(got.Windows) {
		d.Windows = room[:copy(room[:len(got.Windows)], got.Windows)]
	}
	return err
}

// Usage reports key's state under p without counting: Allowed and
// RetryAfter are for a request of cost 1. Permits a node holds in a batch
// count as used.
func (r *Redis) Usage(ctx context.Context, key string, p *Policy) (Decision, error) {
	if r.closed.Load() {
		return Decision{}, errClosed
	}
	return r.c.decide(ctx, key, p, 1, false)
}

// Close closes the connections, or for a store from SharedRedis gives
// its reference back. Calls made afterwards answer ErrUnavailable.
func (r *Redis) Close() {
	r.once.Do(func() {
		r.closed.Store(true)
		r.release()
	})
}

// decide is one script call for a request of cost n, counted when count
// is set and the request is admitted.
func (c *redisClient) decide(ctx context.Context, key string, p *Policy, n int64, count bool) (Decision, error) {
	var d Decision
	if p.Algorithm == TokenBucket {
		allowed, now, backlog, err := c.callBucket(ctx, key, p, n, count)
		if err != nil {
			return d, err
		}
		bucketDecision(p, now+backlog, now, n, allowed, allowed && count, &d)
		return d, nil
	}
	var buf [Year + 1]window
	ws := buf[:len(p.Limits)]
	grant := n
	if !count {
		grant = 0
	}
	allowed, _, now, err := c.callWindows(ctx, c.key(key, p.Algorithm), p, n, grant, ws)
	if err != nil {
		return d, err
	}
	windowsDecision(p, ws, now, n, allowed, &d)
	return d, nil
}

// key is the Redis key of a limit key under an algorithm. The hash tag
// keeps every key of one limit key in one cluster slot.
func (c *redisClient) key(key string, alg Algorithm) string {
	var suffix string
	switch alg {
	case Fixed:
		suffix = "}:fixed"
	case Sliding:
		suffix = "}:sliding"
	default:
		suffix = "}:bucket"
	}
	return c.prefix + "{" + key + suffix
}

// call is a new call of script s (windows or bucket) on key, for run;
// the caller appends the script's arguments to its args. Arguments are
// pointers (to the call's own fields, or into the policy, which does not
// change) where boxing a value would allocate.
func (c *redisClient) call(s *redis.Script, key string) *call {
	sha := c.windowsSHA
	if s == c.bucket {
		sha = c.bucketSHA
	}
	cl := c.pipe.newCall(s, sha)
	cl.key = key
	cl.args = append(cl.args, &cl.key)
	return cl
}

// run sends cl, alone or in the next pipeline, bounded by the timeout,
// and returns the script's reply. With the breaker open it fails at once.
// The round trip is noted in the request's record when ctx carries one
// (WithRecord), for tracing.
func (c *redisClient) run(ctx context.Context, cl *call) ([]int64, error) {
	if c.conn.BreakerOpen() {
		c.pipe.free(cl)
		return nil, errOpen
	}
	rec, _ := ctx.Value(recordKey{}).(*record.Record)
	if rec == nil {
		return c.pipe.do(ctx, cl)
	}
	start := time.Now()
	vals, err := c.pipe.do(ctx, cl)
	rec.AddCall(record.Call{Kind: "redis", Name: "EVALSHA", Target: c.target,
		Start: start.Sub(rec.Time), Duration: time.Since(start), Err: err != nil})
	return vals, err
}

type recordKey struct{}

// WithRecord returns ctx carrying the request's record: Take and Usage
// note each Redis round trip they make for it in the record's calls.
func WithRecord(ctx context.Context, r *record.Record) context.Context {
	return context.WithValue(ctx, recordKey{}, r)
}

// callWindows runs the windows script for cost n granting up to batch
// permits (0: count nothing), and fills ws (one per limit). now is the
// Redis server's clock.
func (c *redisClient) callWindows(ctx context.Context, rkey string, p *Policy, n, batch int64, ws []window) (allowed bool, granted, now int64, err error) {
	cl := c.call(c.windows, rkey)
	sliding := "0"
	if p.Algorithm == Sliding {
		sliding = "1"
	}
	cl.nums[0], cl.nums[1] = n, batch
	cl.args = append(cl.args, sliding, &cl.nums[0], &cl.nums[1])
	for i := range p.Limits {
		cl.args = append(cl.args, int(p.Limits[i].Period), &p.Limits[i].Max)
	}
	vals, err := c.run(ctx, cl)
	if err != nil {
		return false, 0, 0, err
	}
	if len(vals) != 4+4*len(ws) {
		return false, 0, 0, fmt.Errorf("ratelimit: redis: unexpected script reply %v", vals)
	}
	now = vals[2]*int64(time.Second) + vals[3]*int64(time.Microsecond)
	for i := range ws {
		v := vals[4+4*i:]
		ws[i] = window{
			period: p.Limits[i].Period,
			start:  v[0] * int64(time.Second),
			end:    v[1] * int64(time.Second),
			cur:    v[2],
			prev:   v[3],
		}
	}
	return vals[0] == 1, vals[1], now, nil
}

// callBucket runs the token-bucket script; backlog is the time the
// admitted permits take to drain, from now on the Redis server's clock.
func (c *redisClient) callBucket(ctx context.Context, key string, p *Policy, n int64, count bool) (allowed bool, now, backlog int64, err error) {
	flag := "0"
	if count {
		flag = "1"
	}
	cl := c.call(c.bucket, c.key(key, TokenBucket))
	cl.nums[0], cl.nums[1] = interval(p.Rate), n
	cl.args = append(cl.args, &cl.nums[0], &p.Burst, &cl.nums[1], flag)
	vals, err := c.run(ctx, cl)
	if err != nil {
		return false, 0, 0, err
	}
	if len(vals) != 4 {
		return false, 0, 0, fmt.Errorf("ratelimit: redis: unexpected script reply %v", vals)
	}
	now = vals[1]*int64(time.Second) + vals[2]*int64(time.Microsecond)
	return vals[0] == 1, now, vals[3], nil
}

// A lease is a batch of permits a node took from Redis for one key and
// hands out locally: it is good while every window it was counted in is
// still current (measured on the local clock from the moment of the
// grant, so clock skew between node and Redis does not matter) and the
// policy is the one it was taken for.
type lease struct {
	mu        sync.Mutex
	policy    *Policy
	left      int64
	refilling bool         // a request is taking the next batch
	until     atomic.Int64 // local Unix ns: the first end of a leased window
	wins      []window     // as of the grant, on the local clock
}

// leases holds at most max leases; expired ones are dropped when it is
// full, and if none is expired a key goes to Redis for every request.
type leases struct {
	mu   sync.Mutex
	m    map[string]*lease
	max  int
	next int64 // when full: no lease expires before this
}

func (ls *leases) get(key string, now int64) *lease {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if l := ls.m[key]; l != nil {
		return l
	}
	if len(ls.m) >= ls.max {
		if now < ls.next {
			return nil
		}
		next := int64(math.MaxInt64)
		for k, l := range ls.m {
			if until := l.until.Load(); until <= now {
				delete(ls.m, k)
			} else {
				next = min(next, until)
			}
		}
		ls.next = next
		if len(ls.m) >= ls.max {
			return nil
		}
	}
	l := &lease{}
	ls.m[key] = l
	return l
}

// takeLeased serves a request from the key's lease, taking a new batch of
// up to p.Batch permits from Redis when the lease is spent or stale. While
// one request takes the batch, others for the key go to Redis one by one
// rather than wait for it, so no request waits longer than one call.
func (c *redisClient) takeLeased(ctx context.Context, key string, p *Policy, n int64) (Decision, error) {
	rkey := c.key(key, p.Algorithm)
	var d Decision
	l := c.leases.get(rkey, c.clock().UnixNano())
	if l == nil {
		return c.decide(ctx, key, p, n, true)
	}
	l.mu.Lock()
	now := c.clock().UnixNano()
	if l.policy == p && now < l.until.Load() && l.left >= n {
		l.left -= n
		leaseDecision(p, l.wins, now, l.left, &d)
		l.mu.Unlock()
		return d, nil
	}
	if l.refilling {
		l.mu.Unlock()
		return c.decide(ctx, key, p, n, true)
	}
	l.refilling, l.left = true, 0
	l.mu.Unlock()

	var buf [Year + 1]window
	ws := buf[:len(p.Limits)]
	allowed, granted, rnow, err := c.callWindows(ctx, rkey, p, n, max(n, p.Batch), ws)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refilling = false
	if err != nil {
		return d, err
	}
	if !allowed {
		windowsDecision(p, ws, rnow, n, false, &d)
		return d, nil
	}
	// Move the windows onto the local clock, taking the moment before the
	// call for the moment the script ran: the lease then ends no later
	// than its windows do.
	shift := now - rnow
	until := int64(math.MaxInt64)
	if cap(l.wins) < len(ws) {
		l.wins = make([]window, len(ws))
	}
	l.wins = l.wins[:len(ws)]
	for i, w := range ws {
		w.start += shift
		w.end += shift
		l.wins[i] = w
		until = min(until, w.end)
	}
	l.policy, l.left = p, granted-n
	l.until.Store(until)
	leaseDecision(p, l.wins, now, l.left, &d)
	return d, nil
}

// leaseDecision is an admission from a lease: the windows as Redis
// counted them at the grant (the whole batch included), plus the permits
// the lease still holds.
func leaseDecision(p *Policy, wins []window, now, left int64, d *Decision) {
	windowsDecision(p, wins, now, 1, true, d)
	for i := range d.Windows {
		d.Windows[i].Remaining = min(d.Windows[i].Limit, d.Windows[i].Remaining+left)
	}
}
