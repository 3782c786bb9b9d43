package reload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/metrics"
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

// refreshWait is the longest TryApply waits for a DNS recompile to end
// (one takes about as long as compiling the configuration: milliseconds
// to a few hundred for 10,000 routes).
const refreshWait = 5 * time.Second

// Limits bound one load: parse, validate and compile.
type Limits struct {
	// MaxSize is the largest document, in bytes (0: no limit).
	MaxSize int64
	// Timeout abandons a load that runs longer (0: no limit).
	Timeout time.Duration
	// Memory abandons a load once the heap has grown by more than this
	// many bytes since it began (0: no limit). The heap is the process's,
	// so traffic counts too: leave room for it.
	Memory uint64
}

// DefaultLimits fit a configuration of tens of thousands of entities
// (10,000 routes are about 2 MiB and load in a quarter of a second) and
// stop a hostile or broken one long before it hurts the data plane.
var DefaultLimits = Limits{MaxSize: 16 << 20, Timeout: time.Minute, Memory: 2 << 30}

// bytesPerValue is the heap a counted value may cost while a document is
// parsed and decoded, with room to spare (about 300 bytes measured; see
// config.MaxNodes): the memory budget buys one value per bytesPerValue.
const bytesPerValue = 700

// MaxValues is the bound on a document's values that the memory budget
// m implies (config.Options.MaxValues): the parser cannot be interrupted,
// so its cost is bounded before it starts. At the default 2 GiB it is
// about 3 million (config.MaxNodes, the bound without a loader); without a
// budget, none.
func MaxValues(m uint64) int {
	if m == 0 {
		return -1
	}
	return int(max(m/bytesPerValue, 1))
}

// errStopped is why the loads still running at shutdown are abandoned.
var errStopped = errors.New("the gateway is shutting down")

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
	// Warnings are the applied configuration's (config.Model.Warnings),
	// at most maxWarnings of them.
	Warnings []string `json:"warnings,omitempty"`
	// Origin is set when the document came from a config store.
	Origin
}

// Loader owns the snapshot swaps.
type Loader struct {
	holder *snapshot.Holder
	deps   snapshot.Deps
	path   string
	opts   config.Options
	logger *slog.Logger
	limits Limits
	gate   gate
	// stopped is cancelled by Close: every load in progress or to come is
	// abandoned.
	stopped   context.Context
	stopLoads context.CancelCauseFunc
	// last is the last load attempt; inForce the load that put the
	// configuration in force. DNS recompiles change neither.
	last      atomic.Pointer[Result]
	inForce   atomic.Pointer[Result]
	applied   atomic.Uint64
	refreshes atomic.Uint64
	metrics   *loadMetrics // nil: not counted
	history   history
}

// New makes a loader. path is the config file (empty when the config does
// not come from a file, as in the demo).
func New(holder *snapshot.Holder, deps snapshot.Deps, path string, opts config.Options, logger *slog.Logger) *Loader {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	stopped, stop := context.WithCancelCause(context.Background())
	return &Loader{holder: holder, deps: deps, path: path, opts: opts, logger: logger, limits: DefaultLimits,
		stopped: stopped, stopLoads: stop}
}

// SetLimits replaces DefaultLimits; call it before the first load.
func (l *Loader) SetLimits(lim Limits) { l.limits = lim }

// parseOptions are the loader's parse options with the bound on values
// that its memory budget implies.
func (l *Loader) parseOptions() config.Options {
	opts := l.opts
	opts.MaxValues = MaxValues(l.limits.Memory)
	opts.Credentials = snapshot.CredentialKinds(l.deps.Registry)
	return opts
}

// MaxSize is the largest document a load accepts (0: no limit).
func (l *Loader) MaxSize() int64 { return l.limits.MaxSize }

// Path is the config file the loader reloads.
func (l *Loader) Path() string { return l.path }

// Last is the result of the last load attempt (nil before the first). A
// DNS recompile (Refresh) is not a load attempt and does not replace it.
func (l *Loader) Last() *Result { return l.last.Load() }

// InForce is the result of the load that put the configuration in force
// (nil before one did): its time stays through DNS recompiles, rejected
// loads and reloads of an unchanged file.
func (l *Loader) InForce() *Result { return l.inForce.Load() }

// Applied counts loads that swapped a configuration in, not DNS
// recompiles.
func (l *Loader) Applied() uint64 { return l.applied.Load() }

// Refreshes counts DNS recompiles swapped in.
func (l *Loader) Refreshes() uint64 { return l.refreshes.Load() }

// LoadFile reads the config file and applies it; a file whose content is
// the configuration in force is a no-op. The file is read once the load's
// turn has come: loads queued behind a long one (SIGHUPs in a row) must
// each apply the file as it is then, never a copy read earlier over a
// newer version the watcher applied meanwhile.
func (l *Loader) LoadFile(trigger string) (*snapshot.Snapshot, error) {
	if l.path == "" {
		return nil, errors.New("the configuration does not come from a file")
	}
	l.gate.lock(false)
	defer l.gate.unlock()
	data, err := l.readFile()
	if err != nil {
		l.record(&Result{At: time.Now(), Trigger: trigger, Errors: config.Errors{{Path: l.path, Message: err.Error()}}})
		return nil, err
	}
	return l.apply(data, &Result{Trigger: trigger}, true)
}

// readFile reads the config file, no further than one byte past MaxSize
// (enough for apply to refuse it).
func (l *Loader) readFile() ([]byte, error) {
	data, _, err := readLimited(l.path, l.limits.MaxSize)
	return data, err
}

// readLimited reads path no further than one byte past maxSize (0: no
// limit), and gives what the open file said of itself before the read.
func readLimited(path string, maxSize int64) ([]byte, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	var r io.Reader = f
	if maxSize > 0 {
		r = io.LimitReader(f, maxSize+1)
	}
	data, err := io.ReadAll(r)
	return data, fi, err
}

// ReadFile reads a config file given on the command line, refusing one
// larger than maxSize (0: no limit) without reading past it: `-c
// /dev/zero` or a huge file by mistake ends with an error, not with the
// memory exhausted.
func ReadFile(path string, maxSize int64) ([]byte, error) {
	data, _, err := readLimited(path, maxSize)
	if err != nil {
		return nil, err
	}
	if maxSize > 0 && int64(len(data)) > maxSize {
		return nil, fmt.Errorf("%s is larger than the limit of %d bytes (--config-max-size)", path, maxSize)
	}
	return data, nil
}

// Apply validates, compiles and swaps in data, waiting for any load in
// progress.
func (l *Loader) Apply(data []byte, trigger string) (*snapshot.Snapshot, error) {
	return l.ApplyStored(data, trigger, Origin{})
}

// ApplyStored is Apply for a version of a config store, which the
// result (and so the history) names.
func (l *Loader) ApplyStored(data []byte, trigger string, from Origin) (*snapshot.Snapshot, error) {
	l.gate.lock(false)
	defer l.gate.unlock()
	return l.apply(data, &Result{Trigger: trigger, Origin: from}, false)
}

// TryApply is Apply that fails with ErrBusy instead of waiting for another
// load. A DNS recompile is short and is waited for (up to refreshWait).
func (l *Loader) TryApply(data []byte, trigger string) (*snapshot.Snapshot, error) {
	if !l.gate.tryLock(refreshWait) {
		return nil, ErrBusy
	}
	defer l.gate.unlock()
	return l.apply(data, &Result{Trigger: trigger}, false)
}

// Check validates and compiles data without applying it. Like TryApply it
// fails with ErrBusy while a load or another check runs: every parse a
// client can start runs one at a time, under the load limits. build makes
// the document inside the gate (the admin API parses its input there);
// its error is returned as is.
func (l *Loader) Check(build func() ([]byte, error)) (*snapshot.Snapshot, error) {
	if !l.gate.tryLock(refreshWait) {
		return nil, ErrBusy
	}
	defer l.gate.unlock()
	return l.check(build)
}

// CheckContext is Check that waits its turn behind loads in progress
// until ctx ends (then ErrBusy), for callers that check on their own
// schedule (the Kubernetes controller, a cluster node's commit) rather
// than on a client's request.
func (l *Loader) CheckContext(ctx context.Context, build func() ([]byte, error)) (*snapshot.Snapshot, error) {
	if !l.gate.lockContext(ctx) {
		return nil, ErrBusy
	}
	defer l.gate.unlock()
	return l.check(build)
}

func (l *Loader) check(build func() ([]byte, error)) (*snapshot.Snapshot, error) {
	ctx, done := l.budget()
	defer done()
	data, err := build()
	if err != nil {
		return nil, err
	}
	if err := l.checkSize(data); err != nil {
		return nil, err
	}
	m, err := config.ParseContext(ctx, data, l.parseOptions())
	if err != nil {
		return nil, err
	}
	// Upstream state of its own, so a dry run never touches the live
	// connections, target states, health checks or DNS names. Its pools
	// are all it holds (no states, checkers or resolver), so closing them
	// gives up the lease: no Abort is needed.
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	defer pools.Close()
	ups := upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})
	// Unchanged plugin instances are shared with the snapshot in force
	// rather than built again; the ones built for the check are closed.
	cur := l.holder.Load()
	snap, err := snapshot.CompileContext(ctx, m, snapshot.Deps{Registry: l.deps.Registry, Upstreams: ups, Env: l.deps.Env, Previous: cur})
	if err != nil {
		return nil, err
	}
	snapshot.Release(snap, cur)
	return snap, nil
}

// Stop abandons the load in progress and any later one.
func (l *Loader) Stop() { l.stopLoads(errStopped) }

// Close abandons the load in progress and any later one, then releases
// the plugin instances of the snapshot in force, at shutdown.
func (l *Loader) Close() { l.CloseContext(context.Background()) }

// CloseContext is Close that waits for the abandoned load to end no longer
// than ctx allows: shutdown is never held up by a load.
func (l *Loader) CloseContext(ctx context.Context) {
	l.Stop()
	if !l.gate.lockContext(ctx) {
		return
	}
	defer l.gate.unlock()
	snapshot.Release(l.holder.Load(), nil)
}

// budget is the context of one load: done when a limit is exceeded or the
// loader closes.
func (l *Loader) budget() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(l.stopped)
	stopTimer := func() bool { return false }
	if d := l.limits.Timeout; d > 0 {
		t := time.AfterFunc(d, func() { cancel(fmt.Errorf("it took longer than %v", d)) })
		stopTimer = t.Stop
	}
	if l.limits.Memory > 0 {
		go watchHeap(ctx, cancel, l.limits.Memory)
	}
	return ctx, func() {
		stopTimer()
		cancel(nil)
	}
}

// heapSampleEvery is how often a load's heap growth is sampled; reading
// the metric is cheap and stops nothing.
const heapSampleEvery = 20 * time.Millisecond

// watchHeap cancels ctx once the heap has grown by more than limit bytes.
func watchHeap(ctx context.Context, cancel context.CancelCauseFunc, limit uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	tick := time.NewTicker(heapSampleEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > base && v-base > limit {
			cancel(fmt.Errorf("it grew the heap by more than %d MiB", limit>>20))
			return
		}
	}
}

// checkSize refuses a document larger than MaxSize.
func (l *Loader) checkSize(data []byte) error {
	if limit := l.limits.MaxSize; limit > 0 && int64(len(data)) > limit {
		return config.Errors{{Message: fmt.Sprintf("the configuration is larger than the limit of %d bytes", limit)}}
	}
	return nil
}

func (l *Loader) apply(data []byte, res *Result, skipUnchanged bool) (*snapshot.Snapshot, error) {
	res.At = time.Now()
	if err := l.checkSize(data); err != nil {
		return nil, l.reject(res, err)
	}
	if skipUnchanged {
		// The hash is of the bytes, so an unchanged file is known without
		// parsing it again (the environment it reads is the process's own,
		// the same as at the last load).
		if cur := l.holder.Load(); cur != nil && cur.Hash == config.SourceHash(data) {
			res.OK, res.Unchanged, res.Hash = true, true, cur.Hash
			l.record(res)
			return cur, nil
		}
	}
	ctx, done := l.budget()
	defer done()
	m, err := config.ParseContext(ctx, data, l.parseOptions())
	if err != nil {
		return nil, l.reject(res, err)
	}
	return l.install(ctx, m, res)
}

// Refresh compiles the configuration in force again, without reading or
// parsing it, and swaps it in: how the addresses of DNS names that changed
// reach the balancers. Unchanged plugin instances, pools, target states and
// health checkers are kept as on any reload. It is not a load: Last,
// InForce and Applied stay as they are; it is logged and counted in
// Refreshes. Without a configuration it does nothing.
func (l *Loader) Refresh(trigger string) (*snapshot.Snapshot, error) {
	l.gate.lock(true)
	defer l.gate.unlock()
	cur := l.holder.Load()
	if cur == nil {
		return nil, nil
	}
	start := time.Now()
	snap, err := l.swap(l.stopped, cur.Model)
	if err != nil {
		l.logger.Error("configuration recompile failed; the previous compilation stays in force",
			"trigger", trigger, "error", err.Error())
		return nil, err
	}
	l.refreshes.Add(1)
	l.logger.Info("configuration recompiled", "trigger", trigger, "hash", snap.Hash,
		"duration_ms", float64(time.Since(start).Microseconds())/1000)
	return snap, nil
}

// install compiles m and puts it in force, recording the outcome in res.
func (l *Loader) install(ctx context.Context, m *config.Model, res *Result) (*snapshot.Snapshot, error) {
	prev := l.holder.Load()
	snap, err := l.swap(ctx, m)
	if err != nil {
		return nil, l.reject(res, err)
	}
	res.Duration = time.Since(res.At)
	l.applied.Add(1)
	res.OK, res.Hash = true, snap.Hash
	l.noteWarnings(res, m)
	l.record(res)
	l.inForce.Store(res)
	l.logger.Info("configuration applied", "trigger", res.Trigger, "hash", snap.Hash,
		"config", snap.Summary, "duration_ms", res.Millis)
	l.warnLostPlugins(prev, m, res.Trigger)
	return snap, nil
}

// swap compiles m and puts it in force (the gate held). A failed compile
// has given up what it took; the snapshot swapped in commits its upstream
// state, which retires what the replaced one alone held.
func (l *Loader) swap(ctx context.Context, m *config.Model) (*snapshot.Snapshot, error) {
	cur := l.holder.Load()
	deps := l.deps
	deps.Previous = cur
	snap, err := snapshot.CompileContext(ctx, m, deps)
	if err != nil {
		return nil, err
	}
	l.holder.Store(snap)
	snapshot.Reloaded(cur, snap)
	snapshot.Release(cur, snap)
	l.deps.Upstreams.Commit(snap.Upstreams)
	return snap, nil
}

// reject records and logs a failed load; the configuration in force stays.
func (l *Loader) reject(res *Result, err error) error {
	res.Duration = time.Since(res.At)
	var errs config.Errors
	if !errors.As(err, &errs) {
		errs = config.Errors{{Message: err.Error()}}
	}
	res.Errors = errs
	l.record(res)
	l.logger.Error("configuration rejected; the previous one stays in force",
		"trigger", res.Trigger, "errors", errs.Total(), "first", errs[0].Error())
	return err
}

func (l *Loader) record(r *Result) {
	r.Millis = float64(r.Duration.Microseconds()) / 1000
	for _, e := range r.Errors {
		r.Messages = append(r.Messages, e.Error())
	}
	l.last.Store(r)
	l.history.add(r)
	l.metrics.loaded(r)
}

// gate serialises the loads and DNS recompiles. Unlike a mutex it knows
// whether its holder is a recompile, so TryApply can wait for one (they are
// short) and still refuse at once while a real load runs.
type gate struct {
	mu   sync.Mutex
	held bool
	// refresh: the holder is a DNS recompile.
	refresh bool
	// free is closed when the holder leaves.
	free chan struct{}
}

// enter takes the gate if it is free; else it returns what to wait on and
// whether the holder is a recompile.
func (g *gate) enter(refresh bool) (ok bool, free <-chan struct{}, byRefresh bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held {
		return false, g.free, g.refresh
	}
	g.held, g.refresh, g.free = true, refresh, make(chan struct{})
	return true, nil, false
}

// lock waits for the gate; refresh says the caller is a DNS recompile.
func (g *gate) lock(refresh bool) {
	for {
		ok, free, _ := g.enter(refresh)
		if ok {
			return
		}
		<-free
	}
}

// tryLock takes the gate for a load if it is free, or as soon as the DNS
// recompiles holding it are done, waiting at most wait; it fails at once
// while a load holds it.
func (g *gate) tryLock(wait time.Duration) bool {
	ok, free, byRefresh := g.enter(false)
	if ok || !byRefresh {
		return ok
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-free:
		case <-timer.C:
			return false
		}
		if ok, free, byRefresh = g.enter(false); ok || !byRefresh {
			return ok
		}
	}
}

// lockContext is lock for a load that gives up when ctx is done.
func (g *gate) lockContext(ctx context.Context) bool {
	for {
		ok, free, _ := g.enter(false)
		if ok {
			return true
		}
		select {
		case <-free:
		case <-ctx.Done():
			return false
		}
	}
}

func (g *gate) unlock() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held = false
	close(g.free)
}

// String summarises a result for logs.
func (r *Result) String() string {
	if r.OK {
		return fmt.Sprintf("%s: applied %s in %.1f ms", r.Trigger, r.Hash, r.Millis)
	}
	return fmt.Sprintf("%s: rejected (%d errors)", r.Trigger, r.Errors.Total())
}
