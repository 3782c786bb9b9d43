package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/turnpikegw/turnpike/internal/configstore"
	"github.com/turnpikegw/turnpike/internal/reload"
	"github.com/turnpikegw/turnpike/internal/store"
)

func TestClusterCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "cache.yml")
	n := &clusterNode{cachePath: path, logger: slog.New(slog.DiscardHandler)}
	doc := "_format_version: \"3.0\"\nservices: []\n"
	if !n.writeCache(7, []byte(doc)) {
		t.Fatal("not written")
	}
	v, data, err := readCache(path, int64(len(doc)))
	if err != nil || v != 7 || string(data) != doc {
		t.Fatalf("read back: %d %q %v", v, data, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the cache holds secrets and must be private: %v %v", fi.Mode(), err)
	}
	n.writeCache(8, []byte(doc+"# more\n"))
	if v, _, _ = readCache(path, 0); v != 8 {
		t.Fatalf("rewritten: version %d", v)
	}
	if _, _, err := readCache(path, int64(len(doc))); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Fatalf("over the bound: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	os.WriteFile(path, []byte(doc), 0o600)
	if _, _, err := readCache(path, 0); err == nil {
		t.Fatal("a file without the header read as a cache")
	}
	if _, _, err := readCache("off", 0); !os.IsNotExist(err) {
		t.Fatalf("off: %v", err)
	}
}

// The start does not rewrite a cache that holds the store's version
// already; the cache writes, made outside the node's lock, never put an
// older version over a newer one.
func TestClusterCacheWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.yml")
	doc := []byte("_format_version: \"3.0\"\n")
	newNode := func(v uint64, data []byte) *clusterNode {
		n := &clusterNode{cachePath: path, logger: slog.New(slog.DiscardHandler), startFrom: "store", start: reload.Origin{Version: v}, startData: data}
		n.inForce.Store(&stored{v, data})
		return n
	}
	if !newNode(7, doc).writeCache(7, doc) {
		t.Fatal("not written")
	}
	before, _ := os.Stat(path)
	n := newNode(7, doc)
	n.noteCache()
	n.flushCache()
	if after, _ := os.Stat(path); !os.SameFile(before, after) {
		t.Fatal("the start rewrote a cache holding the store's version")
	}
	other := append([]byte("# other\n"), doc...)
	n = newNode(7, other)
	n.noteCache()
	n.flushCache()
	if v, data, _ := readCache(path, 0); v != 7 || string(data) != string(other) {
		t.Fatalf("a cache of another document was kept: %d %q", v, data)
	}
	n.inForce.Store(&stored{9, doc})
	n.flushCache()
	n.inForce.Store(&stored{8, other})
	n.flushCache()
	if v, _, _ := readCache(path, 0); v != 9 {
		t.Fatalf("the cache holds version %d after 9 was cached", v)
	}
}

func TestDefaultCachePath(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/tmp/xdg")
	a := defaultCachePath(configstore.RedisOptions{Conn: store.RedisOptions{Addrs: []string{"r1:6379"}}})
	b := defaultCachePath(configstore.RedisOptions{Conn: store.RedisOptions{Addrs: []string{"r2:6379"}}})
	if !strings.HasPrefix(a, "/tmp/xdg/turnpike/cluster-turnpike-") || a == b {
		t.Fatalf("%s %s", a, b)
	}
}

// When the store's version does not apply at start, the fallback (the
// cached version, or none) is the start's origin: the store's writer
// goes with its version.
func TestClusterStartFailedForgetsWriter(t *testing.T) {
	dir := t.TempDir()
	for _, cached := range []bool{true, false} {
		n := &clusterNode{cachePath: filepath.Join(dir, fmt.Sprint(cached)), logger: slog.New(slog.DiscardHandler),
			start: reload.Origin{Version: 7, Author: "alice"}, startData: []byte("bad"), startFrom: "store"}
		want := reload.Origin{}
		if cached {
			n.writeCache(5, []byte(storeDoc))
			want = reload.Origin{Version: 5}
		}
		loader, _ := newTestLoader(t, filepath.Join(dir, "kong.yml"))
		if _, err := n.startFailed(loader, errors.New("refused")); err != nil {
			t.Fatal(err)
		}
		if got := n.startOrigin(); got != want {
			t.Errorf("cached %v: start origin %+v, want %+v", cached, got, want)
		}
	}
}

func TestClusterFlagsNeedARedisStore(t *testing.T) {
	o := &runOptions{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	o.addFlags(fs, defaultProxyListen)
	o.addStoreFlags(fs)
	o.cluster.addFlags(fs)
	if err := fs.Parse([]string{"--config-cache", "/tmp/x"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.startSource(fs); err == nil || !strings.Contains(err.Error(), "--config-cache: only with --config-store redis://") {
		t.Fatalf("%v", err)
	}
	// Refused before anything starts (they were refused only once the
	// proxy's ports were bound).
	for store, want := range map[string]string{
		"etcd://x": `--config-store "etcd://x": unknown store`,
		"file":     "--config-store file: needs the -c file",
	} {
		o.configStore = store
		if _, _, err := o.startSource(pflag.NewFlagSet("run", pflag.ContinueOnError)); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("--config-store %s: %v", store, err)
		}
	}
	o.configStore = "redis://127.0.0.1:1/0?prefix={bad}"
	if _, _, err := o.startSource(fs); err == nil || !strings.HasPrefix(err.Error(), "--config-store: prefix=") {
		t.Fatalf("%v", err)
	}
}

// TestDemoHasNoStoreFlags: demo runs its embedded configuration, which no
// store holds; its flags do not offer one (they were taken and ignored).
func TestDemoHasNoStoreFlags(t *testing.T) {
	cmd := newDemoCmd()
	for _, name := range []string{"config-store", "config-cache", "config-store-poll", "cluster-heartbeat"} {
		if cmd.Flags().Lookup(name) != nil {
			t.Errorf("demo has --%s", name)
		}
	}
}

// TestClusterSeedChecked: an invalid -c seed is refused at start, before
// it could be stored as the first version of an empty store (every node
// would then fail it, and the store hold it for good).
func TestClusterSeedChecked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed.yml")
	if err := os.WriteFile(path, []byte("_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:1\n  routes:\n  - paths: [nope]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &runOptions{configPath: path, configStore: "redis://127.0.0.1:1/0"}
	o.cluster.heartbeat, o.cluster.poll = time.Second, time.Second
	_, _, err := o.startSource(pflag.NewFlagSet("run", pflag.ContinueOnError))
	if err == nil || !strings.Contains(err.Error(), "invalid configuration") || !strings.Contains(err.Error(), "paths") {
		t.Fatalf("an invalid seed: %v", err)
	}
	if o.cluster.node != nil {
		t.Fatal("a node was opened for an invalid seed")
	}
}
