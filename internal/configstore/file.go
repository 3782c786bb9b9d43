package configstore

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"sync"

	"github.com/turnpikegw/turnpike/internal/reload"
)

// File keeps the config in the -c file (--config-store file): a Put
// rewrites it atomically (a temporary file in the same directory, synced,
// then renamed over it, with the file's mode), so a reader or a crash
// sees the old document or the new one, never half of either. Comments
// and layout are lost: the file is rewritten in Kong's flat form.
//
// The version is a counter kept in memory beside the hash of the file
// last read or written: Load counts a file changed by hand as a new
// version, and Put refuses (ErrConflict) when the file on disk is no
// longer the version the change was made from, so an edit made by hand
// between a write's read and its store is not overwritten.
type File struct {
	path    string
	maxSize int64
	mu      sync.Mutex
	version uint64
	sum     [sha256.Size]byte
}

// NewFile opens the store on path, reading it once (maxSize bounds the
// read as --config-max-size does; 0: no bound).
func NewFile(path string, maxSize int64) (*File, error) {
	f := &File{path: path, maxSize: maxSize}
	if _, err := f.Load(context.Background()); err != nil {
		return nil, err
	}
	return f, nil
}

// Load reads the file; a content other than the one last seen is a new
// version.
func (f *File) Load(context.Context) (Doc, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, err := f.read()
	if err != nil {
		return Doc{}, err
	}
	if sum := sha256.Sum256(data); sum != f.sum || f.version == 0 {
		f.sum = sum
		f.version++
	}
	return Doc{Data: data, Version: f.version}, nil
}

func (f *File) read() ([]byte, error) { return reload.ReadFile(f.path, f.maxSize) }

// Put rewrites the file with data if it still holds version prev.
func (f *File) Put(_ context.Context, data []byte, prev uint64, _ string) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, err := f.read()
	if err != nil {
		return 0, err
	}
	if prev != f.version || sha256.Sum256(cur) != f.sum {
		return 0, ErrConflict
	}
	// The file keeps its mode.
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(f.path); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := WriteFileAtomic(f.path, data, mode); err != nil {
		return 0, err
	}
	f.sum = sha256.Sum256(data)
	f.version++
	return f.version, nil
}

// WriteFileAtomic replaces path with data, of the given mode, through a
// synced temporary file in its directory renamed over it: a crash leaves
// the old file or the new one, never a part. A symlinked path (a
// Kubernetes ConfigMap) has its target replaced, not the link.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		// The rename is durable once the directory is.
		d.Sync()
		d.Close()
	}
	return nil
}

// Watch returns when ctx ends: the gateway's file watcher (reload.Watch)
// already applies the file when it changes, whoever changed it, and
// finds a Put's own rewrite to be the configuration in force (the same
// hash), which it does not apply twice. A second watcher would only
// apply the same file twice.
func (f *File) Watch(ctx context.Context, _ func(Doc)) error {
	<-ctx.Done()
	return nil
}

// Close has nothing to release.
func (f *File) Close() error { return nil }
