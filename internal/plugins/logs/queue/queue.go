// Package queue is the bounded queue the log plugins ship entries
// through: entries are enqueued without blocking, sent in batches by one
// goroutine, retried with exponential backoff, and dropped and counted
// when the queue is full or a batch keeps failing.
package queue

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sender delivers batches. Send is called by the queue's one goroutine,
// never concurrently; ctx ends when a closing queue's flush time is up.
type Sender interface {
	Send(ctx context.Context, batch [][]byte) error
	// Close releases the sender's connections or files once the queue
	// has stopped.
	Close()
}

// Settings say how a queue batches, bounds and retries.
type Settings struct {
	// Plugin names the queue's plugin in warnings.
	Plugin string
	// MaxBatch is the most entries one Send gets.
	MaxBatch int
	// Delay is how long a batch waits for more entries after its first
	// (0: it takes what is queued and goes).
	Delay time.Duration
	// MaxEntries and MaxBytes (0: no bound) bound what waits.
	MaxEntries int
	MaxBytes   int
	// MaxEntryBytes drops an entry larger than this (0: no bound): a UDP
	// datagram has a size limit that no retry fixes.
	MaxEntryBytes int
	// RetryTime bounds the retries of a failing batch (0 or less: none);
	// InitialDelay doubles after each failure, up to MaxDelay.
	RetryTime    time.Duration
	InitialDelay time.Duration
	MaxDelay     time.Duration
	// FlushTimeout bounds how long Close waits to deliver what is queued
	// (default 5 s).
	FlushTimeout time.Duration
	// Logger gets the warnings (at most one per WarnEvery); nil: none.
	Logger *slog.Logger
	// Dropped counts dropped entries; nil: only Dropped() does.
	Dropped prometheus.Counter
}

// WarnEvery is the least time between two warnings of one queue, so that
// a collector that is down does not flood the gateway's log.
const WarnEvery = 10 * time.Second

// maxPooled is the largest buffer kept for reuse: a rare huge entry
// should not pin its memory.
const maxPooled = 64 << 10

// Queue is one bounded queue with its sending goroutine.
type Queue struct {
	s       Settings
	send    Sender
	ch      chan *[]byte
	bytes   atomic.Int64
	closed  atomic.Bool
	dropped atomic.Uint64
	sent    atomic.Uint64
	// lastDrop and lastRetry are when the last warning of each kind
	// was logged, apart so that retries cannot hide drops.
	lastDrop  atomic.Int64
	lastRetry atomic.Int64
	bufs      sync.Pool
	stop      chan struct{}
	done      chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	close     sync.Once
}

// New starts a queue delivering through send.
func New(s Settings, send Sender) *Queue {
	if s.MaxBatch < 1 {
		s.MaxBatch = 1
	}
	if s.FlushTimeout <= 0 {
		s.FlushTimeout = 5 * time.Second
	}
	q := &Queue{s: s, send: send, ch: make(chan *[]byte, s.MaxEntries), stop: make(chan struct{}), done: make(chan struct{})}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.bufs.New = func() any { b := make([]byte, 0, 2048); return &b }
	go q.run()
	return q
}

// Buffer returns an empty buffer to build an entry in and pass to
// Enqueue.
func (q *Queue) Buffer() *[]byte {
	bp := q.bufs.Get().(*[]byte)
	*bp = (*bp)[:0]
	return bp
}

func (q *Queue) put(bp *[]byte) {
	if cap(*bp) <= maxPooled {
		q.bufs.Put(bp)
	}
}

// Enqueue queues the entry in bp, which the queue owns from now on. It
// never blocks: when the queue is full (or closed) the entry is dropped
// and counted, and false returned.
func (q *Queue) Enqueue(bp *[]byte) bool {
	n := int64(len(*bp))
	switch {
	case q.closed.Load():
		q.drop(1, "queue closed")
	case q.s.MaxEntryBytes > 0 && n > int64(q.s.MaxEntryBytes):
		q.drop(1, "entry too large")
	case q.s.MaxBytes > 0 && q.bytes.Add(n) > int64(q.s.MaxBytes):
		q.bytes.Add(-n)
		q.drop(1, "queue full (max_bytes)")
	default:
		select {
		case q.ch <- bp:
			return true
		default:
			if q.s.MaxBytes > 0 {
				q.bytes.Add(-n)
			}
			q.drop(1, "queue full (max_entries)")
		}
	}
	q.put(bp)
	return false
}

// Dropped is the number of entries this queue dropped.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }

// Sent is the number of entries delivered.
func (q *Queue) Sent() uint64 { return q.sent.Load() }

// Len is the number of entries waiting.
func (q *Queue) Len() int { return len(q.ch) }

func (q *Queue) drop(n int, reason string) {
	q.dropped.Add(uint64(n))
	if q.s.Dropped != nil {
		q.s.Dropped.Add(float64(n))
	}
	q.warn(&q.lastDrop, "log entries dropped", "reason", reason, "entries", n, "dropped_total", q.dropped.Load())
}

// warn logs at most once per WarnEvery of each kind (last).
func (q *Queue) warn(last *atomic.Int64, msg string, args ...any) {
	if q.s.Logger == nil {
		return
	}
	now := time.Now().UnixNano()
	prev := last.Load()
	if now-prev < int64(WarnEvery) || !last.CompareAndSwap(prev, now) {
		return
	}
	q.s.Logger.Warn(msg, append([]any{"plugin", q.s.Plugin}, args...)...)
}

// Close stops taking entries, delivers what is queued within the flush
// timeout (entries still undelivered then are dropped and counted),
// stops the goroutine and closes the sender.
func (q *Queue) Close() error {
	q.close.Do(func() {
		q.closed.Store(true)
		close(q.stop)
		t := time.AfterFunc(q.s.FlushTimeout, q.cancel)
		<-q.done
		t.Stop()
		q.cancel()
		q.send.Close()
	})
	return nil
}

func (q *Queue) run() {
	defer close(q.done)
	batch := make([]*[]byte, 0, min(q.s.MaxBatch, 1024))
	view := make([][]byte, 0, cap(batch))
	var timer *time.Timer
	for {
		select {
		case bp := <-q.ch:
			batch = append(batch, bp)
		case <-q.stop:
			q.flush(batch[:0], view)
			return
		}
		if q.s.Delay > 0 && q.s.MaxBatch > 1 {
			if timer == nil {
				timer = time.NewTimer(q.s.Delay)
			} else {
				timer.Reset(q.s.Delay)
			}
			batch = q.coalesce(batch, timer)
			timer.Stop()
		} else {
			batch = q.take(batch)
		}
		view = q.deliver(batch, view)
		batch = q.release(batch)
	}
}

// coalesce adds entries to batch until it is full, the delay is over or
// the queue is closing.
func (q *Queue) coalesce(batch []*[]byte, timer *time.Timer) []*[]byte {
	for len(batch) < q.s.MaxBatch {
		select {
		case bp := <-q.ch:
			batch = append(batch, bp)
		case <-timer.C:
			return batch
		case <-q.stop:
			return q.take(batch)
		}
	}
	return batch
}

// take adds what is queued now to batch, up to a full batch.
func (q *Queue) take(batch []*[]byte) []*[]byte {
	for len(batch) < q.s.MaxBatch {
		select {
		case bp := <-q.ch:
			batch = append(batch, bp)
		default:
			return batch
		}
	}
	return batch
}

// flush delivers everything queued, batch by batch, until the flush
// context ends; what is left then is dropped and counted.
func (q *Queue) flush(batch []*[]byte, view [][]byte) {
	for {
		batch = q.take(batch)
		if len(batch) == 0 {
			return
		}
		if q.ctx.Err() != nil {
			n := len(batch) + len(q.ch)
			for len(q.ch) > 0 {
				q.put(<-q.ch)
			}
			q.drop(n, "shutdown flush timed out")
			q.release(batch)
			return
		}
		view = q.deliver(batch, view)
		batch = q.release(batch)
	}
}

// deliver sends batch, retrying with backoff until it is delivered, the
// retry time is over or the flush context ends.
func (q *Queue) deliver(batch []*[]byte, view [][]byte) [][]byte {
	view = view[:0]
	for _, bp := range batch {
		view = append(view, *bp)
	}
	start := time.Now()
	delay := q.s.InitialDelay
	for {
		err := q.send.Send(q.ctx, view)
		if err == nil {
			q.sent.Add(uint64(len(batch)))
			return view
		}
		if q.ctx.Err() != nil || time.Since(start)+delay > q.s.RetryTime {
			q.drop(len(batch), "delivery failed: "+err.Error())
			return view
		}
		q.warn(&q.lastRetry, "log delivery failed; retrying", "error", err.Error(), "retry_in", delay.String())
		select {
		case <-time.After(delay):
		case <-q.ctx.Done():
		}
		delay = min(delay*2, q.s.MaxDelay)
	}
}

// release gives the batch's buffers back and returns it emptied.
func (q *Queue) release(batch []*[]byte) []*[]byte {
	for i, bp := range batch {
		if q.s.MaxBytes > 0 {
			q.bytes.Add(-int64(len(*bp)))
		}
		q.put(bp)
		batch[i] = nil
	}
	return batch[:0]
}
