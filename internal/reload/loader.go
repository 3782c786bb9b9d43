package reload

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

// ErrBusy is returned by TryApply while another load is running (the admin
// API answers 429, as Kong does).
var ErrBusy = errors.New("currently loading previous configuration")

// Result describes the last load attempt, successful or not.
type Result struct {
	At       time.Time     `json:"at"`
	Trigger  string        `json:"trigger"`
	OK       bool          `json:"ok"`
	Hash     string        `json:"configuration_hash,omitempty"`
	Duration time.Duration `json:"-"`
	Millis   float64       `json:"duration_ms"`
	// Unchanged is true when the new source had the hash in force and
	// nothing was rebuilt.
	Unchanged bool          `json:"unchanged,omitempty"`
	Errors    config.Errors `json:"-"`
	Messages  []string      `json:"errors,omitempty"`
}

// Loader owns the snapshot swaps.
type Loader struct {
	holder  *snapshot.Holder
	deps    snapshot.Deps
	path    string
	opts    config.Options
	logger  *slog.Logger
	mu      sync.Mutex
	last    atomic.Pointer[Result]
	applied atomic.Uint64
}

// New makes a loader. path is the config file (empty when the config does
// not come from a file, as in the demo).
func New(holder *snapshot.Holder, deps snapshot.Deps, path string, opts config.Options, logger *slog.Logger) *Loader {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Loader{holder: holder, deps: deps, path: path, opts: opts, logger: logger}
}

// Path is the config file the loader reloads.
func (l *Loader) Path() string { return l.path }

// Last is the result of the last attempt (nil before the first).
func (l *Loader) Last() *Result { return l.last.Load() }

// Applied counts successful swaps.
func (l *Loader) Applied() uint64 { return l.applied.Load() }

// LoadFile reads the config file and applies it; a file whose content is
// the configuration in force is a no-op.
func (l *Loader) LoadFile(trigger string) (*snapshot.Snapshot, error) {
	if l.path == "" {
		return nil, errors.New("the configuration does not come from a file")
	}
	data, err := os.ReadFile(l.path)
	if err != nil {
		l.record(&Result{At: time.Now(), Trigger: trigger, Errors: config.Errors{{Path: l.path, Message: err.Error()}}})
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.apply(data, trigger, true)
}

// Apply validates, compiles and swaps in data, waiting for any load in
// progress.
func (l *Loader) Apply(data []byte, trigger string) (*snapshot.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.apply(data, trigger, false)
}

// TryApply is Apply that fails with ErrBusy instead of waiting.
func (l *Loader) TryApply(data []byte, trigger string) (*snapshot.Snapshot, error) {
	if !l.mu.TryLock() {
		return nil, ErrBusy
	}
	defer l.mu.Unlock()
	return l.apply(data, trigger, false)
}

// Check validates and compiles data without applying it.
func (l *Loader) Check(data []byte) (*snapshot.Snapshot, error) {
	m, err := config.Parse(data, l.opts)
	if err != nil {
		return nil, err
	}
	// Pools of its own, so a dry run never touches the live connections.
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	defer pools.Close()
	// Unchanged plugin instances are shared with the snapshot in force
	// rather than built again; the ones built for the check are closed.
	cur := l.holder.Load()
	snap, err := snapshot.Compile(m, snapshot.Deps{Registry: l.deps.Registry, Pools: pools, Env: l.deps.Env, Previous: cur})
	if err != nil {
		return nil, err
	}
	snapshot.Release(snap, cur)
	return snap, nil
}

// Close releases the plugin instances of the snapshot in force, at
// shutdown.
func (l *Loader) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	snapshot.Release(l.holder.Load(), nil)
}

func (l *Loader) apply(data []byte, trigger string, skipUnchanged bool) (*snapshot.Snapshot, error) {
	start := time.Now()
	res := &Result{At: start, Trigger: trigger}
	m, err := config.Parse(data, l.opts)
	if err != nil {
		return nil, l.reject(res, trigger, err)
	}
	if skipUnchanged {
		if cur := l.holder.Load(); cur != nil && cur.Hash == m.Hash {
			res.OK, res.Unchanged, res.Hash = true, true, m.Hash
			l.record(res)
			return cur, nil
		}
	}
	return l.install(m, res)
}

// Refresh compiles the configuration in force again, without reading or
// parsing it, and swaps it in: how the addresses of DNS names that changed
// reach the balancers. Unchanged plugin instances, pools, target states and
// health checkers are kept as on any reload. Without a configuration it
// does nothing.
func (l *Loader) Refresh(trigger string) (*snapshot.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.holder.Load()
	if cur == nil {
		return nil, nil
	}
	return l.install(cur.Model, &Result{At: time.Now(), Trigger: trigger})
}

// install compiles m and puts it in force, recording the outcome in res.
func (l *Loader) install(m *config.Model, res *Result) (*snapshot.Snapshot, error) {
	deps := l.deps
	deps.Previous = l.holder.Load()
	snap, err := snapshot.Compile(m, deps)
	if err != nil {
		// A compile that failed half way may have opened pools for targets
		// that will never be used: drop them again.
		if cur := l.holder.Load(); cur != nil {
			l.deps.Pools.Retain(cur.PoolKeys)
		}
		return nil, l.reject(res, res.Trigger, err)
	}
	res.Duration = time.Since(res.At)
	old := l.holder.Load()
	l.holder.Store(snap)
	snapshot.Reloaded(old, snap)
	snapshot.Release(old, snap)
	l.deps.Pools.Retain(snap.PoolKeys)
	if l.deps.States != nil {
		l.deps.States.Retain(snap.StateKeys)
	}
	if l.deps.Health != nil {
		l.deps.Health.Sync(checkedUpstreams(snap))
	}
	if l.deps.Resolver != nil {
		l.deps.Resolver.Retain(snapshot.DNSNames(snap.Model))
	}
	l.applied.Add(1)
	res.OK, res.Hash = true, snap.Hash
	l.record(res)
	l.logger.Info("configuration applied", "trigger", res.Trigger, "hash", snap.Hash,
		"config", snap.Summary, "duration_ms", res.Millis)
	return snap, nil
}

// reject records and logs a failed load; the configuration in force stays.
func (l *Loader) reject(res *Result, trigger string, err error) error {
	res.Duration = time.Since(res.At)
	var errs config.Errors
	if !errors.As(err, &errs) {
		errs = config.Errors{{Message: err.Error()}}
	}
	res.Errors = errs
	l.record(res)
	l.logger.Error("configuration rejected; the previous one stays in force",
		"trigger", trigger, "errors", len(errs), "first", errs[0].Error())
	return err
}

// checkedUpstreams lists every upstream of snap with the targets its
// services' balancers hold (the first service's: they all hold the same
// addresses and states), for the health checkers.
func checkedUpstreams(snap *snapshot.Snapshot) []upstream.CheckedUpstream {
	held := map[*config.UpstreamEntry][]*upstream.Target{}
	for i, se := range snap.Model.Services {
		if se.Upstream == nil || i >= len(snap.Services) || snap.Services[i].Balancer == nil {
			continue
		}
		if _, ok := held[se.Upstream]; !ok {
			held[se.Upstream] = snap.Services[i].Balancer.Targets()
		}
	}
	out := make([]upstream.CheckedUpstream, len(snap.Model.Upstreams))
	for i, ue := range snap.Model.Upstreams {
		out[i] = upstream.CheckedUpstream{Upstream: ue.Upstream, Targets: held[ue]}
	}
	return out
}

func (l *Loader) record(r *Result) {
	r.Millis = float64(r.Duration.Microseconds()) / 1000
	for _, e := range r.Errors {
		r.Messages = append(r.Messages, e.Error())
	}
	l.last.Store(r)
}

// String summarises a result for logs.
func (r *Result) String() string {
	if r.OK {
		return fmt.Sprintf("%s: applied %s in %.1f ms", r.Trigger, r.Hash, r.Millis)
	}
	return fmt.Sprintf("%s: rejected (%d errors)", r.Trigger, len(r.Errors))
}
