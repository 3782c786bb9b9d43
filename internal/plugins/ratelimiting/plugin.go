package ratelimiting

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/ratelimiting/engine"
)

// Name is the plugin's name in configs.
const Name = "rate-limiting"

// Priority is Kong's: after the authentication plugins (so the consumer is
// known and consumer-scoped instances apply) and acl (950).
const Priority = 910

// msgUnexpected is Kong's answer when the counter store fails and the
// plugin is not fault tolerant.
const msgUnexpected = "An unexpected error occurred"

// clientGone answers a request whose client left while it was held or
// counted (NGINX's 499; nobody reads the answer).
func clientGone() error { return &plugin.Exit{Status: 499, Message: "Client closed the request"} }

// logEvery spaces the log lines of a failing store: one line, with the
// number of failures since the previous one, at most this often.
const logEvery = 5 * time.Second

// Registration describes the plugin to the registry.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      Name,
		Priority:  Priority,
		NewConfig: func() any { return &Config{} },
		New:       New,
		Admin:     adminRoutes(),
	}
}

// Instance is a configured rate-limiting plugin.
type Instance struct {
	s     *settings
	store engine.Store
	// keyPrefix starts the store keys (redis: the namespace).
	keyPrefix string
	plan      headerPlan
	metrics   *metrics // nil: none
	logger    *slog.Logger

	// lastLog (unix nanoseconds) and unlogged pace the store-error log.
	lastLog  atomic.Int64
	unlogged atomic.Int64
}

// New validates the config and builds the instance with its store: an
// in-process one for the local policy, for redis and cluster a Redis
// client (connecting lazily) shared through env.Store with every instance
// of the same connection settings.
func New(cfg any, env plugin.Env) (plugin.Instance, error) {
	s, errs := compile(cfg.(*Config))
	if len(errs) > 0 {
		return nil, errs
	}
	return newInstance(s, env, nil)
}

// newInstance builds an instance from validated settings; clock is for
// tests (nil: the wall clock).
func newInstance(s *settings, env plugin.Env, clock engine.Clock) (*Instance, error) {
	in := &Instance{s: s, plan: newHeaderPlan(&s.policy, s.configured), logger: env.Logger}
	if env.Metrics != nil {
		in.metrics = registerMetrics(env.Metrics)
	}
	if in.logger == nil {
		in.logger = slog.New(slog.DiscardHandler)
	}
	for _, f := range s.deprecated {
		in.logger.Warn(Name + ": config." + f + " is deprecated, please use config.redis." +
			strings.TrimPrefix(f, "redis_") + " instead")
	}
	if !s.redis {
		in.store = engine.NewLocal(clock, 0)
		return in, nil
	}
	// Counters of this plugin live under its namespace, in the key, so
	// that plugins with the same connection settings share one client.
	in.keyPrefix = s.namespace + ":"
	if s.namespace == "" {
		// Kong keys counters by the plugin's scope: the plugin id is
		// derived from it, the same on every node running the file.
		in.keyPrefix = env.PluginID + ":"
		if env.PluginID == "" {
			in.keyPrefix = s.defaultNS + ":"
		}
	}
	var (
		store *engine.Redis
		err   error
	)
	if env.Store != nil && clock == nil {
		store, err = engine.SharedRedis(env.Store.Redis, redisOptions(s))
	} else {
		store, err = engine.NewRedis(redisOptions(s), clock)
	}
	if err != nil {
		return nil, plugin.FieldError("redis", err.Error())
	}
	in.store = store
	return in, nil
}

// key is the store key of an identifier: the identifier itself in the
// instance's own local store, namespaced in Redis.
func (in *Instance) key(id string) string {
	if in.keyPrefix == "" {
		return id
	}
	return in.keyPrefix + id
}

// Close releases the store (the Redis client's connections, or its
// reference to a shared client; the local store's sweeper). Requests still in flight get the store's answer after
// Close: the local store keeps counting, Redis reports itself unavailable
// and fault_tolerant decides.
func (in *Instance) Close() { in.store.Close() }

// Access counts the request and answers it when a limit is exceeded.
func (in *Instance) Access(c *plugin.Ctx) error {
	ctx := c.Req.Context()
	sctx := ctx
	if in.s.redis && c.Record != nil {
		sctx = engine.WithRecord(ctx, c.Record) // the Redis round trips, for tracing
	}
	t := takes.Get().(*take)
	d := &t.d
	if err := in.store.TakeInto(sctx, in.key(in.identify(c)), &in.s.policy, 1, d); err != nil {
		takes.Put(t)
		if ctx.Err() != nil {
			// The client left while Redis was asked: not the store's fault.
			return clientGone()
		}
		return in.storeFailed(c, err)
	}
	if !d.Allowed {
		if c.Record != nil {
			c.Record.RateLimited = true
		}
		e := plugin.NewExit(in.s.errCode, in.s.errMessage)
		if !in.s.hide {
			var h rlHeaders
			in.plan.build(&h, d)
			e.Header = h.header()
		}
		takes.Put(t)
		return e
	}
	if d.Delay > 0 {
		// The token bucket without nodelay: the request is admitted, but
		// only after its turn, as NGINX's limit_req delays within burst.
		timer := time.NewTimer(d.Delay)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			takes.Put(t)
			return clientGone()
		}
	}
	if in.s.hide {
		takes.Put(t)
		return nil
	}
	in.plan.build(&t.h, d)
	if c.Shared == nil {
		c.Shared = make(map[string]any, 2)
	}
	c.Shared[Name] = t
	return nil
}

// take is an admitted request's decision and headers. It is pooled: the
// headers' values are the response header map's until the response is
// written, so it goes back in Log, after that.
type take struct {
	d    engine.Decision
	room [engine.Year + 1]engine.WindowState
	h    rlHeaders
}

var takes = sync.Pool{New: func() any {
	t := new(take)
	t.d.Windows = t.room[:0]
	return t
}}

// HeaderFilter puts the headers of the decision made in Access on the
// response (the upstream's, or another plugin's answer), after any
// upstream attempt that was retried, so they are never lost.
func (in *Instance) HeaderFilter(c *plugin.Ctx) {
	if t, ok := c.Shared[Name].(*take); ok {
		t.h.apply(c.Resp.Header)
	}
}

// Release gives the take back to the pool when the request is over
// (plugin.Releaser): after every log plugin, which read the RateLimit
// headers whose values are the take's.
func (t *take) Release() {
	t.h = rlHeaders{}
	takes.Put(t)
}

// storeFailed applies fault_tolerant: the request goes on without headers
// (Kong), or is answered 500. Either way the failure is counted and
// logged, at most once per logEvery with the number of failures since.
func (in *Instance) storeFailed(c *plugin.Ctx, err error) error {
	outcome := "refused"
	if in.s.fault {
		outcome = "allowed"
	}
	if m := in.metrics; m != nil {
		m.storeErrors.WithLabelValues(routeLabel(c), outcome).Inc()
	}
	n := in.unlogged.Add(1)
	now := time.Now().UnixNano()
	if last := in.lastLog.Load(); now-last >= int64(logEvery) && in.lastLog.CompareAndSwap(last, now) {
		in.unlogged.Add(-n)
		in.logger.Error(Name+": failed to get usage", "error", err, "fault_tolerant", in.s.fault,
			"failures", n, "request_id", c.RequestID)
	}
	if in.s.fault {
		return nil
	}
	return plugin.NewExit(http.StatusInternalServerError, msgUnexpected)
}

// routeLabel names the route in metrics: its name, else its first path,
// else its id.
func routeLabel(c *plugin.Ctx) string {
	r := c.Route
	switch {
	case r == nil:
		return ""
	case r.Name != "":
		return r.Name
	case len(r.Paths) > 0:
		return r.Paths[0]
	}
	return r.ID
}

// Usage is one identifier's counters, as the admin API shows them.
type Usage struct {
	// Key is the identifier looked up (for limit_by consumer, a username
	// given is turned into the consumer's id).
	Key        string        `json:"key"`
	LimitBy    string        `json:"limit_by"`
	WindowType string        `json:"window_type"`
	Windows    []WindowUsage `json:"windows"`
}

// WindowUsage is one window's state: for the token bucket, Limit is
// burst+1 and Reset the seconds until the next token is back.
type WindowUsage struct {
	Period    string `json:"period,omitempty"`
	Limit     int64  `json:"limit"`
	Remaining int64  `json:"remaining"`
	// Reset is in whole seconds, rounded up.
	Reset int64 `json:"reset"`
}

// RateLimitUsage reports an identifier's counters without counting.
func (in *Instance) RateLimitUsage(ctx context.Context, key string, dir plugin.Directory) (Usage, error) {
	if in.s.limitBy == byConsumer && dir != nil {
		if co, ok := dir.Consumer(key); ok {
			key = co.ID
		}
	}
	d, err := in.store.Usage(ctx, in.key(boundIdentifier(key)), &in.s.policy)
	if err != nil {
		return Usage{}, err
	}
	u := Usage{Key: key, LimitBy: in.s.limitBy, WindowType: in.s.policy.Algorithm.String(), Windows: []WindowUsage{}}
	for _, w := range d.Windows {
		wu := WindowUsage{Limit: w.Limit, Remaining: w.Remaining, Reset: ceilSeconds(w.Reset)}
		if in.s.policy.Algorithm != engine.TokenBucket {
			wu.Period = w.Period.String()
		}
		u.Windows = append(u.Windows, wu)
	}
	return u, nil
}

// defaultNamespace derives the Redis key namespace from the plugin's
// config without its connection settings, so every gateway node running
// the same plugin config shares counters, and plugins configured otherwise
// (other limits, identifier, answer...) never do.
func defaultNamespace(c *Config) string {
	k := *c
	k.Redis = plugin.RedisConfig{}
	k.RedisHost, k.RedisPort, k.RedisUsername, k.RedisPassword = nil, nil, nil, nil
	k.RedisDatabase, k.RedisTimeout, k.RedisSSL, k.RedisSSLVerify, k.RedisServerName = nil, nil, nil, nil, nil
	k.Policy = ""
	// Config holds only numbers, strings and bools: Marshal cannot fail.
	raw, _ := json.Marshal(k)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:6])
}
