package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/turnpikegw/turnpike/internal/admin"
	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/configstore"
	"github.com/turnpikegw/turnpike/internal/reload"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// clusterOptions are the flags of a node whose config is in Redis.
type clusterOptions struct {
	cache     string
	poll      time.Duration
	heartbeat time.Duration
	// node is set when --config-store is Redis, by openCluster.
	node *clusterNode
}

// clusterCallTimeout bounds a start-up read of the store and an admin
// write's compare-and-set (each Redis call is bounded by the URL's
// timeout too).
const clusterCallTimeout = 5 * time.Second

func (c *clusterOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.cache, "config-cache", "", "with --config-store redis://: file the configuration in force is cached in after every apply, served at start while Redis is down (default: turnpike/cluster-PREFIX-ID.yml under $XDG_CACHE_HOME or ~/.cache, else /var/lib; off: none)")
	fs.DurationVar(&c.poll, "config-store-poll", configstore.DefaultPoll, "with --config-store redis://: read the stored version this often besides listening for change messages, so a lost message delays a change by at most this")
	fs.DurationVar(&c.heartbeat, "cluster-heartbeat", time.Second, "with --config-store redis://: write this node's record (GET /clustering/status) this often; it expires after three times this")
}

// isRedisStore tells --config-store's Redis form from its others.
func isRedisStore(s string) bool {
	return strings.HasPrefix(s, "redis://") || strings.HasPrefix(s, "rediss://")
}

// startSource is the start-up configuration and the file reloads re-read
// (none in controller mode, or when the file is only the seed of a
// --config-store).
func (o *runOptions) startSource(fs *pflag.FlagSet) ([]byte, string, error) {
	if !isRedisStore(o.configStore) {
		for _, name := range []string{"config-cache", "config-store-poll", "cluster-heartbeat"} {
			if fs.Changed(name) {
				return nil, "", fmt.Errorf("--%s: only with --config-store redis://...", name)
			}
		}
	}
	switch {
	case o.configStore != "" && o.configStore != "file" && !isRedisStore(o.configStore):
		return nil, "", fmt.Errorf("--config-store %q: unknown store (file or redis://...)", o.configStore)
	case o.configStore == "file" && (o.configPath == "" || o.kube.enabled):
		return nil, "", errors.New("--config-store file: needs the -c file, and is not for --kubernetes")
	case isRedisStore(o.configStore):
		expand, _ := fs.GetBool("expand-env")
		data, err := o.openCluster(config.Options{ExpandEnv: expand})
		return data, "", err
	case o.kube.enabled:
		return []byte(emptyConfig), "", nil
	case o.configPath == "":
		return nil, "", errors.New("a config file is required: turnpike run -c kong.yml (or --kubernetes, or --config-store redis://...)")
	}
	data, err := reload.ReadFile(o.configPath, o.loadLimits.MaxSize)
	if err != nil {
		return nil, "", exitError{code: 1, msg: err.Error()}
	}
	return data, o.configPath, nil
}

// clusterNode keeps a node's configuration the cluster's: it applies
// every stored version through the reload path, stores the admin API's
// changes with a compare-and-set, caches what it applied on disk, and
// writes its record for the other nodes to see.
type clusterNode struct {
	st        *configstore.Redis
	cachePath string
	heartbeat time.Duration
	seed      []byte
	self      configstore.Node // the fixed fields

	// The start-up configuration: its version and writer (one value, so
	// a fallback replaces both), where it came from, and why the store's
	// was not used.
	start     reload.Origin
	startData []byte
	startFrom string
	startErr  error

	loader *reload.Loader
	holder *snapshot.Holder
	logger *slog.Logger

	// mu serialises the applies and commits: versions go in force in
	// order, and a commit's compare-and-set is on the version in force.
	// inForce changes only with mu held, and is read without it (the
	// status and the heartbeat never wait for a load).
	mu      sync.Mutex
	inForce atomic.Pointer[stored]
	state   atomic.Pointer[configstore.Node]
	ready   atomic.Bool
	storeUp atomic.Bool

	// cacheMu orders the cache writes, made after mu is released (an
	// admin commit does not wait on the disk); cached is the version the
	// cache file holds (hasCache: it holds one).
	cacheMu  sync.Mutex
	cached   uint64
	hasCache bool

	stop context.CancelFunc
	done sync.WaitGroup
}

// stored is a version of the store and its document (nil for an empty
// store's empty configuration).
type stored struct {
	version uint64
	data    []byte
}

// openCluster connects to --config-store's Redis and picks the start-up
// configuration: the stored one; with an empty store the -c seed, stored
// as its first version; with Redis unreachable the cached one, or an
// empty one (not ready) until Redis answers.
func (o *runOptions) openCluster(opts config.Options) ([]byte, error) {
	if o.kube.enabled {
		return nil, errors.New("--config-store and --kubernetes: the config comes from the cluster in controller mode")
	}
	ro, err := configstore.ParseRedisURL(o.configStore)
	if err != nil {
		return nil, fmt.Errorf("--config-store: %v", err)
	}
	if o.cluster.heartbeat <= 0 || o.cluster.poll <= 0 {
		return nil, errors.New("--cluster-heartbeat and --config-store-poll: must be positive")
	}
	ro.MaxSize, ro.Poll = o.loadLimits.MaxSize, o.cluster.poll
	n := &clusterNode{heartbeat: o.cluster.heartbeat, cachePath: o.cluster.cache}
	if n.cachePath == "" {
		n.cachePath = defaultCachePath(ro)
	}
	if o.configPath != "" {
		if n.seed, err = reload.ReadFile(o.configPath, o.loadLimits.MaxSize); err != nil {
			return nil, exitError{code: 1, msg: err.Error()}
		}
		// Checked before it can be stored: an invalid seed in an empty
		// store would be every node's version, which none applies.
		if _, err := check(o.configPath, o.loadLimits, opts, func() ([]byte, error) { return n.seed, nil }); err != nil {
			return nil, configError(o.configPath, err)
		}
	}
	if n.st, err = configstore.NewRedis(ro); err != nil {
		return nil, fmt.Errorf("--config-store: %v", err)
	}
	o.cluster.node = n
	ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
	defer cancel()
	doc, err := n.st.Load(ctx)
	if err == nil && doc.Version == 0 && n.seed != nil {
		if _, err = n.st.Put(ctx, n.seed, 0, "seed"); err == nil || errors.Is(err, configstore.ErrConflict) {
			doc, err = n.st.Load(ctx)
		}
	}
	switch {
	case err == nil && doc.Version > 0:
		n.start, n.startData, n.startFrom = reload.Origin{Version: doc.Version, Author: doc.Who}, doc.Data, "store"
		return doc.Data, nil
	case err == nil:
		n.startFrom = "empty store"
		return []byte(emptyConfig), nil
	}
	n.startErr = err
	if v, data, cerr := readCache(n.cachePath, o.loadLimits.MaxSize); cerr == nil {
		n.start, n.startData, n.startFrom = reload.Origin{Version: v}, data, "cache"
		return data, nil
	} else if !errors.Is(cerr, os.ErrNotExist) {
		n.startErr = fmt.Errorf("%v; the cache: %v", err, cerr)
	}
	n.startFrom = "none"
	return []byte(emptyConfig), nil
}

// startOrigin is the store's version the start-up configuration is, and
// its writer (none without a cluster node, or from an empty store).
func (n *clusterNode) startOrigin() reload.Origin {
	if n == nil {
		return reload.Origin{}
	}
	return n.start
}

// startFailed is the fallback when the start-up configuration does not
// apply on this node: the store's version is reported failed, and the
// cached one (or an empty one, not ready) serves instead.
func (n *clusterNode) startFailed(l *reload.Loader, err error) (*snapshot.Snapshot, error) {
	failed := n.start.Version
	n.setState(configstore.Node{FailedVersion: failed, FailedError: err.Error(), Health: configstore.HealthFailed})
	from := n.startFrom
	n.start, n.startData, n.startFrom = reload.Origin{}, nil, "none"
	if from == "store" {
		if v, data, cerr := readCache(n.cachePath, l.MaxSize()); cerr == nil && v != failed {
			if snap, cerr := l.ApplyStored(data, "cache", reload.Origin{Version: v}); cerr == nil {
				n.start, n.startData, n.startFrom = reload.Origin{Version: v}, data, "cache"
				return snap, nil
			}
		}
	}
	return l.Apply([]byte(emptyConfig), "startup")
}

// startCluster puts the node to work on the running gateway: the admin
// API's changes go through it, readiness waits for a configuration, and
// the store is followed from now on.
func (g *gateway) startCluster(src *admin.Source) {
	n := g.cluster
	n.loader, n.holder, n.logger = g.loader, g.holder, g.logger
	host, _ := os.Hostname()
	n.self = configstore.Node{ID: src.NodeID, Hostname: host, Binary: src.Version}
	n.inForce.Store(&stored{n.start.Version, n.startData})
	health := configstore.HealthOK
	switch n.startFrom {
	case "cache":
		health = configstore.HealthCached
	case "none":
		health = ""
	}
	if st := n.state.Load(); st == nil || st.Health != configstore.HealthFailed {
		n.setState(configstore.Node{Health: health})
	}
	n.ready.Store(n.startFrom != "none")
	n.storeUp.Store(n.startErr == nil)
	if n.startErr != nil {
		g.logger.Warn("config store: unreachable at start", "serving", n.startFrom, "version", n.start.Version, "error", n.startErr.Error())
	} else {
		g.logger.Info("config store: following", "from", n.startFrom, "version", n.start.Version)
	}
	n.noteCache()
	n.flushCache()
	pending := src.Pending
	src.Pending = func() string {
		if !n.ready.Load() {
			return "waiting for the configuration from the config store"
		}
		return pendingOf(pending)
	}
	src.Commit = n.commit
	src.Cluster = n
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	n.done.Go(func() { n.st.Watch(ctx, n.follow) })
	n.done.Go(func() { n.tend(ctx) })
}

func pendingOf(f func() string) string {
	if f == nil {
		return ""
	}
	return f()
}

// commit is admin.Source.Commit: validate and compile, store with a
// compare-and-set on the version in force, apply here; the other nodes
// follow through the store.
func (n *clusterNode) commit(data []byte, base, who string) (*snapshot.Snapshot, error) {
	if err := checkBehindLoad(n.loader, data); err != nil {
		return nil, err
	}
	snap, err := n.putAndApply(data, base, who)
	if err == nil {
		n.flushCache()
	}
	return snap, err
}

// putAndApply stores data on the version in force and applies it, with
// n.mu held. A change made from another configuration than the one in
// force (base; "": none) is a conflict: another node's version applied
// here since the change read its own would be overwritten by it, the
// compare-and-set being on the version in force.
func (n *clusterNode) putAndApply(data []byte, base, who string) (*snapshot.Snapshot, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if staleBase(n.holder.Load(), base) {
		return nil, configstore.ErrConflict
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
	defer cancel()
	// A version this node could not apply is the one to replace: the
	// store holds it, and a change made here fixes it.
	prev := n.inForce.Load().version
	if st := n.state.Load(); st != nil && st.FailedVersion > prev {
		prev = st.FailedVersion
	}
	v, err := n.st.Put(ctx, data, prev, who)
	if err != nil {
		return nil, err
	}
	return n.applyLocked(v, data, "admin", who)
}

// commitBusyWait is how long a commit waits for a load in progress (most
// often another node's version being applied here, or, with a file store,
// the watcher applying the file a commit wrote) before answering ErrBusy
// (429).
const commitBusyWait = 2 * time.Second

// checkBehindLoad validates and compiles data, waiting its turn behind a
// load in progress for up to commitBusyWait.
func checkBehindLoad(loader *reload.Loader, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), commitBusyWait)
	defer cancel()
	_, err := loader.CheckContext(ctx, func() ([]byte, error) { return data, nil })
	return err
}

// staleBase reports a change made from another configuration than cur,
// the one in force (base "": a whole document, made from none).
func staleBase(cur *snapshot.Snapshot, base string) bool {
	return base != "" && (cur == nil || cur.Hash != base)
}

// follow applies a version the store announced.
func (n *clusterNode) follow(doc configstore.Doc) {
	n.mu.Lock()
	_, err := n.applyLocked(doc.Version, doc.Data, "cluster", doc.Who)
	n.mu.Unlock()
	if err != nil {
		n.logger.Error("config store: a stored version does not apply on this node; the one in force stays",
			"version", doc.Version, "in_force", n.inForce.Load().version, "error", err.Error())
		return
	}
	n.flushCache()
}

// applyLocked puts version v, stored by who, in force (n.mu held), unless
// it already is or a later one is; the caller caches it (flushCache) once
// n.mu is released.
func (n *clusterNode) applyLocked(v uint64, data []byte, trigger, who string) (*snapshot.Snapshot, error) {
	if cur := n.inForce.Load().version; v <= cur && n.ready.Load() {
		if st := n.state.Load(); v == cur && st != nil && st.Health == configstore.HealthCached {
			n.setState(configstore.Node{Health: configstore.HealthOK})
		}
		return n.holder.Load(), nil
	}
	snap, err := n.loader.ApplyStored(data, trigger, reload.Origin{Version: v, Author: who})
	if err != nil {
		n.setState(configstore.Node{FailedVersion: v, FailedError: err.Error(), Health: configstore.HealthFailed})
		return nil, err
	}
	n.inForce.Store(&stored{v, data})
	n.ready.Store(true)
	n.setState(configstore.Node{Health: configstore.HealthOK})
	return snap, nil
}

// setState records the node's health; the version in force and its hash
// are filled in from the node.
func (n *clusterNode) setState(s configstore.Node) { n.state.Store(&s) }

// Self is admin.Cluster's: this node's record as of now.
func (n *clusterNode) Self() configstore.Node {
	s := n.self
	if st := n.state.Load(); st != nil {
		s.FailedVersion, s.FailedError, s.Health = st.FailedVersion, st.FailedError, st.Health
	}
	s.ConfigVersion = n.inForce.Load().version
	if cur := n.holder.Load(); cur != nil {
		s.ConfigHash = cur.Hash
	}
	if !n.ready.Load() {
		s.Health = configstore.HealthWaiting
	}
	s.LastSeen = time.Now()
	return s
}

// Nodes is admin.Cluster's: the records in the store.
func (n *clusterNode) Nodes(ctx context.Context) ([]configstore.Node, error) { return n.st.Nodes(ctx) }

// Stored is admin.Cluster's: who stored the store's version, and when.
func (n *clusterNode) Stored(ctx context.Context) (configstore.Meta, error) { return n.st.Meta(ctx) }

// tend writes the node's record every heartbeat, and puts the
// configuration back into a store that lost it.
func (n *clusterNode) tend(ctx context.Context) {
	t := time.NewTicker(n.heartbeat)
	defer t.Stop()
	for {
		n.beat(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *clusterNode) beat(ctx context.Context) {
	v, err := n.st.Heartbeat(ctx, n.Self(), 3*n.heartbeat)
	if err != nil {
		if n.storeUp.Swap(false) {
			n.logger.Warn("config store: unreachable; serving the configuration in force", "error", err.Error())
		}
		return
	}
	if !n.storeUp.Swap(true) {
		n.logger.Info("config store: reachable again", "version", v)
	}
	cur, ready := n.inForce.Load(), n.ready.Load()
	applied, data := cur.version, cur.data
	switch {
	case v < applied && data != nil:
		// Redis restarted empty, or failed over to a replica behind.
		if ok, err := n.st.Restore(ctx, data, applied, n.self.ID); err == nil && ok {
			n.logger.Warn("config store: it had lost the configuration; restored this node's", "version", applied, "found", v)
		}
	case v == 0 && applied == 0 && n.seed != nil:
		if _, err := n.st.Put(ctx, n.seed, 0, "seed"); err == nil {
			n.logger.Info("config store: empty; stored the -c seed")
		}
	case v == 0 && !ready:
		// The store has nothing and this node nothing to seed it with:
		// the empty configuration in force is the cluster's.
		n.ready.Store(true)
		n.setState(configstore.Node{Health: configstore.HealthOK})
	}
}

// close stops following the store and closes it.
func (n *clusterNode) close() {
	if n.stop != nil {
		n.stop()
	}
	n.st.Close()
	n.done.Wait()
}
