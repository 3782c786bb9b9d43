package logfile

import (
	"sync"
	"time"
)

// Grace is the least time a closing writer gets to flush, and how long it
// waits after its flush was cancelled before abandoning a write that does
// not return (a regular file on a stuck disk).
const Grace = 200 * time.Millisecond

// linger is how soon after a window's end a Close still joins it: the
// gateway closes released instances one after another, each right after
// the previous one returned.
const linger = time.Second

// Window shares one flush deadline between log writers closed in a row.
// The gateway closes the instances a reload or shutdown released one
// after another; were each to wait its whole flush timeout for a
// collector that is down, N destinations would take N times that. The
// first Close opens a window of its flush timeout; a Close starting
// within it, or within linger of its end, flushes until the window ends
// or for Grace, whichever is later. The zero Window is ready to use.
type Window struct {
	mu  sync.Mutex
	end time.Time
}

// Deadline is when a writer whose Close starts now, with flush timeout
// flush, stops flushing.
func (w *Window) Deadline(flush time.Duration) time.Time {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Before(w.end.Add(linger)) {
		w.end = later(w.end, now.Add(Grace))
	} else {
		w.end = now.Add(flush)
	}
	return w.end
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// WindowKey is the key under which the log plugins share one Window
// through the gateway's shared store (store.Shared), so that every log
// writer a reload or shutdown closes is in the same window.
const WindowKey = "logfile.Window"

// Close does nothing: it lets a Window live in the shared store, which
// closes what it holds once the last user is gone.
func (w *Window) Close() error { return nil }
