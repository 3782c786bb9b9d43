package queue

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a Sender keeping what it got; it fails while failing > 0
// (counting down) and blocks while block is open.
type recorder struct {
	mu      sync.Mutex
	batches [][]string
	fails   int
	calls   int
	block   chan struct{}
	closed  bool
}

func (r *recorder) Send(ctx context.Context, batch [][]byte) error {
	r.mu.Lock()
	r.calls++
	block := r.block
	r.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fails > 0 {
		r.fails--
		return errors.New("collector down")
	}
	var b []string
	for _, e := range batch {
		b = append(b, string(e))
	}
	r.batches = append(r.batches, b)
	return nil
}

func (r *recorder) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

func (r *recorder) got() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]string(nil), r.batches...)
}

func enqueue(q *Queue, s string) bool {
	bp := q.Buffer()
	*bp = append(*bp, s...)
	return q.Enqueue(bp)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestBatchesBySizeAndDelay(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		// first entries are queued before the first Send, which blocks
		// until the rest are queued too: how busy the machine is cannot
		// split the batches.
		first, n int
		sizes    []int
	}{
		{name: "batch of one sends each entry", s: Settings{MaxBatch: 1, MaxEntries: 100}, first: 1, n: 4, sizes: []int{1, 1, 1, 1}},
		{name: "full batches go before the delay", s: Settings{MaxBatch: 2, Delay: time.Hour, MaxEntries: 100}, first: 2, n: 4, sizes: []int{2, 2}},
		{name: "a partial batch goes after the delay", s: Settings{MaxBatch: 10, Delay: 50 * time.Millisecond, MaxEntries: 100}, first: 1, n: 4, sizes: []int{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{block: make(chan struct{})}
			q := New(tt.s, r)
			defer q.Close()
			for i := range tt.n {
				if i == tt.first {
					waitFor(t, "the first send", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.calls == 1 })
				}
				enqueue(q, strconv.Itoa(i))
			}
			close(r.block)
			waitFor(t, "delivery", func() bool { return q.Sent() == uint64(tt.n) })
			var sizes []int
			var all []string
			for _, b := range r.got() {
				sizes = append(sizes, len(b))
				all = append(all, b...)
			}
			if !slices.Equal(sizes, tt.sizes) {
				t.Fatalf("batch sizes %v, want %v", sizes, tt.sizes)
			}
			for i, e := range all {
				if e != strconv.Itoa(i) {
					t.Fatalf("entries out of order: %v", all)
				}
			}
		})
	}
}

// TestBatchFillsWhileCoalescing: a sender waiting for more entries wakes
// when enough have come to fill its batch, however they trickled in (the
// delay here is an hour: only that wake-up sends), and a batch that starts
// with several entries needs only the rest.
func TestBatchFillsWhileCoalescing(t *testing.T) {
	r := &recorder{}
	q := New(Settings{MaxBatch: 5, Delay: time.Hour, MaxEntries: 100}, r)
	pause := func() { time.Sleep(20 * time.Millisecond) }
	enqueue(q, "0")
	pause()
	enqueue(q, "1")
	enqueue(q, "2")
	pause()
	if q.Sent() != 0 {
		t.Fatal("a batch of 3 of 5 went before the delay")
	}
	enqueue(q, "3")
	pause()
	enqueue(q, "4")
	waitFor(t, "the first full batch", func() bool { return q.Sent() == 5 })
	for i := 5; i < 12; i++ {
		enqueue(q, strconv.Itoa(i))
	}
	waitFor(t, "the second full batch", func() bool { return q.Sent() == 10 })
	pause()
	if q.Sent() != 10 {
		t.Fatalf("sent %d, want 10 until the delay or close", q.Sent())
	}
	q.Close()
	var sizes []int
	var all []string
	for _, b := range r.got() {
		sizes = append(sizes, len(b))
		all = append(all, b...)
	}
	if !slices.Equal(sizes, []int{5, 5, 2}) {
		t.Fatalf("batch sizes %v, want [5 5 2]", sizes)
	}
	for i, e := range all {
		if e != strconv.Itoa(i) {
			t.Fatalf("entries out of order: %v", all)
		}
	}
}

func TestFullQueueDropsAndCounts(t *testing.T) {
	r := &recorder{block: make(chan struct{})}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	q := New(Settings{MaxBatch: 1, MaxEntries: 2, Dropped: c}, r)
	enqueue(q, "a")
	waitFor(t, "the first send", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.calls == 1 })
	start := time.Now()
	ok := 0
	for i := range 10 {
		if enqueue(q, "e"+strconv.Itoa(i)) {
			ok++
		}
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("enqueueing on a full queue took %v", d)
	}
	if ok != 2 || q.Dropped() != 8 || counterValue(c) != 8 {
		t.Errorf("queued %d, dropped %d (metric %v); want 2 and 8", ok, q.Dropped(), counterValue(c))
	}
	close(r.block)
	q.Close()
	if got := len(r.got()); got != 3 {
		t.Errorf("%d batches delivered, want 3", got)
	}
}

func TestMaxBytesBoundsWaitingBytes(t *testing.T) {
	r := &recorder{block: make(chan struct{})}
	// An entry counts its buffer: Buffer's are 2 KiB.
	q := New(Settings{MaxBatch: 1, MaxEntries: 100, MaxBytes: 3 * BufferSize}, r)
	enqueue(q, "x")
	waitFor(t, "the first send", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.calls == 1 })
	if !enqueue(q, "1") || !enqueue(q, "2") || enqueue(q, "3") {
		t.Error("max_bytes of three buffers should hold the one in flight and two waiting, and refuse a third")
	}
	if q.Bytes() != 3*BufferSize {
		t.Errorf("%d bytes counted, want %d", q.Bytes(), 3*BufferSize)
	}
	close(r.block)
	q.Close()
	if q.Dropped() != 1 || q.Bytes() != 0 {
		t.Errorf("dropped %d with %d bytes left, want 1 and 0", q.Dropped(), q.Bytes())
	}
}

// Settings without MaxEntries get Kong's 10000: entries wait while the
// sender is busy rather than being dropped.
func TestDefaultMaxEntries(t *testing.T) {
	r := &recorder{block: make(chan struct{})}
	q := New(Settings{MaxBatch: 1}, r)
	if !enqueue(q, "x") {
		t.Fatal("entry refused by an idle queue")
	}
	waitFor(t, "the first send", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.calls == 1 })
	if !enqueue(q, "1") || cap(q.ch) != DefaultMaxEntries {
		t.Errorf("entry refused while the sender is busy, or %d entries held, want %d", cap(q.ch), DefaultMaxEntries)
	}
	close(r.block)
	q.Close()
}

// A queue whose config sets no max_bytes is bounded all the same, and
// an entry counts the memory its buffer holds, not its length: a
// collector that is down cannot let clients fill memory.
func TestDefaultMaxBytes(t *testing.T) {
	r := &recorder{block: make(chan struct{})}
	defer close(r.block)
	q := New(Settings{MaxBatch: 1, MaxEntries: 100000}, r)
	defer q.Close()
	for range 200 {
		bp := q.Buffer()
		*bp = append(make([]byte, 0, 1<<20), 'x')
		q.Enqueue(bp)
		if q.Bytes() > DefaultMaxBytes {
			t.Fatalf("%d bytes queued, over the default bound %d", q.Bytes(), DefaultMaxBytes)
		}
	}
	if q.Dropped() != 200-DefaultMaxBytes>>20 {
		t.Errorf("dropped %d of 200 one-MiB buffers, want %d", q.Dropped(), 200-DefaultMaxBytes>>20)
	}
}

func TestRetriesWithBackoffThenDelivers(t *testing.T) {
	r := &recorder{fails: 3}
	q := New(Settings{MaxBatch: 1, MaxEntries: 10, RetryTime: time.Minute, InitialDelay: 20 * time.Millisecond, MaxDelay: time.Second}, r)
	defer q.Close()
	start := time.Now()
	enqueue(q, "a")
	waitFor(t, "delivery", func() bool { return q.Sent() == 1 })
	// 20 + 40 + 80 ms of backoff before the fourth call.
	if d := time.Since(start); d < 140*time.Millisecond {
		t.Errorf("delivered after %v; backoff should take at least 140ms", d)
	}
	if r.calls != 4 || q.Dropped() != 0 {
		t.Errorf("calls %d, dropped %d; want 4 and 0", r.calls, q.Dropped())
	}
}

func TestRetryTimeOverDropsBatch(t *testing.T) {
	r := &recorder{fails: 1000}
	q := New(Settings{MaxBatch: 5, MaxEntries: 10, RetryTime: 100 * time.Millisecond, InitialDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond}, r)
	defer q.Close()
	enqueue(q, "a")
	enqueue(q, "b")
	waitFor(t, "the batch to be dropped", func() bool { return q.Dropped() == 2 })
	if r.calls < 3 {
		t.Errorf("%d calls; want retries before dropping", r.calls)
	}
}

func TestNoRetryTimeMeansNoRetry(t *testing.T) {
	r := &recorder{fails: 1}
	q := New(Settings{MaxBatch: 1, MaxEntries: 10, InitialDelay: time.Millisecond}, r)
	defer q.Close()
	enqueue(q, "a")
	waitFor(t, "the drop", func() bool { return q.Dropped() == 1 })
	if r.calls != 1 {
		t.Errorf("%d calls, want 1", r.calls)
	}
}

func TestCloseFlushesQueued(t *testing.T) {
	r := &recorder{block: make(chan struct{})}
	q := New(Settings{MaxBatch: 3, Delay: time.Hour, MaxEntries: 100}, r)
	for i := range 7 {
		enqueue(q, strconv.Itoa(i))
	}
	close(r.block)
	q.Close()
	if q.Sent() != 7 || q.Dropped() != 0 || !r.closed {
		t.Errorf("sent %d, dropped %d, sender closed %v; want 7, 0, true", q.Sent(), q.Dropped(), r.closed)
	}
	if enqueue(q, "late") || q.Dropped() != 1 {
		t.Error("an entry after Close should be dropped and counted")
	}
}

// stuck is a Sender whose Send ignores its ctx and returns only when
// release is closed: a write to a stuck disk.
type stuck struct {
	calls   atomic.Int32
	release chan struct{}
}

func (s *stuck) Send(context.Context, [][]byte) error {
	s.calls.Add(1)
	<-s.release
	return nil
}

func (s *stuck) Close() {}

func TestCloseWaitIsBounded(t *testing.T) {
	for _, tt := range []struct {
		name string
		send Sender
	}{
		{"a hung collector", &recorder{block: make(chan struct{})}},
		{"a Send that ignores the cancel", &stuck{release: make(chan struct{})}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if s, ok := tt.send.(*stuck); ok {
				defer close(s.release)
			}
			q := New(Settings{MaxBatch: 1, MaxEntries: 100, RetryTime: time.Minute, InitialDelay: time.Millisecond, MaxDelay: time.Millisecond, FlushTimeout: 200 * time.Millisecond}, tt.send)
			for range 5 {
				enqueue(q, "x")
			}
			closed := make(chan struct{})
			start := time.Now()
			go func() { q.Close(); close(closed) }()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("Close still waiting after 10s for a sender that does not return")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Close took %v; want about the flush timeout and grace", d)
			}
			if q.Dropped() != 5 {
				t.Errorf("dropped %d, want 5", q.Dropped())
			}
		})
	}
}

// blockingHandler is a slog.Handler whose Handle blocks until release is
// closed (the gateway's log destination stalled: a full stderr pipe),
// saying on entered that it was called.
type blockingHandler struct {
	entered chan struct{}
	release chan struct{}
}

func (h *blockingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *blockingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *blockingHandler) WithGroup(string) slog.Handler            { return h }
func (h *blockingHandler) Handle(context.Context, slog.Record) error {
	h.entered <- struct{}{}
	<-h.release
	return nil
}

// An Enqueue blocked writing its drop warning to the gateway's log does
// not hold Close: it no longer counts as under way then.
func TestCloseDoesNotWaitForEnqueueBlockedInItsLogger(t *testing.T) {
	h := &blockingHandler{entered: make(chan struct{}, 1), release: make(chan struct{})}
	q := New(Settings{MaxBatch: 1, MaxEntries: 10, MaxEntryBytes: 1, FlushTimeout: 100 * time.Millisecond, Logger: slog.New(h)}, &recorder{})
	enqueued := make(chan bool)
	go func() { enqueued <- enqueue(q, "too large") }()
	<-h.entered
	closed := make(chan struct{})
	go func() { q.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Error("Close still waiting after 5s for an Enqueue blocked in its logger")
	}
	close(h.release)
	<-closed
	if <-enqueued {
		t.Error("an entry over MaxEntryBytes was queued")
	}
	if q.Dropped() != 1 {
		t.Errorf("dropped %d, want 1", q.Dropped())
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}
