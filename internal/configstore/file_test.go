package configstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFileStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "kong.yml")
	if err := os.WriteFile(path, []byte("# hand-written\n_format_version: \"3.0\"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	st, err := NewFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := st.Load(ctx)
	if err != nil || doc.Version != 1 {
		t.Fatalf("load: %v %d", err, doc.Version)
	}
	v, err := st.Put(ctx, []byte("_format_version: \"3.0\"\nservices: []\n"), doc.Version, "admin")
	if err != nil || v != 2 {
		t.Fatalf("put: %v %d", err, v)
	}
	got, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(got) != "_format_version: \"3.0\"\nservices: []\n" || fi.Mode().Perm() != 0o640 {
		t.Errorf("file %q mode %v", got, fi.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// A stale version loses.
	if _, err := st.Put(ctx, []byte("x: 1\n"), 1, "admin"); !errors.Is(err, ErrConflict) {
		t.Errorf("stale put: %v", err)
	}
	// A hand edit after the write's read is a conflict, and the next Load
	// sees it as a new version.
	os.WriteFile(path, []byte("_format_version: \"3.0\"\n# by hand\n"), 0o640)
	if _, err := st.Put(ctx, []byte("y: 1\n"), 2, "admin"); !errors.Is(err, ErrConflict) {
		t.Errorf("put over a hand edit: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "_format_version: \"3.0\"\n# by hand\n" {
		t.Errorf("hand edit overwritten: %q", got)
	}
	doc, _ = st.Load(ctx)
	if doc.Version != 3 {
		t.Errorf("version after a hand edit: %d", doc.Version)
	}
	if _, err := st.Put(ctx, []byte("z: 1\n"), doc.Version, "admin"); err != nil {
		t.Errorf("put after reading the hand edit: %v", err)
	}
}

// A symlinked file (a ConfigMap's layout) has its target replaced.
func TestFileStoreSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.yml")
	os.WriteFile(target, []byte("a: 1\n"), 0o600)
	link := filepath.Join(dir, "kong.yml")
	if err := os.Symlink(target, link); err != nil {
		t.Skip(err)
	}
	st, err := NewFile(link, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(context.Background(), []byte("b: 2\n"), 1, "admin"); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced")
	}
	if got, _ := os.ReadFile(target); string(got) != "b: 2\n" {
		t.Errorf("target %q", got)
	}
}

func TestFileStoreLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kong.yml")
	os.WriteFile(path, make([]byte, 100), 0o600)
	if _, err := NewFile(path, 10); err == nil {
		t.Errorf("a file over the limit was read")
	}
}

// WriteFileAtomic writes the mode asked for, replaces a symlink's target
// (the link stays), and leaves no temporary file behind, written or not.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.yml")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	link := filepath.Join(dir, "link.yml")
	if err := os.Symlink("cache.yml", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(link, []byte("through the link"), 0o640); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if got, _ := os.ReadFile(path); string(got) != "through the link" {
		t.Fatalf("target holds %q", got)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x.yml"), []byte("x"), 0o600); err == nil {
		t.Fatal("a write into a missing directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("files left: %v", entries)
	}
}
