package observe

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnpikegw/turnpike/internal/record"
)

func TestAppendRecordIsOneValidJSONLine(t *testing.T) {
	e := &record.Record{
		Time:      time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC),
		RequestID: "abc",
		ClientIP:  "127.0.0.1",
		Method:    "GET",
		URI:       "/a\r\nfake: line\x00\x1b[31m\"quoted\"\\",
		Status:    200,
		Latency:   1500 * time.Microsecond,
		Attempts:  []record.Attempt{{Target: "10.0.0.1:80"}},
		UserAgent: "agent\x7f",
		Source:    "upstream",
	}
	line := AppendRecord(nil, e)
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("not exactly one line: %q", line)
	}
	for _, c := range line[:len(line)-1] {
		if c < 0x20 || c == 0x7f {
			t.Fatalf("raw control byte %#x in %q", c, line)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("invalid JSON %q: %v", line, err)
	}
	if m["uri"] != e.URI || m["user_agent"] != e.UserAgent {
		t.Errorf("round trip lost data: %v", m)
	}
	if m["time"] != "2026-11-25T10:00:00.123Z" || m["latency_ms"] != 1.5 || m["status"] != float64(200) {
		t.Errorf("fields: %v", m)
	}
	if _, ok := m["route"]; ok {
		t.Errorf("empty optional field written")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestAccessLogWritesEveryLineOrCountsIt(t *testing.T) {
	var out lockedBuffer
	l := NewAccessLog(&out, 16)
	const n = 1000
	for i := range n {
		l.Observe(&record.Record{Time: time.Now(), RequestID: strings.Repeat("x", i%7), Source: "gateway"})
	}
	l.Close()
	lines := strings.Count(out.b.String(), "\n")
	if uint64(lines)+l.Dropped() != n {
		t.Fatalf("%d lines written + %d dropped != %d", lines, l.Dropped(), n)
	}
}

func TestAccessLogWriteLineCopiesAndSharesTheQueue(t *testing.T) {
	var out lockedBuffer
	l := NewAccessLog(&out, 4)
	line := []byte(`{"a":1}` + "\n")
	const n = 500
	for range n {
		l.WriteLine(line)
		// The caller reuses its buffer at once.
		line[5] = '2'
		l.Observe(&record.Record{Time: time.Now(), Source: "gateway"})
		line[5] = '1'
	}
	l.Close()
	got := out.b.String()
	if strings.Contains(got, `{"a":2}`) {
		t.Fatal("a line changed after WriteLine returned")
	}
	lines := strings.Count(got, "\n")
	if uint64(lines)+l.Dropped() != 2*n || strings.Count(got, `{"a":1}`) == 0 {
		t.Fatalf("%d lines written + %d dropped != %d", lines, l.Dropped(), 2*n)
	}
}

// countingBuffer counts the writes that reach the destination.
type countingBuffer struct {
	lockedBuffer
	writes atomic.Int64
}

func (c *countingBuffer) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.lockedBuffer.Write(p)
}

func (c *countingBuffer) lines() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Count(c.b.String(), "\n")
}

// The first line after a quiet spell reaches the destination without
// waiting for more; lines that keep coming go out in one write each
// flushEvery, not one write a line.
func TestAccessLogWritesAtOnceThenBatches(t *testing.T) {
	var out countingBuffer
	l := NewAccessLog(&out, 8192)
	defer l.Close()
	line := []byte(`{"a":1}` + "\n")
	l.WriteLine(line)
	waitLines(t, &out, 1)
	const n = 50
	start := time.Now()
	for range n {
		l.WriteLine(line)
		time.Sleep(200 * time.Microsecond)
	}
	elapsed := time.Since(start)
	waitLines(t, &out, n+1)
	if w, most := out.writes.Load(), int64(3+elapsed/flushEvery); w > most {
		t.Errorf("%d writes for %d lines over %v, want at most %d", w, n+1, elapsed, most)
	}
}

func waitLines(t *testing.T, out *countingBuffer, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); out.lines() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d lines written, want %d", out.lines(), n)
		}
	}
}

func BenchmarkAppendRecord(b *testing.B) {
	e := &record.Record{Time: time.Now(), RequestID: "0123456789abcdef0123456789abcdef", ClientIP: "127.0.0.1",
		Method: "GET", URI: "/api/users/7?x=1", Host: "api.example.com", Proto: "HTTP/1.1", Status: 200,
		Route: "users", Service: "users", Attempts: []record.Attempt{{Target: "127.0.0.1:8080"}}, UserAgent: "curl/8", Source: "upstream"}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRecord(buf[:0], e)
	}
}

// blockedWriter holds every write until release is closed.
type blockedWriter struct {
	release chan struct{}
	n       atomic.Int64
}

func (w *blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	w.n.Add(int64(len(p)))
	return len(p), nil
}

// Long lines are bounded in bytes, not only in count: behind a stuck
// destination the queue holds at most maxQueuedBytes, the rest is
// dropped and counted, and what was queued is written once it moves.
func TestAccessLogQueueIsBoundedInBytes(t *testing.T) {
	w := &blockedWriter{release: make(chan struct{})}
	l := NewAccessLog(w, 8192)
	line := append(bytes.Repeat([]byte("x"), 1<<20-1), '\n')
	const n = 64
	for range n {
		l.WriteLine(line)
		if q := l.queued.Load(); q > maxQueuedBytes {
			t.Fatalf("%d bytes queued", q)
		}
	}
	if d := l.Dropped(); d < n-maxQueuedBytes/(1<<20)-1 {
		t.Errorf("%d of %d 1 MiB lines dropped behind a stuck writer", d, n)
	}
	close(w.release)
	l.Close()
	if written := w.n.Load(); uint64(written)/(1<<20)+l.Dropped() != n || l.queued.Load() != 0 {
		t.Errorf("%d bytes written, %d dropped, %d still counted as queued", written, l.Dropped(), l.queued.Load())
	}
}

func TestAppendRecordTraceID(t *testing.T) {
	r := &record.Record{Method: "GET", Source: record.SourceGateway}
	if line := AppendRecord(nil, r); bytes.Contains(line, []byte("trace_id")) {
		t.Fatalf("trace_id written without a trace: %s", line)
	}
	r.TraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	line := AppendRecord(nil, r)
	if !bytes.Contains(line, []byte(`,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","source":"gateway"`)) {
		t.Fatalf("trace_id missing or misplaced: %s", line)
	}
}

// An aggregation's line says which call each try was, its worst call's
// code as upstream_status and the time its calls took together.
func TestAppendRecordAggregatedCalls(t *testing.T) {
	ms := time.Millisecond
	e := &record.Record{Method: "GET", Status: 200, Source: record.SourceGateway, Attempts: []record.Attempt{
		{Target: "users:80", Call: "user", Status: 200, Outcome: record.OutcomeResponse, Start: 2 * ms, Head: 3 * ms, End: 4 * ms},
		{Target: "orders:80", Call: "orders", Outcome: record.OutcomeTimeout, Start: 2 * ms, End: 10 * ms},
		{Target: "accts:80", Call: "account", Status: 200, Outcome: record.OutcomeResponse, Start: 6 * ms, Head: 1 * ms, End: 2 * ms},
	}}
	var m map[string]any
	if err := json.Unmarshal(AppendRecord(nil, e), &m); err != nil {
		t.Fatal(err)
	}
	if m["upstream_status"] != float64(504) || m["upstream_latency_ms"] != float64(10) {
		t.Errorf("upstream_status %v, upstream_latency_ms %v; want 504, 10", m["upstream_status"], m["upstream_latency_ms"])
	}
	tries, _ := m["tries"].([]any)
	if len(tries) != 3 || tries[1].(map[string]any)["call"] != "orders" {
		t.Errorf("tries %v", m["tries"])
	}
	e.Attempts = e.Attempts[:1]
	m = nil
	if err := json.Unmarshal(AppendRecord(nil, e), &m); err != nil {
		t.Fatal(err)
	}
	if tries, _ := m["tries"].([]any); len(tries) != 1 || m["upstream_status"] != float64(200) {
		t.Errorf("one call: tries %v, upstream_status %v", m["tries"], m["upstream_status"])
	}
}
