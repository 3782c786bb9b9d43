package logging

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/logfile"
)

// maxQueued bounds the bytes of lines waiting for the file: past it lines
// are dropped and counted, so a slow disk never holds a request nor grows
// memory without limit.
const maxQueued = 1 << 20

// flushTimeout bounds how long Close writes what is queued (the log
// plugins' queues have the same).
const flushTimeout = 5 * time.Second

// writeEvery is the least time between two writes of the file: the first
// line after a quiet spell is written at once, and under load the lines
// of the next writeEvery go out together in one write. Measured with
// bench/plugins.sh (route logging), a write for every line cost the
// request about 4 us of CPU, a stat and a write system call; batched, the
// plugin costs about what rendering the line costs.
const writeEvery = 10 * time.Millisecond

// warnEvery is the least time between two logged write errors, so that
// a full disk does not flood the gateway's log (the log plugins' queues
// have the same).
const warnEvery = 10 * time.Second

// fileWriter appends lines to a file from one goroutine, through
// logfile.File: opened there, never while the config compiles (a FIFO
// without a reader would hold the reload), and again when log rotation
// moves it. Requests copy their line into the pending batch under a mutex
// held only for that copy, and the one that finds the batch empty wakes
// the writer; the writer swaps the batch for its spare, writes it, and
// waits writeEvery before taking the next. It writes through
// logfile.File.Write: to a regular file in one write (O_APPEND), so other
// writers appending to it (another instance, after a reload) interleave
// whole lines; to a FIFO in writes of whole lines of at most PIPE_BUF
// (4 KiB), which the kernel keeps whole, so only a line over 4 KiB may
// interleave with another writer's bytes.
type fileWriter struct {
	file    logfile.File
	logger  *slog.Logger
	dropped prometheus.Counter // nil: not counted (dry runs, tests)
	// lost counts the dropped lines, for tests and the warning.
	lost atomic.Uint64
	// inflight is the number of lines being written, taken (swapped to
	// 0) by the writer when the write returns or by Close when it
	// abandons one that does not.
	inflight atomic.Int64
	lastWarn time.Time
	ctx      context.Context
	cancel   context.CancelFunc

	mu      sync.Mutex
	pending []byte
	closed  bool

	wake chan struct{}
	done chan struct{}
}

func newFileWriter(path string, dropped prometheus.Counter, logger *slog.Logger) *fileWriter {
	w := &fileWriter{file: logfile.File{Path: path}, logger: logger, dropped: dropped,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go w.run()
	return w
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
	first := len(w.pending) == 0
	w.pending = append(w.pending, line...)
	w.mu.Unlock()
	if first {
		w.signal()
	}
}

// signal wakes the writer, or leaves the wake-up already pending.
func (w *fileWriter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *fileWriter) drop(n int) {
	w.lost.Add(uint64(n))
	if w.dropped != nil {
		w.dropped.Add(float64(n))
	}
}

func (w *fileWriter) run() {
	defer close(w.done)
	defer w.file.Close()
	var spare []byte
	for range w.wake {
		w.mu.Lock()
		batch := w.pending
		w.pending, spare = spare[:0], nil
		closed := w.closed
		w.mu.Unlock()
		if len(batch) > 0 {
			w.write(batch)
		}
		spare = batch
		if closed {
			return
		}
		if len(batch) < maxQueued/4 {
			// A batch near the queue's bound means lines come faster
			// than writeEvery's pace would write them: no pause then.
			time.Sleep(writeEvery)
		}
	}
}

func (w *fileWriter) write(batch []byte) {
	w.inflight.Store(int64(bytes.Count(batch, []byte{'\n'})))
	err := w.file.Write(w.ctx, batch)
	n := w.inflight.Swap(0)
	if err == nil || n == 0 {
		return
	}
	w.drop(int(n))
	if w.logger != nil && time.Since(w.lastWarn) >= warnEvery {
		w.lastWarn = time.Now()
		w.logger.Error("logging plugin: writing its file failed; lines dropped", "path", w.file.Path, "error", err, "dropped_total", w.lost.Load())
	}
}

// Close writes what is queued, for up to flushTimeout, and closes the
// file; lines logged after it are
// dropped and counted. A write that does not return by the deadline and
// Grace after it (a stuck disk) is abandoned, its lines and those
// waiting counted as dropped; the goroutine ends when the write returns.
func (w *fileWriter) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	deadline := time.Now().Add(flushTimeout)
	// The writer sees closed on its next turn, which this wake-up (or one
	// already pending) guarantees.
	w.signal()
	t := time.AfterFunc(time.Until(deadline), w.cancel)
	defer t.Stop()
	abandon := time.NewTimer(time.Until(deadline) + logfile.Grace)
	defer abandon.Stop()
	select {
	case <-w.done:
		w.cancel()
	case <-abandon.C:
		w.mu.Lock()
		n := int(w.inflight.Swap(0)) + bytes.Count(w.pending, []byte{'\n'})
		w.pending = nil
		w.mu.Unlock()
		w.drop(n)
	}
}
