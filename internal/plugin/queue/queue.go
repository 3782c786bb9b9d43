// Package queue is the bounded queue the log, metrics and tracing plugins
// (http-log and its kin, statsd) ship entries through: entries are enqueued without blocking, sent in batches by one
// goroutine, retried with exponential backoff, and dropped and counted
// when the queue is full or a batch keeps failing.
package queue

import (
	"context"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/logfile"
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
	// MaxEntries (0: DefaultMaxEntries) and MaxBytes (0:
	// DefaultMaxBytes) bound what waits. An entry counts the capacity of
	// its buffer: the memory it holds, escaping included.
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

// DefaultMaxEntries is Kong's max_entries, for a queue whose settings
// give none: zero would make an unbuffered channel that, with the sender
// busy, drops every entry.
const DefaultMaxEntries = 10000

// DefaultMaxBytes bounds the bytes a queue holds when its config sets no
// max_bytes (Kong's default is none): a collector that is down must not
// let clients' requests fill memory, and an entry can be hundreds of KiB.
const DefaultMaxBytes = 64 << 20

// BufferSize is the capacity of a new entry buffer (Buffer). An entry
// counts its buffer's capacity against MaxBytes, which is never less, so
// it is also the least MaxBytes that holds any entry.
const BufferSize = 2048

// noNeed is Queue.need while no sender waits for entries.
const noNeed = math.MaxInt64

// closedBit marks state closed; its other bits count the Enqueue calls
// under way, which Close waits out so that no entry lands in the channel
// after the last flush took what was there.
const closedBit = 1 << 62

// maxPooled is the largest buffer kept for reuse: a rare huge entry
// should not pin its memory.
const maxPooled = 64 << 10

// Queue is one bounded queue with its sending goroutine.
type Queue struct {
	s    Settings
	send Sender
	ch   chan *[]byte
	// ready wakes a coalescing sender when enough entries wait to fill
	// its batch (need of them; noNeed when it is not waiting), so that
	// it does not wake for each.
	ready chan struct{}
	need  atomic.Int64
	bytes atomic.Int64
	state atomic.Int64
	// inflight is the size of the batch being sent, taken (swapped to
	// 0) by whoever accounts for it: the sender when Send returns, or
	// Close when it abandons a Send that does not.
	inflight atomic.Int64
	dropped  atomic.Uint64
	sent     atomic.Uint64
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
	if s.MaxBytes <= 0 {
		s.MaxBytes = DefaultMaxBytes
	}
	if s.MaxEntries <= 0 {
		s.MaxEntries = DefaultMaxEntries
	}
	q := &Queue{s: s, send: send, ch: make(chan *[]byte, s.MaxEntries), stop: make(chan struct{}), done: make(chan struct{})}
	q.ready = make(chan struct{}, 1)
	q.need.Store(noNeed)
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.bufs.New = func() any { b := make([]byte, 0, BufferSize); return &b }
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
// and counted, and false returned. It stops counting as under way before
// it drops, whose warning writes to the gateway's log: Close, which waits
// out the Enqueue calls under way, must not wait on that log's output.
func (q *Queue) Enqueue(bp *[]byte) bool {
	reason := q.enqueue(bp)
	q.state.Add(-1)
	if reason == "" {
		return true
	}
	q.put(bp)
	q.drop(1, reason)
	return false
}

// enqueue puts bp in the channel, or returns why it did not.
func (q *Queue) enqueue(bp *[]byte) (reason string) {
	n := int64(cap(*bp))
	switch {
	case q.state.Add(1)&closedBit != 0:
		return "queue closed"
	case q.s.MaxEntryBytes > 0 && len(*bp) > q.s.MaxEntryBytes:
		return "entry too large"
	case q.bytes.Add(n) > int64(q.s.MaxBytes):
		q.bytes.Add(-n)
		return "queue full (max_bytes)"
	}
	select {
	case q.ch <- bp:
		if int64(len(q.ch)) >= q.need.Load() {
			select {
			case q.ready <- struct{}{}:
			default:
			}
		}
		return ""
	default:
		q.bytes.Add(-n)
		return "queue full (max_entries)"
	}
}

// Dropped is the number of entries this queue dropped.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }

// Sent is the number of entries delivered.
func (q *Queue) Sent() uint64 { return q.sent.Load() }

// Len is the number of entries waiting.
func (q *Queue) Len() int { return len(q.ch) }

// Bytes is the memory the entries waiting or being sent hold.
func (q *Queue) Bytes() int64 { return q.bytes.Load() }

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

// Close stops taking entries and delivers what is queued until its
// flush timeout (FlushTimeout); entries undelivered then
// are dropped and counted. A Send that ignores the cancel (a write to a
// stuck disk) is abandoned Grace later: Close returns, counting its batch
// and what waits as dropped, and the goroutine ends when Send returns,
// closing the sender.
func (q *Queue) Close() error {
	q.close.Do(func() {
		deadline := time.Now().Add(q.s.FlushTimeout)
		q.state.Add(closedBit)
		for q.state.Load() != closedBit {
			// An Enqueue under way never blocks (it logs no warning
			// while counted): it is done in moments.
			runtime.Gosched()
		}
		close(q.stop)
		t := time.AfterFunc(time.Until(deadline), q.cancel)
		defer t.Stop()
		abandon := time.NewTimer(time.Until(deadline) + logfile.Grace)
		defer abandon.Stop()
		select {
		case <-q.done:
			q.cancel()
		case <-abandon.C:
			q.abandon()
		}
	})
	return nil
}

// abandon counts as dropped the batch a Send that did not return holds
// and what still waits.
func (q *Queue) abandon() {
	n := int(q.inflight.Swap(0))
	for {
		select {
		case bp := <-q.ch:
			n++
			q.bytes.Add(-int64(cap(*bp)))
			q.put(bp)
			continue
		default:
		}
		break
	}
	if n > 0 {
		q.drop(n, "shutdown flush abandoned: the destination does not return")
	}
}

func (q *Queue) run() {
	defer close(q.done)
	defer q.send.Close()
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
// the queue is closing. Entries wait in the channel meanwhile: the
// sender wakes when Enqueue sees enough of them to fill the batch, not
// for each.
func (q *Queue) coalesce(batch []*[]byte, timer *time.Timer) []*[]byte {
	defer q.need.Store(noNeed)
	for {
		if batch = q.take(batch); len(batch) == q.s.MaxBatch {
			return batch
		}
		need := q.s.MaxBatch - len(batch)
		q.need.Store(int64(need))
		// An entry queued between the take and the store gave no
		// signal; a signal left from before only costs a look.
		if len(q.ch) >= need {
			continue
		}
		select {
		case <-q.ready:
		case <-timer.C:
			return q.take(batch)
		case <-q.stop:
			return q.take(batch)
		}
	}
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
			n := len(batch)
			batch = q.release(batch)
			for {
				select {
				case bp := <-q.ch:
					n++
					batch = q.release(append(batch, bp))
					continue
				default:
				}
				break
			}
			q.drop(n, "shutdown flush timed out")
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
	q.inflight.Store(int64(len(batch)))
	for {
		err := q.send.Send(q.ctx, view)
		switch {
		case err == nil:
			if n := q.inflight.Swap(0); n > 0 {
				q.sent.Add(uint64(n))
			}
			return view
		case q.ctx.Err() != nil || time.Since(start)+delay > q.s.RetryTime:
			if n := q.inflight.Swap(0); n > 0 {
				q.drop(int(n), "delivery failed: "+err.Error())
			}
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
		q.bytes.Add(-int64(cap(*bp)))
		q.put(bp)
		batch[i] = nil
	}
	return batch[:0]
}
