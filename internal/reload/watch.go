package reload

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/turnpikegw/turnpike/internal/config"
)

// DefaultWatchSettle is how long a changed config file must stay the same
// before the watcher applies it. Writers that are not atomic (`cat >`, scp,
// rsync --inplace) can pause between parts, and a part cut at a line end
// is often valid YAML that lacks what follows (plugins, consumers); 2 s
// outlasts a pause of a second with room to spare.
const DefaultWatchSettle = 2 * time.Second

// Watch reloads the loader's file when it changes, until ctx ends. It
// watches the directory, not the file: editors save by writing a new file
// and renaming it over the old one, and Kubernetes ConfigMaps swap a
// `..data` symlink, and either would silently end a watch on the file
// itself.
//
// A burst of events is gathered for debounce, then the file is read; it is
// applied only once a second read, settle later and with no event in
// between, finds the same size, modification time and content hash, so a
// file still being written is never applied half-way. Those verified bytes
// are what is applied, not a later read. An unchanged file (the content
// hash in force) is not re-applied. settle 0 applies the first read.
//
// A path that is a symlink to a file in another directory (a link made by
// hand, not the ConfigMap layout, whose links stay in the path's own
// directory) is followed: the target's directory is watched too, and the
// target found again whenever the link's directory changes.
func (l *Loader) Watch(ctx context.Context, debounce, settle time.Duration) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	dir := filepath.Dir(l.path)
	if err := w.Add(dir); err != nil {
		w.Close()
		return err
	}
	target := followLink(w, dir, l.path, "")
	go func() {
		defer w.Close()
		name := filepath.Base(l.path)
		timer := time.NewTimer(0)
		timer.Stop()
		defer timer.Stop()
		// seen is the read waiting to be confirmed by the next one.
		var seen *fileState
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				base := filepath.Base(ev.Name)
				if inDir := filepath.Dir(ev.Name) == dir; inDir && (base == name || base == "..data") {
					target = followLink(w, dir, l.path, target)
				} else if inDir || ev.Name != target {
					continue
				}
				seen = nil
				timer.Reset(debounce)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				l.logger.Warn("config watch error", "error", err)
			case <-timer.C:
				cur := readFileState(l.path, l.limits.MaxSize)
				if settle > 0 && !cur.same(seen) {
					seen = cur
					timer.Reset(settle)
					continue
				}
				seen = nil
				l.applyWatched(cur)
			}
		}
	}()
	return nil
}

// followLink watches the directory of the file path links to, when that is
// not dir itself (a subdirectory too: dir's watch does not see into it),
// and returns the file ("" when path is no such link). The
// directory of the previous target, old, is no longer watched.
func followLink(w *fsnotify.Watcher, dir, path, old string) string {
	target, err := filepath.EvalSymlinks(path)
	if err != nil || filepath.Dir(target) == dir {
		target = ""
	}
	if target == old {
		return target
	}
	if old != "" {
		w.Remove(filepath.Dir(old))
	}
	if target != "" {
		if err := w.Add(filepath.Dir(target)); err != nil {
			return ""
		}
	}
	return target
}

// fileState is one read of the watched file.
type fileState struct {
	size    int64
	modTime time.Time
	sum     [sha256.Size]byte
	data    []byte
	// want is how many bytes a read of a file of this size that no writer
	// disturbed returns: the size, or one byte past maxSize for a file
	// over the limit (enough for apply to refuse it).
	want int64
	err  error
}

// readFileState reads path, no further than one byte past maxSize (0: no
// limit), so a huge file costs no more memory than the limit.
func readFileState(path string, maxSize int64) *fileState {
	data, fi, err := readLimited(path, maxSize)
	if err != nil {
		return &fileState{err: err}
	}
	want := fi.Size()
	if maxSize > 0 {
		want = min(want, maxSize+1)
	}
	return &fileState{size: fi.Size(), modTime: fi.ModTime(), sum: sha256.Sum256(data), data: data, want: want}
}

// same reports whether s and o saw the same file. A read of another length
// than the size promised means a writer was at work during the read.
func (s *fileState) same(o *fileState) bool {
	if o == nil {
		return false
	}
	if s.err != nil || o.err != nil {
		return s.err != nil && o.err != nil && s.err.Error() == o.err.Error()
	}
	return s.size == o.size && int64(len(s.data)) == s.want && int64(len(o.data)) == o.want &&
		s.modTime.Equal(o.modTime) && s.sum == o.sum
}

// applyWatched applies a settled read of the file as LoadFile would.
func (l *Loader) applyWatched(s *fileState) {
	const trigger = "file"
	if s.err != nil {
		l.record(&Result{At: time.Now(), Trigger: trigger, Errors: config.Errors{{Path: l.path, Message: s.err.Error()}}})
		l.logger.Error("config file unreadable; the configuration in force stays", "trigger", trigger, "error", s.err.Error())
		return
	}
	l.gate.lock(false)
	defer l.gate.unlock()
	l.apply(s.data, &Result{Trigger: trigger}, true)
}
