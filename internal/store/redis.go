package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/sony/gobreaker/v2"
)

const (
	defaultTimeout         = 2 * time.Second
	defaultPoolSize        = 2
	defaultBreakerFailures = 3
	defaultBreakerCooldown = 5 * time.Second
)

// RedisOptions are the connection settings of a Redis client. Two equal
// option sets get the same client from a Redis provider.
type RedisOptions struct {
	// Addrs: one address is a single node (or a cluster's seed when
	// Cluster is set); several are a cluster's seeds, or sentinels when
	// MasterName is set.
	Addrs      []string
	MasterName string // sentinel: the monitored master's name
	Cluster    bool   // Redis Cluster even with one seed address

	Username, Password string
	// SentinelUsername and SentinelPassword authenticate to the
	// sentinels themselves (empty: none).
	SentinelUsername, SentinelPassword string
	Database                           int // not for Cluster

	// Timeout bounds every call, connecting included (0: 2s, Kong's
	// redis timeout default).
	Timeout time.Duration
	TLS     *tls.Config // nil: plain

	// PoolSize is the most connections per node (0: 2).
	PoolSize int
	// BreakerFailures consecutive failures open the circuit breaker
	// (0: 3); BreakerCooldown is how long it stays open before one probe
	// call is let through (0: 5s).
	BreakerFailures int
	BreakerCooldown time.Duration
}

// RedisClient is one go-redis client with its circuit breaker, and the
// state its users attach to it (Extension). It does not dial until used.
type RedisClient struct {
	opts     RedisOptions // as given, for comparison
	timeout  time.Duration
	poolSize int
	client   redis.UniversalClient
	breaker  *gobreaker.CircuitBreaker[any]
	open     atomic.Bool // the breaker is (or was last seen) open

	mu     sync.Mutex
	exts   map[any]Extension
	closed bool
}

// Extension is state the users of one client share (a pipeline, loaded
// scripts, leases), made once per client and closed with it.
type Extension interface {
	// Close is called once, when the client's last reference is released
	// and before its connections are closed. It may close the client
	// itself, to end its round trips in flight.
	Close()
}

// NewRedisClient makes a client; one address is a single node, several a
// cluster, and with MasterName they are sentinels. Close closes it.
func NewRedisClient(opts RedisOptions) (*RedisClient, error) {
	if len(opts.Addrs) == 0 {
		return nil, errors.New("redis needs at least one address")
	}
	for _, a := range opts.Addrs {
		if a == "" {
			return nil, errors.New("empty redis address")
		}
	}
	if opts.MasterName != "" && opts.Cluster {
		return nil, errors.New("redis is either a cluster or sentinels, not both")
	}
	opts.Addrs = slices.Clone(opts.Addrs)
	cluster := opts.MasterName == "" && (opts.Cluster || len(opts.Addrs) > 1)
	if cluster && opts.Database != 0 {
		return nil, errors.New("redis cluster has no databases but 0")
	}
	c := &RedisClient{opts: opts, timeout: opts.Timeout, poolSize: opts.PoolSize}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	if c.poolSize <= 0 {
		c.poolSize = defaultPoolSize
	}
	failures := opts.BreakerFailures
	if failures <= 0 {
		failures = defaultBreakerFailures
	}
	cooldown := opts.BreakerCooldown
	if cooldown <= 0 {
		cooldown = defaultBreakerCooldown
	}
	c.client = redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:            opts.Addrs,
		MasterName:       opts.MasterName,
		IsClusterMode:    opts.Cluster,
		Username:         opts.Username,
		Password:         opts.Password,
		SentinelUsername: opts.SentinelUsername,
		SentinelPassword: opts.SentinelPassword,
		DB:               opts.Database,
		TLSConfig:        opts.TLS,
		// Users bound their round trips in flight to PoolSize (the
		// rate-limit engine's pipelines do): one pool of that size per
		// node serves them, with no separate pipeline pool. RESP2: no
		// push notifications need looking for.
		PoolSize:         c.poolSize,
		PipelinePoolSize: -1,
		Protocol:         2,
		// Every round trip is bounded by its context (its calls'
		// deadline); one retry replaces a pooled connection that died
		// with a restarted server.
		ContextTimeoutEnabled: true,
		DialTimeout:           c.timeout,
		ReadTimeout:           c.timeout,
		WriteTimeout:          c.timeout,
		PoolTimeout:           c.timeout,
		MaxRetries:            1,
		DialerRetries:         1,
		DisableIdentity:       true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	})
	c.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:        "store-redis",
		MaxRequests: 1,
		Timeout:     cooldown,
		ReadyToTrip: func(counts gobreaker.Counts) bool {
			return counts.ConsecutiveFailures >= uint32(failures)
		},
		IsSuccessful: func(err error) bool {
			return err == nil || !Unreachable(err)
		},
		IsExcluded: func(err error) bool {
			return errors.Is(err, context.Canceled)
		},
		OnStateChange: func(_ string, _, to gobreaker.State) {
			c.open.Store(to == gobreaker.StateOpen)
		},
	})
	return c, nil
}

// Client is the go-redis client.
func (c *RedisClient) Client() redis.UniversalClient { return c.client }

// Breaker counts the round trips users run through it: one that could not
// reach Redis (Unreachable) is a failure, one whose caller went away
// (context.Canceled) is not counted. Once open it refuses calls for the
// cool-down, then lets one probe through.
func (c *RedisClient) Breaker() *gobreaker.CircuitBreaker[any] { return c.breaker }

// BreakerOpen reports whether the breaker refuses calls now, without a
// lock while it is closed.
func (c *RedisClient) BreakerOpen() bool {
	return c.open.Load() && c.breaker.State() == gobreaker.StateOpen
}

// Timeout bounds every call (the options' Timeout, or its default).
func (c *RedisClient) Timeout() time.Duration { return c.timeout }

// PoolSize is the most connections per node (the options' PoolSize, or
// its default).
func (c *RedisClient) PoolSize() int { return c.poolSize }

// Extension returns the client's extension for key, made by build on
// first use. Keys are compared with ==; a package uses a key of its own
// unexported type, so extensions of different users never collide.
func (c *RedisClient) Extension(key any, build func(*RedisClient) Extension) Extension {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.exts[key]; ok {
		return e
	}
	e := build(c)
	if c.exts == nil {
		c.exts = make(map[any]Extension)
	}
	c.exts[key] = e
	return e
}

// Close closes the extensions, then the connections.
func (c *RedisClient) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	exts := c.exts
	c.exts = nil
	c.mu.Unlock()
	for _, e := range exts {
		e.Close()
	}
	// A second Close after an extension closed it only returns an error.
	_ = c.client.Close()
}

// Unreachable tells an error that says Redis cannot serve (connection
// refused or reset, timeout, a server loading, failing over or without a
// master) from one Redis answered with (a script error, a key of the
// wrong type).
func Unreachable(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true
	}
	for _, prefix := range [...]string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "READONLY", "BUSY", "TRYAGAIN", "NOREPLICAS"} {
		if redis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	return false
}

// Redis hands out Redis clients by options, so that the plugin instances
// of one configuration, and those of the next after a reload, share one
// connection pool and breaker instead of each dialing its own. Two option
// sets are the same when every field is equal; TLS configurations are
// compared by their server name, verification, versions, root pool and
// client certificates. A Redis holds no goroutine and needs no Close.
type Redis struct {
	mu    sync.Mutex
	conns []*sharedClient
}

type sharedClient struct {
	c    *RedisClient
	refs int
}

// NewRedis makes an empty provider of Redis clients.
func NewRedis() *Redis { return &Redis{} }

// Acquire returns the client for opts, making it on first use. release
// gives the reference back (once; later calls do nothing); the last one
// closes the client. A reload that acquires the new instances' clients
// before releasing the old ones keeps the connections.
func (s *Redis) Acquire(opts RedisOptions) (c *RedisClient, release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sc *sharedClient
	for _, e := range s.conns {
		if sameOptions(e.c.opts, opts) {
			sc = e
			break
		}
	}
	if sc == nil {
		c, err := NewRedisClient(opts)
		if err != nil {
			return nil, nil, err
		}
		sc = &sharedClient{c: c}
		s.conns = append(s.conns, sc)
	}
	sc.refs++
	var once sync.Once
	return sc.c, func() { once.Do(func() { s.release(sc) }) }, nil
}

// Clients is the number of Redis clients in use.
func (s *Redis) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Reachable reports whether every Redis client in use answers a PING
// within its timeout and ctx (true when none is in use). A client whose
// breaker is open is unreachable without a call. The clients are asked
// at once, so a scrape waits for the slowest only.
func (s *Redis) Reachable(ctx context.Context) bool {
	s.mu.Lock()
	clients := make([]*RedisClient, len(s.conns))
	for i, e := range s.conns {
		if e.c.BreakerOpen() {
			s.mu.Unlock()
			return false
		}
		clients[i] = e.c
	}
	s.mu.Unlock()
	var down atomic.Bool
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			if c.client.Ping(ctx).Err() != nil {
				down.Store(true)
			}
		})
	}
	wg.Wait()
	return !down.Load()
}

func (s *Redis) release(sc *sharedClient) {
	s.mu.Lock()
	if sc.refs--; sc.refs > 0 {
		s.mu.Unlock()
		return
	}
	for i, e := range s.conns {
		if e == sc {
			s.conns = append(s.conns[:i], s.conns[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	sc.c.Close()
}

// sameOptions reports whether a and b make the same client.
func sameOptions(a, b RedisOptions) bool {
	return slices.Equal(a.Addrs, b.Addrs) && a.MasterName == b.MasterName && a.Cluster == b.Cluster &&
		a.Username == b.Username && a.Password == b.Password &&
		a.SentinelUsername == b.SentinelUsername && a.SentinelPassword == b.SentinelPassword &&
		a.Database == b.Database && a.Timeout == b.Timeout &&
		a.PoolSize == b.PoolSize && a.BreakerFailures == b.BreakerFailures &&
		a.BreakerCooldown == b.BreakerCooldown && sameTLS(a.TLS, b.TLS)
}

// sameTLS compares the TLS settings a Redis client uses. Configurations
// with callbacks are the same only when they are the same configuration.
func sameTLS(a, b *tls.Config) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	if a.VerifyPeerCertificate != nil || b.VerifyPeerCertificate != nil ||
		a.VerifyConnection != nil || b.VerifyConnection != nil ||
		a.GetClientCertificate != nil || b.GetClientCertificate != nil {
		return false
	}
	if a.ServerName != b.ServerName || a.InsecureSkipVerify != b.InsecureSkipVerify ||
		a.MinVersion != b.MinVersion || a.MaxVersion != b.MaxVersion {
		return false
	}
	if (a.RootCAs == nil) != (b.RootCAs == nil) || (a.RootCAs != nil && !a.RootCAs.Equal(b.RootCAs)) {
		return false
	}
	return slices.EqualFunc(a.Certificates, b.Certificates, func(x, y tls.Certificate) bool {
		return slices.EqualFunc(x.Certificate, y.Certificate, bytes.Equal)
	})
}
