package aggregate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/cachestore"
	"github.com/turnpikegw/turnpike/internal/store"
)

// CacheConfig is where calls with a cache_ttl keep their answers, in
// proxy-cache's field names.
type CacheConfig struct {
	// Strategy is memory (this node's) or redis (shared by every node).
	Strategy string             `yaml:"strategy"`
	Memory   CacheMemory        `yaml:"memory"`
	Redis    plugin.RedisConfig `yaml:"redis"`
	// MaxSize is a memory dictionary's byte budget (the first instance
	// naming the dictionary sets it).
	MaxSize int64 `yaml:"max_size"`
}

// CacheMemory names the memory strategy's dictionary.
type CacheMemory struct {
	DictionaryName string `yaml:"dictionary_name"`
}

// Cache defaults: proxy-cache's dictionary name, so that with Redis
// both plugins' entries share one namespace (and its purges).
const (
	strategyMemory      = "memory"
	strategyRedis       = "redis"
	defaultDictionary   = "kong_db_cache"
	defaultCacheMaxSize = 16 << 20
	maxCacheTTL         = 365 * 24 * 3600 // s
	redisTimeoutMs      = 2000
	// cacheWriteTimeout bounds a cache write, which runs after its call
	// reported and so under no request's deadline.
	cacheWriteTimeout = redisTimeoutMs * time.Millisecond
	// maxPendingWrites bounds an instance's cache writes in flight.
	maxPendingWrites = 64
	// memoryPrefix keys aggregate's memory dictionaries in the store's
	// shared values: proxy-cache's are another type under its own prefix.
	memoryPrefix = "aggregate:dictionary:"
	// hitHeader names the calls an answer took from the cache.
	hitHeader = "X-Turnpike-Cache-Hits"
)

func (c *CacheConfig) setDefaults() {
	c.Strategy = strategyMemory
	c.Memory.DictionaryName = defaultDictionary
	c.MaxSize = defaultCacheMaxSize
	connect, send, read := redisTimeoutMs, redisTimeoutMs, redisTimeoutMs
	c.Redis.ConnectTimeout, c.Redis.SendTimeout, c.Redis.ReadTimeout = &connect, &send, &read
}

// cacheTTL checks calls[i].cache_ttl and sets out's.
func (k *checker) cacheTTL(c *Call, p string, out *call) {
	if c.CacheTTL == nil {
		return
	}
	switch ttl := *c.CacheTTL; {
	case ttl <= 0:
		k.add(p+".cache_ttl", "value must be greater than 0")
	case ttl > maxCacheTTL:
		k.add(p+".cache_ttl", "value should be between 1 and "+strconv.Itoa(maxCacheTTL))
	case out.method != http.MethodGet:
		k.add(p+".cache_ttl", "only GET calls are cached")
	default:
		out.cacheTTL = time.Duration(ttl) * time.Second
		out.hitName = "hit " + c.Name
	}
}

// cacheSettings checks the cache block; redis is the connection a store
// of the strategy needs (nil for memory without Redis settings).
func (k *checker) cacheSettings(c *CacheConfig) (redis *store.RedisOptions) {
	switch c.Strategy {
	case strategyMemory, strategyRedis:
	default:
		k.add("cache.strategy", "expected one of: memory, redis")
	}
	if c.Memory.DictionaryName == "" {
		k.add("cache.memory.dictionary_name", "required field missing")
	}
	if c.MaxSize < 1 {
		k.add("cache.max_size", "value must be greater than 0")
	}
	k.errs = append(k.errs, c.Redis.Validate("cache entries", c.Strategy == strategyRedis).Under("cache.redis")...)
	if c.Strategy == strategyRedis && c.Redis.Configured() {
		o := c.Redis.Options()
		return &o
	}
	return nil
}

// openCache makes the instance's store: a memory dictionary shared by
// the aggregate instances naming it, or the dictionary's namespace in
// Redis.
func (in *instance) openCache(c *CacheConfig, redis *store.RedisOptions, env plugin.Env) error {
	if redis == nil {
		if env.Store == nil {
			m := cachestore.NewMemory(c.MaxSize)
			in.cache, in.releases = m, append(in.releases, func() { m.Close() })
			return nil
		}
		v, release := env.Store.Shared.Acquire(memoryPrefix+c.Memory.DictionaryName, func() io.Closer {
			return cachestore.NewMemory(c.MaxSize)
		})
		in.cache, in.releases = v.(*cachestore.Memory), append(in.releases, release)
		return nil
	}
	var client *store.RedisClient
	if env.Store != nil {
		cl, release, err := env.Store.Redis.Acquire(*redis)
		if err != nil {
			return err
		}
		client, in.releases = cl, append(in.releases, release)
	} else {
		cl, err := store.NewRedisClient(*redis)
		if err != nil {
			return err
		}
		client, in.releases = cl, append(in.releases, func() { cl.Close() })
	}
	r := cachestore.NewRedis(client, c.Memory.DictionaryName)
	r.MaxEntry = in.maxBody
	in.cache = r
	return nil
}

// Close gives back the cache's dictionary or Redis client once the
// pending writes are done: it takes every write slot, so that later
// writes are skipped and none outlives the store.
func (in *instance) Close() {
	for range cap(in.writes) {
		in.writes <- struct{}{}
	}
	for i := len(in.releases) - 1; i >= 0; i-- {
		in.releases[i]()
	}
}

// cacheKey is the key of call c's answer: the sha256 of the consumer
// and route (as proxy-cache keys them: a consumer's answer is never
// another's), the call, its rendered method and URL and the values of
// the headers it forwards, each length-prefixed so that no value can
// pass for another field. b is room for the hashed bytes, returned for
// reuse.
func cacheKey(b []byte, pc *plugin.Ctx, c *call, target []byte, h http.Header) ([]byte, string) {
	consumer, route := "", "default"
	if pc.Consumer != nil {
		consumer = pc.Consumer.ID
	}
	if pc.Route != nil {
		route = pc.Route.ID
	}
	b = b[:0]
	for _, f := range [...]string{consumer, route, c.name, c.method, c.scheme, c.host, c.service} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = binary.AppendUvarint(b, uint64(len(target)))
	b = append(b, target...)
	for _, name := range c.forward {
		vs := h[name]
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	sum := sha256.Sum256(b)
	var dst [2 * sha256.Size]byte
	hex.Encode(dst[:], sum[:])
	return b, string(dst[:])
}

// cached fills res from the cache when it holds call c's answer; a store
// failure is a miss (the call goes out), logged at debug.
func (in *instance) cached(ctx context.Context, c *call, res *result) bool {
	t0 := time.Now()
	entry, err := in.cache.Get(ctx, res.key)
	if err != nil {
		in.logger.Debug("aggregate cache read failed", "call", c.name, "error", err)
	}
	if entry == nil {
		return false
	}
	// The store keeps entry: the pooled body is written by later calls.
	res.body = append(res.body[:0], entry...)
	s, e, ok := span(res.body)
	if !ok {
		return false
	}
	if res.start, res.end, ok = find(res.body, s, e, c.target); !ok {
		res.why = "no " + strings.Join(c.target, ".") + " in the answer"
	}
	res.hit, res.ended = true, time.Since(t0)
	return true
}

// store keeps a 200 answer of call c for its cache_ttl on a goroutine of
// its own, so that the call reports done without waiting for the store (a
// Redis write may take its whole timeout). The write outlives the
// request's cancellation, not its own timeout; with maxPendingWrites in
// flight the answer is not kept (a later miss keeps it).
func (in *instance) store(ctx context.Context, r *run, c *call, res *result) {
	select {
	case in.writes <- struct{}{}:
	default:
		in.logger.Debug("aggregate cache write skipped: too many pending", "call", c.name)
		return
	}
	meta := cachestore.Meta{Path: r.path, RouteID: r.routeID}
	entry := append([]byte(nil), res.body...)
	key := res.key
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cacheWriteTimeout)
	go func() {
		defer func() {
			// Not under the proxy's recover: a bug here loses the entry,
			// not the process.
			if p := recover(); p != nil {
				in.logger.Error("aggregate cache write panicked", "call", c.name, "panic", p)
			}
			cancel()
			<-in.writes
		}()
		if err := in.cache.Set(wctx, key, entry, c.cacheTTL, meta); err != nil {
			in.logger.Debug("aggregate cache write failed", "call", c.name, "error", err)
		}
	}()
}

// serveFlush is DELETE /aggregate/cache: every aggregate instance's
// cache emptied (a shared store once).
func serveFlush(a plugin.Admin, w http.ResponseWriter, r *http.Request) {
	seen := map[cachestore.Store]bool{}
	for _, p := range a.Plugins(pluginName) {
		in, ok := p.Instance.(*instance)
		if !ok || in.cache == nil || seen[in.cache] {
			continue
		}
		seen[in.cache] = true
		if _, err := in.cache.Invalidate(r.Context(), cachestore.Selector{All: true}); err != nil {
			a.Error(w, http.StatusInternalServerError, "the cache could not be emptied")
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
