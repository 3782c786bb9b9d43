package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/configstore"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/reload"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

const storeDoc = "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:9/\n"

// newStoreCommit is storeCommit over a file store on path, the file
// applied as a start would.
func newStoreCommit(t *testing.T, path string) (func([]byte, string, string) (*snapshot.Snapshot, error), *snapshot.Holder) {
	t.Helper()
	st, loader, holder := startFileStore(t, path)
	return storeCommit(st, loader, holder), holder
}

// startFileStore writes storeDoc to path, applies it as a start would and
// opens a file store on it.
func startFileStore(t *testing.T, path string) (configstore.Store, *reload.Loader, *snapshot.Holder) {
	t.Helper()
	if err := os.WriteFile(path, []byte(storeDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	loader, holder := newTestLoader(t, path)
	if _, err := loader.LoadFile("startup"); err != nil {
		t.Fatal(err)
	}
	st, err := configstore.NewFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	return st, loader, holder
}

// newTestLoader is a loader of the file at path, nothing loaded yet.
func newTestLoader(t *testing.T, path string) (*reload.Loader, *snapshot.Holder) {
	t.Helper()
	reg, err := plugin.NewRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	t.Cleanup(pools.Close)
	holder := &snapshot.Holder{}
	return reload.New(holder, snapshot.Deps{Registry: reg, Upstreams: upstream.NewRuntime(upstream.RuntimeParts{Pools: pools})}, path, config.Options{}, nil), holder
}

// A store that cannot be read or written is unavailable (the admin API's
// 503), not a document with errors (its 400); nothing is applied.
func TestStoreCommitUnavailable(t *testing.T) {
	next := []byte(strings.Replace(storeDoc, "name: s", "name: s2", 1))

	path := filepath.Join(t.TempDir(), "kong.yml")
	commit, holder := newStoreCommit(t, path)
	before := holder.Load().Hash
	os.Remove(path)
	if _, err := commit(next, "", "test"); !errors.Is(err, configstore.ErrUnavailable) {
		t.Errorf("file gone: %v", err)
	}
	if holder.Load().Hash != before {
		t.Error("a failed store applied the document")
	}

	// A name the temporary file of an atomic rewrite cannot have
	// (NAME_MAX): the file reads, the rewrite fails.
	path = filepath.Join(t.TempDir(), strings.Repeat("k", 250))
	commit, holder = newStoreCommit(t, path)
	before = holder.Load().Hash
	if _, err := commit(next, "", "test"); !errors.Is(err, configstore.ErrUnavailable) {
		t.Errorf("rewrite failed: %v", err)
	}
	if holder.Load().Hash != before {
		t.Error("a failed store applied the document")
	}
	if _, err := commit([]byte("_format_version: \"3.0\"\nservices: [{name: x}]\n"), "", "test"); err == nil || errors.Is(err, configstore.ErrUnavailable) {
		t.Errorf("an invalid document: %v", err)
	}
}

// A change made from a configuration that is no longer the one in force
// (another write applied since it read its own) is a conflict, not a
// write over that one; made from the one in force, it is stored.
func TestStoreCommitStaleBase(t *testing.T) {
	next := []byte(strings.Replace(storeDoc, "name: s", "name: s2", 1))
	path := filepath.Join(t.TempDir(), "kong.yml")
	commit, holder := newStoreCommit(t, path)
	before := holder.Load().Hash
	if _, err := commit(next, "a version applied before", "test"); !errors.Is(err, configstore.ErrConflict) {
		t.Errorf("a stale base: %v", err)
	}
	if holder.Load().Hash != before {
		t.Error("a stale change was applied")
	}
	if _, err := commit(next, before, "test"); err != nil {
		t.Errorf("the base in force: %v", err)
	}
}

// A commit that finds a load in progress (the watcher applying the file
// the commit before it wrote, say) waits for it rather than answering
// busy: decK's sync of one write after another must not get a 429.
func TestStoreCommitWaitsBehindALoad(t *testing.T) {
	st, loader, holder := startFileStore(t, filepath.Join(t.TempDir(), "kong.yml"))
	commit := storeCommit(st, loader, holder)

	held, release := make(chan struct{}), make(chan struct{})
	go loader.Check(func() ([]byte, error) {
		close(held)
		<-release
		return []byte(storeDoc), nil
	})
	<-held
	time.AfterFunc(50*time.Millisecond, func() { close(release) })
	next := []byte(strings.Replace(storeDoc, "name: s", "name: s2", 1))
	if _, err := commit(next, "", "test"); err != nil {
		t.Fatalf("a commit behind a load: %v", err)
	}
	if holder.Load().Hash != config.SourceHash(next) {
		t.Error("the commit was not applied")
	}
}
