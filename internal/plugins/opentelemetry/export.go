package opentelemetry

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// closeWait bounds how long Close waits for the queue to be sent: a
// collector that is down must not hold a reload or a shutdown for the
// exporter's whole retry time.
const closeWait = 5 * time.Second

// Drop reasons, the values of the dropped counter's reason label.
const (
	dropQueueFull = "queue_full"
	dropExport    = "export_failed"
	dropClosed    = "closed"
)

// exporterClient is the HTTP client of the exporters: the connect
// timeout is the dialer's, read the wait for the response head, and one
// try is bounded by connect + send + read, as Kong bounds its calls.
// A batch of 200 spans (~40 KB) fits the write buffer: one write, where
// net/http otherwise copies a body of known length through a new 32 KB
// buffer in several writes (a quarter of a sampled request's CPU in
// BenchmarkSampledExport).
func exporterClient(s *settings) *http.Client {
	dialer := &net.Dialer{Timeout: s.connect}
	return &http.Client{Transport: &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   s.connect,
		ResponseHeaderTimeout: s.read,
		MaxIdleConnsPerHost:   2,
		WriteBufferSize:       64 << 10,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}, Timeout: s.connect + s.send + s.read}
}

// queue is a bounded queue in front of an exporter (of spans or log
// records), sent in batches of up to batch entries, or what is there
// after delay. An item holds size(item) entries (a request's spans): it
// is queued or dropped whole, and never split over batches. The SDK's
// batch processors drop silently when full; this one counts every entry
// it drops, and never blocks the request that queues.
type queue[T any] struct {
	ch      chan T
	size    func(T) int
	queued  atomic.Int64 // entries in ch, at most max
	max     int64
	export  func(context.Context, []T) error
	closeFn func(context.Context) error // the exporter's Shutdown
	what    string                      // "spans", "log records": for the log
	batch   int
	delay   time.Duration
	dropped *prometheus.CounterVec // nil: not counted in a metric
	lost    atomic.Uint64          // every item dropped, for tests and logs
	log     *slog.Logger
	lastLog atomic.Int64 // unix ns of the last export error logged

	stop     chan struct{}
	done     chan struct{}
	closed   atomic.Bool
	ctx      context.Context // cancelled when Close gives up waiting
	cancel   context.CancelFunc
	stopOnce sync.Once
}

func newQueue[T any](size func(T) int, export func(context.Context, []T) error, closeFn func(context.Context) error,
	what string, s *settings, dropped *prometheus.CounterVec, log *slog.Logger) *queue[T] {
	q := &queue[T]{
		ch: make(chan T, s.maxEntries), size: size, max: int64(s.maxEntries),
		export: export, closeFn: closeFn, what: what, batch: s.batch, delay: s.delay,
		dropped: dropped, log: log,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	go q.run()
	return q
}

func (q *queue[T]) drop(reason string, n int) {
	q.lost.Add(uint64(n))
	if q.dropped != nil {
		q.dropped.WithLabelValues(reason).Add(float64(n))
	}
}

// push queues s, or drops it when the queue is full or closed: it never
// blocks. The channel holds as many items as entries are allowed, so
// the count of entries is the bound.
func (q *queue[T]) push(s T) {
	n := q.size(s)
	if q.closed.Load() {
		q.drop(dropClosed, n)
		return
	}
	if q.queued.Add(int64(n)) > q.max {
		q.queued.Add(-int64(n))
		q.drop(dropQueueFull, n)
		return
	}
	select {
	case q.ch <- s:
	default:
		q.queued.Add(-int64(n))
		q.drop(dropQueueFull, n)
	}
}

// batcher gathers items into batches of up to q.batch entries.
type batcher[T any] struct {
	q     *queue[T]
	items []T
	n     int // entries in items
}

// add takes s off the queue into the batch, sending the batch first
// when s would overflow it, and after when it is full. It tells whether
// s began a batch that waits.
func (b *batcher[T]) add(s T) (began bool) {
	n := b.q.size(s)
	b.q.queued.Add(-int64(n))
	if b.n > 0 && b.n+n > b.q.batch {
		b.send()
	}
	began = b.n == 0
	b.items, b.n = append(b.items, s), b.n+n
	if b.n >= b.q.batch {
		b.send()
		return false
	}
	return began
}

func (b *batcher[T]) send() {
	if len(b.items) > 0 {
		b.q.send(b.items, b.n)
		clear(b.items)
		b.items, b.n = b.items[:0], 0
	}
}

func (q *queue[T]) run() {
	defer close(q.done)
	b := &batcher[T]{q: q, items: make([]T, 0, min(q.batch, 1024))}
	timer := time.NewTimer(q.delay)
	timer.Stop()
	armed := false
	for {
		select {
		case s := <-q.ch:
			// The delay counts from a batch's first item.
			if b.add(s) {
				timer.Reset(q.delay)
				armed = true
			} else if b.n == 0 && armed {
				timer.Stop()
				armed = false
			}
		case <-timer.C:
			armed = false
			b.send()
		case <-q.stop:
			q.drain(b)
			return
		}
	}
}

// drain sends what is queued, in batches.
func (q *queue[T]) drain(b *batcher[T]) {
	for {
		select {
		case s := <-q.ch:
			b.add(s)
		default:
			b.send()
			return
		}
	}
}

func (q *queue[T]) send(batch []T, n int) {
	if err := q.export(q.ctx, batch); err != nil {
		q.drop(dropExport, n)
		// One line a minute at most: a collector that is down would
		// otherwise log for every batch.
		now := time.Now().UnixNano()
		if last := q.lastLog.Load(); now-last >= int64(time.Minute) && q.lastLog.CompareAndSwap(last, now) {
			q.log.Warn("opentelemetry: "+q.what+" dropped, export failed", q.what, n, "error", err.Error(),
				"dropped_total", q.lost.Load())
		}
	}
}

// shutdown stops taking items and sends the queued ones, until ctx ends:
// then the export under way is cancelled.
func (q *queue[T]) shutdown(ctx context.Context) {
	q.stopOnce.Do(func() {
		q.closed.Store(true)
		close(q.stop)
	})
	select {
	case <-q.done:
	case <-ctx.Done():
		q.cancel()
		<-q.done
	}
	q.cancel()
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	q.closeFn(sctx)
}
