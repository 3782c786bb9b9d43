package queue

import (
	"context"
	"errors"
	"strconv"
	"sync"
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
		name  string
		s     Settings
		n     int
		sizes []int
	}{
		{name: "batch of one sends each entry", s: Settings{MaxBatch: 1, MaxEntries: 100}, n: 3, sizes: []int{1, 1, 1}},
		{name: "full batches go before the delay", s: Settings{MaxBatch: 2, Delay: time.Hour, MaxEntries: 100}, n: 4, sizes: []int{2, 2}},
		{name: "a partial batch goes after the delay", s: Settings{MaxBatch: 10, Delay: 50 * time.Millisecond, MaxEntries: 100}, n: 3, sizes: []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			q := New(tt.s, r)
			defer q.Close()
			for i := range tt.n {
				enqueue(q, strconv.Itoa(i))
			}
			waitFor(t, "delivery", func() bool { return q.Sent() == uint64(tt.n) })
			var sizes []int
			var all []string
			for _, b := range r.got() {
				sizes = append(sizes, len(b))
				all = append(all, b...)
			}
			if len(sizes) != len(tt.sizes) {
				t.Fatalf("batch sizes %v, want %v", sizes, tt.sizes)
			}
			for i := range sizes {
				if sizes[i] != tt.sizes[i] {
					t.Fatalf("batch sizes %v, want %v", sizes, tt.sizes)
				}
			}
			for i, e := range all {
				if e != strconv.Itoa(i) {
					t.Fatalf("entries out of order: %v", all)
				}
			}
		})
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
	q := New(Settings{MaxBatch: 1, MaxEntries: 100, MaxBytes: 10}, r)
	enqueue(q, "x")
	waitFor(t, "the first send", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.calls == 1 })
	if !enqueue(q, "123456") || enqueue(q, "12345") || !enqueue(q, "123") {
		t.Error("max_bytes 10 should take 6 bytes, refuse 5 more and take 3")
	}
	close(r.block)
	q.Close()
	if q.Dropped() != 1 {
		t.Errorf("dropped %d, want 1", q.Dropped())
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

func TestCloseWaitIsBounded(t *testing.T) {
	r := &recorder{block: make(chan struct{})} // never opens: a hung collector
	q := New(Settings{MaxBatch: 1, MaxEntries: 100, RetryTime: time.Minute, InitialDelay: time.Millisecond, MaxDelay: time.Millisecond, FlushTimeout: 200 * time.Millisecond}, r)
	for range 5 {
		enqueue(q, "x")
	}
	start := time.Now()
	q.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with a hung sender; want about the flush timeout", d)
	}
	if q.Dropped() != 5 {
		t.Errorf("dropped %d, want 5", q.Dropped())
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}
