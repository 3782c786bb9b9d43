package reload

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch reloads the loader's file when it changes, until ctx ends. It
// watches the directory, not the file: editors save by writing a new file
// and renaming it over the old one, and Kubernetes ConfigMaps swap a
// `..data` symlink, and either would silently end a watch on the file
// itself. Bursts of events are debounced into one reload; an unchanged
// file (same content hash) is not re-applied.
func (l *Loader) Watch(ctx context.Context, debounce time.Duration) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	dir := filepath.Dir(l.path)
	if err := w.Add(dir); err != nil {
		w.Close()
		return err
	}
	go func() {
		defer w.Close()
		name := filepath.Base(l.path)
		var timer *time.Timer
		fire := make(chan struct{}, 1)
		for {
			select {
			case <-ctx.Done():
				if timer != nil {
					timer.Stop()
				}
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				base := filepath.Base(ev.Name)
				if base != name && base != "..data" {
					continue
				}
				if timer == nil {
					timer = time.AfterFunc(debounce, func() {
						select {
						case fire <- struct{}{}:
						default:
						}
					})
				} else {
					timer.Reset(debounce)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				l.logger.Warn("config watch error", "error", err)
			case <-fire:
				l.LoadFile("file")
			}
		}
	}()
	return nil
}
