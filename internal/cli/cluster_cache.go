package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/turnpikegw/turnpike/internal/configstore"
	"github.com/turnpikegw/turnpike/internal/reload"
)

// cacheHeader starts the cache file: a YAML comment, so the file is
// itself a configuration `turnpike run -c` takes.
const cacheHeader = "# turnpike config cache: version "

// defaultCachePath is the cache of one store (its addresses, database
// and prefix) under the user's cache directory, or /var/lib without one.
func defaultCachePath(ro configstore.RedisOptions) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = "/var/lib"
	}
	prefix := ro.Prefix
	if prefix == "" {
		prefix = configstore.DefaultPrefix
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d/%s", strings.Join(ro.Conn.Addrs, ","), ro.Conn.Database, prefix))
	return filepath.Join(dir, "turnpike", "cluster-"+prefix+"-"+hex.EncodeToString(sum[:4])+".yml")
}

// readCache reads the cached version and document, within the size
// bound (maxSize of document, 0: none).
func readCache(path string, maxSize int64) (uint64, []byte, error) {
	if path == "off" {
		return 0, nil, os.ErrNotExist
	}
	limit := maxSize
	if limit > 0 {
		limit += int64(len(cacheHeader)) + 21
	}
	raw, err := reload.ReadFile(path, limit)
	if err != nil {
		return 0, nil, err
	}
	line, data, ok := bytes.Cut(raw, []byte("\n"))
	if !ok || !bytes.HasPrefix(line, []byte(cacheHeader)) {
		return 0, nil, fmt.Errorf("%s: not a configuration cache", path)
	}
	v, err := strconv.ParseUint(string(line[len(cacheHeader):]), 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: not a configuration cache", path)
	}
	if maxSize > 0 && int64(len(data)) > maxSize {
		return 0, nil, fmt.Errorf("%s is larger than the limit of %d bytes (--config-max-size)", path, maxSize)
	}
	return v, data, nil
}

// noteCache records the version the cache file holds when it holds the
// start-up configuration already, so the start does not rewrite it.
func (n *clusterNode) noteCache() {
	if n.startFrom == "cache" {
		n.cached, n.hasCache = n.start.Version, true
		return
	}
	if n.startFrom != "store" {
		return
	}
	if v, data, err := readCache(n.cachePath, int64(max(len(n.startData), 1))); err == nil && v == n.start.Version && bytes.Equal(data, n.startData) {
		n.cached, n.hasCache = v, true
	}
}

// flushCache caches the version in force unless the cache holds it or a
// later one: the cache writes run outside n.mu, and of two racing the
// older finds the newer written and writes nothing.
func (n *clusterNode) flushCache() {
	n.cacheMu.Lock()
	defer n.cacheMu.Unlock()
	cur := n.inForce.Load()
	if cur.data == nil || n.hasCache && cur.version <= n.cached {
		return
	}
	if n.writeCache(cur.version, cur.data) {
		n.cached, n.hasCache = cur.version, true
	}
}

// writeCache replaces the cache with version v, atomically: a crash
// leaves the old file or the new one, never a part. It reports whether
// it wrote.
func (n *clusterNode) writeCache(v uint64, data []byte) bool {
	if n.cachePath == "off" {
		return false
	}
	err := os.MkdirAll(filepath.Dir(n.cachePath), 0o700)
	if err == nil {
		// 0600: the configuration holds credentials.
		err = configstore.WriteFileAtomic(n.cachePath, fmt.Appendf(nil, "%s%d\n%s", cacheHeader, v, data), 0o600)
	}
	if err != nil {
		n.logger.Warn("config store: cannot cache the configuration; a restart while Redis is down will not serve it", "path", n.cachePath, "error", err.Error())
		return false
	}
	return true
}
