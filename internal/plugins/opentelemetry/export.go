package opentelemetry

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
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
func exporterClient(s *settings) *http.Client {
	dialer := &net.Dialer{Timeout: s.connect}
	return &http.Client{Transport: &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   s.connect,
		ResponseHeaderTimeout: s.read,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}, Timeout: s.connect + s.send + s.read}
}

// newSpanExporter makes the OTLP/HTTP traces exporter.
func newSpanExporter(s *settings) (sdktrace.SpanExporter, error) {
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(s.endpoint),
		otlptracehttp.WithHTTPClient(exporterClient(s)),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{
			Enabled:         s.retry.enabled,
			InitialInterval: s.retry.initial,
			MaxInterval:     s.retry.max,
			MaxElapsedTime:  s.retry.maxElapsed,
		}),
	}
	if len(s.headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(s.headers))
	}
	return otlptracehttp.New(context.Background(), opts...)
}

// queue is a bounded queue in front of an exporter (of spans or log
// records), sent in batches of up to batch items, or what is there after
// delay. The SDK's batch processors drop silently when full; this one
// counts every item it drops, and never blocks the request that queues.
type queue[T any] struct {
	ch      chan T
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

func newQueue[T any](export func(context.Context, []T) error, closeFn func(context.Context) error, what string,
	s *settings, dropped *prometheus.CounterVec, log *slog.Logger) *queue[T] {
	q := &queue[T]{
		ch: make(chan T, s.maxEntries), export: export, closeFn: closeFn, what: what, batch: s.batch, delay: s.delay,
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
// blocks.
func (q *queue[T]) push(s T) {
	if q.closed.Load() {
		q.drop(dropClosed, 1)
		return
	}
	select {
	case q.ch <- s:
	default:
		q.drop(dropQueueFull, 1)
	}
}

func (q *queue[T]) run() {
	defer close(q.done)
	batch := make([]T, 0, q.batch)
	timer := time.NewTimer(q.delay)
	timer.Stop()
	armed := false
	send := func() {
		if armed {
			timer.Stop()
			armed = false
		}
		if len(batch) > 0 {
			q.send(batch)
			clear(batch)
			batch = batch[:0]
		}
	}
	for {
		select {
		case s := <-q.ch:
			batch = append(batch, s)
			if len(batch) >= q.batch {
				send()
			} else if !armed {
				timer.Reset(q.delay)
				armed = true
			}
		case <-timer.C:
			armed = false
			send()
		case <-q.stop:
			q.drain(&batch, send)
			return
		}
	}
}

// drain sends what is queued, in batches.
func (q *queue[T]) drain(batch *[]T, send func()) {
	for {
		select {
		case s := <-q.ch:
			*batch = append(*batch, s)
			if len(*batch) >= q.batch {
				send()
			}
		default:
			send()
			return
		}
	}
}

func (q *queue[T]) send(batch []T) {
	if err := q.export(q.ctx, batch); err != nil {
		q.drop(dropExport, len(batch))
		// One line a minute at most: a collector that is down would
		// otherwise log for every batch.
		now := time.Now().UnixNano()
		if last := q.lastLog.Load(); now-last >= int64(time.Minute) && q.lastLog.CompareAndSwap(last, now) {
			q.log.Warn("opentelemetry: "+q.what+" dropped, export failed", q.what, len(batch), "error", err.Error(),
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

// randomID fills b with random bytes, never all zeros (an invalid id).
// math/rand/v2's generator is per thread and seeded from the system's:
// no lock, and not predictable from the ids a client sees.
func randomID(b []byte) {
	for {
		for i := 0; i < len(b); i += 8 {
			putUint64Tail(b[i:], rand.Uint64())
		}
		for _, c := range b {
			if c != 0 {
				return
			}
		}
	}
}

func putUint64Tail(b []byte, n uint64) {
	for i := 0; i < len(b) && i < 8; i++ {
		b[i] = byte(n >> (8 * i))
	}
}
