package cli

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/turnpikegw/turnpike/internal/configstore"
	"github.com/turnpikegw/turnpike/internal/store"
)

func TestClusterCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "cache.yml")
	n := &clusterNode{cachePath: path, logger: slog.New(slog.DiscardHandler)}
	doc := "_format_version: \"3.0\"\nservices: []\n"
	n.writeCache(7, []byte(doc))
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

func TestDefaultCachePath(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/tmp/xdg")
	a := defaultCachePath(configstore.RedisOptions{Conn: store.RedisOptions{Addrs: []string{"r1:6379"}}})
	b := defaultCachePath(configstore.RedisOptions{Conn: store.RedisOptions{Addrs: []string{"r2:6379"}}})
	if !strings.HasPrefix(a, "/tmp/xdg/turnpike/cluster-turnpike-") || a == b {
		t.Fatalf("%s %s", a, b)
	}
}

func TestClusterFlagsNeedARedisStore(t *testing.T) {
	o := &runOptions{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	o.addFlags(fs, defaultProxyListen)
	if err := fs.Parse([]string{"--config-cache", "/tmp/x"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.startSource(fs); err == nil || !strings.Contains(err.Error(), "--config-cache: only with --config-store redis://") {
		t.Fatalf("%v", err)
	}
	o.configStore = "redis://127.0.0.1:1/0?prefix={bad}"
	if _, _, err := o.startSource(fs); err == nil || !strings.HasPrefix(err.Error(), "--config-store: prefix=") {
		t.Fatalf("%v", err)
	}
}
