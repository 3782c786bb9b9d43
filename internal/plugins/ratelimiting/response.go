package ratelimiting

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/ratelimiting/engine"
)

// ResponseRegistration is Kong's response-ratelimiting: limits counted
// from what the upstream reports in a response header, on the same
// engine and stores as rate-limiting.
func ResponseRegistration() plugin.Registration {
	return plugin.Registration{
		Name:      ResponseName,
		Priority:  900,
		NewConfig: func() any { return &ResponseConfig{} },
		New:       NewResponse,
	}
}

// ResponseInstance is a configured response-ratelimiting plugin.
type ResponseInstance struct {
	s         *respSettings
	store     engine.Store
	keyPrefix string
	logger    *slog.Logger
	lastLog   atomic.Int64
	unlogged  atomic.Int64
}

// NewResponse validates the config and builds the instance with its
// store, as rate-limiting's New.
func NewResponse(cfg any, env plugin.Env) (plugin.Instance, error) {
	s, errs := compileResponse(cfg.(*ResponseConfig))
	if len(errs) > 0 {
		return nil, errs
	}
	return newResponseInstance(s, env, nil)
}

func newResponseInstance(s *respSettings, env plugin.Env, clock engine.Clock) (*ResponseInstance, error) {
	in := &ResponseInstance{s: s, logger: env.Logger}
	if in.logger == nil {
		in.logger = slog.New(slog.DiscardHandler)
	}
	for _, f := range s.deprecated {
		in.logger.Warn(ResponseName + ": config." + f + " is deprecated, please use config.redis." +
			strings.TrimPrefix(f, "redis_") + " instead")
	}
	if !s.redis {
		in.store = engine.NewLocal(clock, 0)
		return in, nil
	}
	in.keyPrefix = env.PluginID + ":"
	if env.PluginID == "" {
		in.keyPrefix = s.defaultNS + ":"
	}
	opts := engine.RedisOptions{RedisOptions: s.redisCfg.Options(), KeyPrefix: keyPrefix}
	var (
		store *engine.Redis
		err   error
	)
	if env.Store != nil && clock == nil {
		store, err = engine.SharedRedis(env.Store.Redis, opts)
	} else {
		store, err = engine.NewRedis(opts, clock)
	}
	if err != nil {
		return nil, plugin.FieldError("redis", err.Error())
	}
	in.store = store
	return in, nil
}

// Close releases the store.
func (in *ResponseInstance) Close() { in.store.Close() }

// respState is one request's usage, from Access to Log.
type respState struct {
	// periods are those of all limits, in order.
	periods []periodState
	// increments[j] is what the upstream reported for limit j.
	increments []int64
	stop       bool
}

type periodState struct {
	key string
	// remaining is limit - usage, as Kong counts it (fractional with a
	// fractional limit, negative never here: counters stop at the limit).
	remaining float64
}

func ceilInt(v float64) int64 { return int64(math.Ceil(v)) }

// identify is Kong's get_identifier: the consumer (else its credential),
// the credential, or the client's address.
func (in *ResponseInstance) identify(c *plugin.Ctx) string {
	var id string
	switch in.s.limitBy {
	case byConsumer:
		if c.Consumer != nil {
			id = c.Consumer.ID
		} else {
			id = c.Credential
		}
	case byCredential:
		id = c.Credential
	}
	if id == "" {
		id = c.ForwardedIP
		if id == "" {
			id = c.ClientIP
		}
	}
	return boundIdentifier(id)
}

func (in *ResponseInstance) key(p *respPeriod, id string) string {
	return in.keyPrefix + p.keyPart + id
}

// Access reads the usage of every period, refuses the request when
// block_on_first_violation is set and a period has nothing left, and tells
// the upstream what is left of each limit (X-RateLimit-Remaining-<name>,
// the fewest of its periods).
func (in *ResponseInstance) Access(c *plugin.Ctx) error {
	ctx := c.Req.Context()
	if in.s.redis && c.Record != nil {
		ctx = engine.WithRecord(ctx, c.Record)
	}
	id := in.identify(c)
	st := &respState{periods: make([]periodState, 0, in.s.nPeriods), increments: make([]int64, len(in.s.limits))}
	for i := range in.s.limits {
		l := &in.s.limits[i]
		for j := range l.periods {
			p := &l.periods[j]
			key := in.key(p, id)
			d, err := in.store.Usage(ctx, key, &p.policy)
			if err != nil {
				if c.Req.Context().Err() != nil {
					return clientGone()
				}
				return in.failed(c, "failed to get usage", err)
			}
			used := float64(d.Windows[0].Limit - d.Windows[0].Remaining)
			st.periods = append(st.periods, periodState{key: key, remaining: p.limit - used})
		}
	}
	k := 0
	var num [24]byte
	for i := range in.s.limits {
		l := &in.s.limits[i]
		least := math.Inf(1)
		for range l.periods {
			r := st.periods[k].remaining
			k++
			if in.s.block && r == 0 {
				return plugin.NewExit(http.StatusTooManyRequests, "API rate limit exceeded for '"+l.name+"'")
			}
			least = min(least, r)
		}
		c.Req.Header[l.reqHeader] = []string{string(appendFraction(num[:0], least))}
	}
	if c.Shared == nil {
		c.Shared = make(map[string]any, 2)
	}
	c.Shared[ResponseName] = st
	return nil
}

// failed applies fault_tolerant to a store error: logged (at most once
// per logEvery, with the count since), then the request goes on without
// the plugin, or gets Kong's 500.
func (in *ResponseInstance) failed(c *plugin.Ctx, what string, err error) error {
	n := in.unlogged.Add(1)
	now := time.Now().UnixNano()
	if last := in.lastLog.Load(); now-last >= int64(logEvery) && in.lastLog.CompareAndSwap(last, now) {
		in.unlogged.Add(-n)
		in.logger.Error(ResponseName+": "+what, "error", err, "fault_tolerant", in.s.fault, "failures", n,
			"request_id", c.RequestID)
	}
	if in.s.fault {
		return nil
	}
	return plugin.NewExit(http.StatusInternalServerError, msgUnexpected)
}

// HeaderFilter reads the upstream's increments, sends every period's
// limit and what remains after them, drops the upstream's header, and
// turns the answer into a 429 when a period that had nothing left was
// used again (Kong: the status only; the upstream's body still follows).
func (in *ResponseInstance) HeaderFilter(c *plugin.Ctx) {
	st, ok := c.Shared[ResponseName].(*respState)
	if !ok {
		return
	}
	h := c.Resp.Header
	if c.Resp.FromUpstream {
		if key, vs := in.s.header.Values(h); vs != nil {
			in.parseIncrements(st, vs)
			delete(h, key)
		}
	}
	k := 0
	for i := range in.s.limits {
		inc := float64(st.increments[i])
		for range in.s.limits[i].periods {
			if inc > 0 && st.periods[k].remaining <= 0 {
				st.stop = true
			}
			k++
		}
	}
	if !in.s.hide {
		in.setHeaders(h, st)
	}
	if st.stop {
		c.Resp.Status = http.StatusTooManyRequests
	}
}

// setHeaders sets every period's limit and what remains after this
// response's increments: two headers per period, from one string and one
// array of values.
func (in *ResponseInstance) setHeaders(h http.Header, st *respState) {
	var buf [256]byte
	nums := buf[:0]
	cuts := make([]int, 0, 2*in.s.nPeriods+1)
	cuts = append(cuts, 0)
	k := 0
	for i := range in.s.limits {
		inc := float64(st.increments[i])
		for range in.s.limits[i].periods {
			nums = appendFraction(nums, max(0, st.periods[k].remaining-inc))
			cuts = append(cuts, len(nums))
			k++
		}
	}
	all := string(nums)
	vals := make([]string, 2*in.s.nPeriods)
	k = 0
	for i := range in.s.limits {
		l := &in.s.limits[i]
		for j := range l.periods {
			p := &l.periods[j]
			vals[2*k], vals[2*k+1] = p.limitText, all[cuts[k]:cuts[k+1]]
			h[p.hLimit] = vals[2*k : 2*k+1 : 2*k+1]
			h[p.hRemaining] = vals[2*k+1 : 2*k+2 : 2*k+2]
			k++
		}
	}
}

// maxIncrement bounds one response's increment to what a counter holds
// exactly.
const maxIncrement = 1 << 52

// parseIncrements reads `name=count, name2=count` from every value of
// the header: a part that is not exactly one `=` pair, names no limit, or
// whose count is not a whole number from 0 up is ignored (Kong also takes
// fractions and negative counts, which the counters here cannot hold).
func (in *ResponseInstance) parseIncrements(st *respState, vs []string) {
	for _, v := range vs {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			name, count, ok := strings.Cut(part, "=")
			if !ok || strings.IndexByte(count, '=') >= 0 {
				continue
			}
			name = strings.TrimSpace(name)
			i := in.limitIndex(name)
			if i < 0 {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(count), 64)
			if err != nil || f < 0 || f != math.Trunc(f) || f > maxIncrement {
				continue
			}
			// A later part for the same name wins, as in Kong's table.
			st.increments[i] = int64(f)
		}
	}
}

func (in *ResponseInstance) limitIndex(name string) int {
	for i := range in.s.limits {
		if in.s.limits[i].name == name {
			return i
		}
	}
	return -1
}

// Log counts the increments the upstream reported in every period, unless
// the answer was turned into a 429. A period without room for the whole
// increment counts what room it has: it is then full, as Kong's counter
// past its limit is.
func (in *ResponseInstance) Log(c *plugin.Ctx) {
	st, ok := c.Shared[ResponseName].(*respState)
	if !ok || st.stop {
		return
	}
	// The response is out: the count goes on if the client has left,
	// bounded by the store's own timeout.
	ctx := context.WithoutCancel(c.Req.Context())
	first := 0 // the limit's first period in st.periods
	for i := range in.s.limits {
		l := &in.s.limits[i]
		inc := st.increments[i]
		first += len(l.periods)
		if inc == 0 {
			continue
		}
		for j := range l.periods {
			p := &l.periods[j]
			key := st.periods[first-len(l.periods)+j].key
			d, err := in.store.Take(ctx, key, &p.policy, inc)
			if err == nil && !d.Allowed && d.Windows[0].Remaining > 0 {
				_, err = in.store.Take(ctx, key, &p.policy, d.Windows[0].Remaining)
			}
			if err != nil {
				in.failed(c, "failed to increment usage", err)
				return
			}
		}
	}
}
