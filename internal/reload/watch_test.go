package reload

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/snapshot"
)

// routeNames are the names of the routes in force.
func routeNames(h *snapshot.Holder) []string {
	var out []string
	for _, r := range h.Load().Routes {
		out = append(out, r.Info.Name)
	}
	return out
}

// A file written in place in two parts, each a valid config, is applied
// once, whole: the first part never goes live.
func TestWatchAppliesOnlyASettledFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kong.yml")
	os.WriteFile(path, cfg("one"), 0o600)
	l, h := newLoader(t, path)
	if _, err := l.LoadFile("startup"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := l.Watch(ctx, 20*time.Millisecond, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// Every configuration put in force, as seen by a poller.
	var halfSeen atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if names := routeNames(h); len(names) == 1 && names[0] == "half" {
				halfSeen.Store(true)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	before := l.Applied()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(cfg("half"))
	time.Sleep(250 * time.Millisecond)
	f.WriteString("  - name: whole\n    paths: [/whole]\n")
	f.Close()
	waitFor(t, "the whole file to be applied", func() bool { return len(routeNames(h)) == 2 })
	cancel()
	<-done
	if halfSeen.Load() {
		t.Error("the half-written file was put in force")
	}
	if n := l.Applied() - before; n != 1 {
		t.Errorf("%d configurations applied, want 1", n)
	}
	if last := l.Last(); last == nil || !last.OK || last.Trigger != "file" {
		t.Errorf("last load: %+v", last)
	}
}

// A file the watcher cannot read is a failed load; the configuration in
// force stays.
func TestWatchRecordsAnUnreadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kong.yml")
	os.WriteFile(path, cfg("one"), 0o600)
	l, h := newLoader(t, path)
	if _, err := l.LoadFile("startup"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := l.Watch(ctx, 20*time.Millisecond, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	waitFor(t, "the failed load to be recorded", func() bool {
		last := l.Last()
		return last != nil && !last.OK && last.Trigger == "file"
	})
	if routeName(h) != "one" {
		t.Errorf("route in force %q, want one", routeName(h))
	}
}

func TestFileStateSame(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kong.yml")
	os.WriteFile(path, []byte("a: 1\n"), 0o600)
	a := readFileState(path, 0)
	if !a.same(readFileState(path, 0)) {
		t.Error("two reads of an unchanged file differ")
	}
	if a.same(nil) {
		t.Error("a read is the same as no read")
	}
	// Same size, new content.
	os.WriteFile(path, []byte("a: 2\n"), 0o600)
	os.Chtimes(path, a.modTime, a.modTime)
	if a.same(readFileState(path, 0)) {
		t.Error("a change of content with the same size and time was not seen")
	}
	// Same content, touched.
	os.WriteFile(path, []byte("a: 1\n"), 0o600)
	os.Chtimes(path, a.modTime.Add(time.Second), a.modTime.Add(time.Second))
	if a.same(readFileState(path, 0)) {
		t.Error("a new modification time was not seen")
	}
	// A writer appending between the stat and the read.
	b := readFileState(path, 0)
	torn := *b
	torn.data = append(append([]byte{}, b.data...), "more"...)
	torn.sum = sha256.Sum256(torn.data)
	if torn.same(b) || b.same(&torn) {
		t.Error("a read longer than the size stat gave counts as settled")
	}
	// A file over the size limit is read no further than one byte past it,
	// and two such reads still agree, so it settles and is refused.
	os.WriteFile(path, []byte("a: 1\n# padding past the limit\n"), 0o600)
	big := readFileState(path, 8)
	if len(big.data) != 9 || !big.same(readFileState(path, 8)) {
		t.Errorf("over the limit: read %d bytes, want 9, and two reads must agree", len(big.data))
	}
	os.Remove(path)
	if a.same(readFileState(path, 0)) {
		t.Error("a missing file is the same as a present one")
	}
	if !readFileState(path, 0).same(readFileState(path, 0)) {
		t.Error("two reads of a missing file differ")
	}
}

// A config path that is a symlink to a file in another directory is
// followed: a change of the file it points at is applied, and so is a
// link re-pointed at another file.
func TestWatchFollowsASymlinkElsewhere(t *testing.T) {
	real, link := t.TempDir(), t.TempDir()
	target := filepath.Join(real, "gateway.yml")
	os.WriteFile(target, cfg("one"), 0o600)
	path := filepath.Join(link, "kong.yml")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	l, h := newLoader(t, path)
	if _, err := l.LoadFile("startup"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := l.Watch(ctx, 20*time.Millisecond, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(real, ".gateway.yml.tmp")
	os.WriteFile(tmp, cfg("two"), 0o600)
	os.Rename(tmp, target)
	waitFor(t, "the linked file's change to be applied", func() bool { return routeName(h) == "two" })

	other := filepath.Join(t.TempDir(), "other.yml")
	os.WriteFile(other, cfg("three"), 0o600)
	tmpLink := filepath.Join(link, ".kong.yml.tmp")
	os.Symlink(other, tmpLink)
	os.Rename(tmpLink, path)
	waitFor(t, "the re-pointed link to be applied", func() bool { return routeName(h) == "three" })
	os.WriteFile(other, cfg("four"), 0o600)
	waitFor(t, "a change of the new target to be applied", func() bool { return routeName(h) == "four" })
}

// A config path that links into a subdirectory of its own directory
// (`kong.yml -> conf.d/kong.yml`) is followed too: the directory's watch
// does not see into the subdirectory.
func TestWatchFollowsASymlinkIntoASubdirectory(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "conf.d")
	os.Mkdir(sub, 0o700)
	target := filepath.Join(sub, "kong.yml")
	os.WriteFile(target, cfg("one"), 0o600)
	path := filepath.Join(dir, "kong.yml")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	l, h := newLoader(t, path)
	if _, err := l.LoadFile("startup"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := l.Watch(ctx, 20*time.Millisecond, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(target, cfg("two"), 0o600)
	waitFor(t, "the change in the subdirectory to be applied", func() bool { return routeName(h) == "two" })
}
