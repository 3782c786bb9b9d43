// Package proxycache is the response cache: Kong's proxy-cache plugin and
// the patterns guide's response-cache (the same plugin under a second
// name, with the guide's flat Redis fields), with Turnpike's extensions:
// cache-key templates, stale serving, request coalescing, size limits,
// invalidation by pattern, route and tag. Entries live in a memory
// dictionary shared by the instances naming it, or in Redis, in the
// binary form of the httpcache subpackage.
package proxycache

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cachestore"
)

// Plugin names and Kong's priority: after authentication, ACL and rate
// limiting, so a hit is never served to a client the route refuses.
const (
	Name              = "proxy-cache"
	ResponseCacheName = "response-cache"
	InvalidateName    = "proxy-cache-invalidate"
	Priority          = 100
)

// logEvery paces the store-error log.
const logEvery = 10 * time.Second

// Registration is Kong's proxy-cache.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:     Name,
		Priority: Priority,
		NewConfig: func() any {
			c := &Config{}
			c.SetDefaults()
			return c
		},
		New: func(cfg any, env plugin.Env) (plugin.Instance, error) {
			return newCache(Name, cfg.(*Config), nil, env)
		},
		Admin: adminRoutes(),
	}
}

// ResponseCache is the guide's response-cache: the same plugin.
func ResponseCache() plugin.Registration {
	return plugin.Registration{
		Name:     ResponseCacheName,
		Priority: Priority,
		NewConfig: func() any {
			c := &ResponseCacheConfig{}
			c.SetDefaults()
			return c
		},
		New: func(cfg any, env plugin.Env) (plugin.Instance, error) {
			rc := cfg.(*ResponseCacheConfig)
			return newCache(ResponseCacheName, &rc.Config, rc, env)
		},
	}
}

// Cache is one configured cache plugin.
type Cache struct {
	name     string
	s        *settings
	store    cachestore.Store
	bus      *cachestore.Bus
	releases []func()
	metrics  *metrics
	flights  *flights
	logger   *slog.Logger
	lastLog  atomic.Int64
	unlogged atomic.Int64

	// storeErrors is metrics.errors for the instance's strategy,
	// resolved once: a store that is down fails every request, and
	// WithLabelValues hashes the label and takes a lock each time.
	storeErrors prometheus.Counter
}

func newCache(name string, c *Config, rc *ResponseCacheConfig, env plugin.Env) (*Cache, error) {
	s, errs := compile(c, rc)
	if len(errs) > 0 {
		return nil, errs
	}
	in := &Cache{name: name, s: s, logger: env.Logger, flights: newFlights()}
	if in.logger == nil {
		in.logger = slog.New(slog.DiscardHandler)
	}
	in.metrics = registerMetrics(env.Metrics)
	in.storeErrors = in.metrics.errors.WithLabelValues(s.strategy)
	var err error
	if s.strategy == strategyRedis {
		err = in.openRedis(env)
	} else {
		err = in.openMemory(env)
	}
	if err != nil {
		in.Close()
		return nil, plugin.FieldError("redis", err.Error())
	}
	return in, nil
}

// Close gives back the instance's store.
func (in *Cache) Close() {
	for i := len(in.releases) - 1; i >= 0; i-- {
		in.releases[i]()
	}
}

// countError counts a store failure and logs it, at most once per
// logEvery with the number of failures since.
func (in *Cache) countError(err error) {
	in.storeErrors.Inc()
	n := in.unlogged.Add(1)
	now := time.Now().UnixNano()
	if last := in.lastLog.Load(); now-last >= int64(logEvery) && in.lastLog.CompareAndSwap(last, now) {
		in.unlogged.Add(-n)
		in.logger.Warn("response cache store failed; requests go upstream uncached",
			"plugin", in.name, "strategy", in.s.strategy, "failures", n, "error", err)
	}
}
