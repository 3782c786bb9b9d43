package logging

import (
	"bytes"
	"log/slog"
	"os"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// maxQueued bounds the bytes of lines waiting for the file: past it lines
// are dropped and counted, so a slow disk never holds a request nor grows
// memory without limit.
const maxQueued = 1 << 20

// fileWriter appends lines to a file from one goroutine. Requests copy
// their line into the pending batch under a mutex held only for that
// copy; the writer swaps the batch for its spare and writes it whole, so
// lines are never split between writes and other writers appending to
// the same file (another instance, after a reload) interleave whole
// lines.
type fileWriter struct {
	f       *os.File
	logger  *slog.Logger
	dropped prometheus.Counter // nil: not counted (dry runs, tests)

	mu      sync.Mutex
	pending []byte
	closed  bool

	wake chan struct{}
	done chan struct{}
}

func openFile(path string, dropped prometheus.Counter, logger *slog.Logger) (*fileWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	w := &fileWriter{f: f, logger: logger, dropped: dropped,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.run()
	return w, nil
}

// WriteLine queues a copy of line, or drops it when the queue is full or
// the writer closed.
func (w *fileWriter) WriteLine(line []byte) {
	w.mu.Lock()
	if w.closed || len(w.pending)+len(line) > maxQueued {
		w.mu.Unlock()
		w.drop(1)
		return
	}
	w.pending = append(w.pending, line...)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *fileWriter) drop(n int) {
	if w.dropped != nil {
		w.dropped.Add(float64(n))
	}
}

func (w *fileWriter) run() {
	defer close(w.done)
	var spare []byte
	for range w.wake {
		w.mu.Lock()
		batch := w.pending
		w.pending, spare = spare[:0], nil
		closed := w.closed
		w.mu.Unlock()
		if len(batch) > 0 {
			if _, err := w.f.Write(batch); err != nil {
				w.drop(bytes.Count(batch, []byte{'\n'}))
				if w.logger != nil {
					w.logger.Error("logging plugin: writing its file failed", "path", w.f.Name(), "error", err)
				}
			}
		}
		spare = batch
		if closed {
			return
		}
	}
}

// Close writes what is queued and closes the file; lines logged after it
// are dropped and counted.
func (w *fileWriter) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	// The writer sees closed on its next turn, which this wake-up (or one
	// already pending) guarantees.
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.done
	w.f.Close()
}
