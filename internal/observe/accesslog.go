package observe

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/jsonw"
	"github.com/turnpikegw/turnpike/internal/record"
)

// AccessLog writes one JSON object per line. Lines are formatted on the
// request's goroutine into pooled buffers and written by one background
// writer; when the queue is full, in lines or in bytes, a line is dropped
// and counted rather than making a request wait.
type AccessLog struct {
	queue   chan *[]byte
	out     *bufio.Writer
	dst     io.Writer
	bufs    sync.Pool
	queued  atomic.Int64 // bytes in the queue
	dropped atomic.Uint64
	stop    chan struct{}
	done    chan struct{}
}

// Lines carry request values (a URI, headers a log plugin names) of up
// to the edge limits each, so a queue bounded in lines only could hold
// gigabytes of them.
const (
	// maxQueuedBytes bounds the bytes of the lines waiting to be written.
	maxQueuedBytes = 16 << 20
	// maxPooledLine is the largest buffer kept for reuse: one long line
	// must not keep its memory in the pool.
	maxPooledLine = 16 << 10
)

// NewAccessLog starts a log writing to w with room for queueLen lines.
func NewAccessLog(w io.Writer, queueLen int) *AccessLog {
	l := &AccessLog{
		queue: make(chan *[]byte, queueLen),
		out:   bufio.NewWriterSize(w, 64<<10),
		dst:   w,
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	l.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	go l.run()
	return l
}

// Dropped is the number of lines lost to a full queue.
func (l *AccessLog) Dropped() uint64 { return l.dropped.Load() }

// Observe queues the line of r.
func (l *AccessLog) Observe(r *record.Record) {
	bp := l.bufs.Get().(*[]byte)
	*bp = AppendRecord((*bp)[:0], r)
	l.enqueue(bp)
}

// enqueue hands a line to the writer, or drops and counts it when the
// queue is full.
func (l *AccessLog) enqueue(bp *[]byte) {
	n := int64(len(*bp))
	if l.queued.Add(n) > maxQueuedBytes {
		l.queued.Add(-n)
		l.drop(bp)
		return
	}
	select {
	case l.queue <- bp:
	default:
		l.queued.Add(-n)
		l.drop(bp)
	}
}

func (l *AccessLog) drop(bp *[]byte) {
	l.dropped.Add(1)
	l.release(bp)
}

// release puts a buffer back for reuse unless it grew too large to keep.
func (l *AccessLog) release(bp *[]byte) {
	if cap(*bp) <= maxPooledLine {
		l.bufs.Put(bp)
	}
}

// WriteLine queues a copy of b, a whole line that ends in a newline,
// written by the same writer as the access log's own lines (log plugins,
// through plugin.Env.AccessLog).
func (l *AccessLog) WriteLine(b []byte) {
	bp := l.bufs.Get().(*[]byte)
	*bp = append((*bp)[:0], b...)
	l.enqueue(bp)
}

// flushEvery is the least time between two writes to the destination:
// the first line after a quiet spell is written at once, and under load
// the lines queued in the next flushEvery go out together. Flushing
// whenever the queue was momentarily empty woke the writer for nearly
// every request; measured with the access log to a file on the route
// without plugins, that cost about 7 % of the gateway's CPU.
const flushEvery = 10 * time.Millisecond

func (l *AccessLog) run() {
	defer close(l.done)
	for {
		select {
		case bp := <-l.queue:
			l.write(bp)
			if n := l.drain(); n < cap(l.queue)/4 {
				// More queued lines than that mean they come faster
				// than flushEvery's pace would write them: no pause then.
				time.Sleep(flushEvery)
			}
		case <-l.stop:
			// Write what is queued; lines logged after this are dropped
			// and counted. The queue is never closed, so a request that
			// finishes during shutdown cannot panic on a closed channel.
			l.drain()
			return
		}
	}
}

// drain writes the lines queued and flushes them; it returns how many.
func (l *AccessLog) drain() int {
	for n := 0; ; n++ {
		select {
		case bp := <-l.queue:
			l.write(bp)
		default:
			l.out.Flush()
			return n
		}
	}
}

func (l *AccessLog) write(bp *[]byte) {
	l.out.Write(*bp)
	l.queued.Add(-int64(len(*bp)))
	l.release(bp)
}

// Close writes what is queued and stops the writer.
func (l *AccessLog) Close() {
	close(l.stop)
	<-l.done
}

// AppendRecord formats r as one JSON line.
func AppendRecord(b []byte, r *record.Record) []byte {
	b = append(b, `{"time":"`...)
	b = r.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, '"')
	b = appendField(b, "request_id", r.RequestID)
	b = appendField(b, "client_ip", r.ClientIP)
	b = appendField(b, "method", r.Method)
	b = appendField(b, "uri", r.URI)
	b = appendField(b, "host", r.Host)
	b = appendField(b, "protocol", r.Proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"bytes_sent":`...)
	b = strconv.AppendInt(b, r.BytesSent, 10)
	b = append(b, `,"bytes_received":`...)
	b = strconv.AppendInt(b, r.BytesReceived, 10)
	b = append(b, `,"latency_ms":`...)
	b = appendMillis(b, r.Latency)
	if n := len(r.Attempts); n > 0 {
		// The last target tried; status and latency only of a response
		// that went to the client.
		var status int
		var latency time.Duration
		if a := r.Answer(); a != nil {
			status, latency = a.Status, a.Head
		} else if r.Aggregated() {
			status, latency = aggregatedUpstream(r)
		}
		b = appendField(b, "upstream", r.Attempts[n-1].Target)
		b = append(b, `,"upstream_status":`...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, `,"upstream_latency_ms":`...)
		b = appendMillis(b, latency)
	}
	b = appendOptional(b, "route", r.Route)
	b = appendOptional(b, "service", r.Service)
	b = appendOptional(b, "consumer", r.Consumer)
	b = appendOptional(b, "user_agent", r.UserAgent)
	b = appendOptional(b, "trace_id", r.TraceID)
	b = appendField(b, "source", r.Source)
	b = appendOptional(b, "error", r.Error)
	if len(r.Attempts) > 1 || r.Aggregated() {
		b = append(b, `,"tries":[`...)
		for i := range r.Attempts {
			t := &r.Attempts[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"target":`...)
			b = jsonw.AppendString(b, t.Target)
			b = appendOptional(b, "call", t.Call)
			if t.Status != 0 {
				b = append(b, `,"status":`...)
				b = strconv.AppendInt(b, int64(t.Status), 10)
			}
			b = appendField(b, "outcome", t.Outcome)
			b = append(b, `,"latency_ms":`...)
			b = appendMillis(b, t.Latency())
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}', '\n')
}

// aggregatedUpstream is an aggregation's upstream_status and latency:
// the highest of its calls' codes, so that one failed call shows in a
// status-based alert as a proxied failure would, and the time from the
// first call's start to the last call's end, the time the aggregation
// waited on upstreams. The tries list each call.
func aggregatedUpstream(r *record.Record) (int, time.Duration) {
	var status int
	first, last := r.Attempts[0].Start, time.Duration(0)
	for i := range r.Attempts {
		a := &r.Attempts[i]
		status = max(status, a.Code())
		first = min(first, a.Start)
		last = max(last, a.Start+a.End)
	}
	return status, max(last-first, 0)
}

func appendMillis(b []byte, d time.Duration) []byte {
	return strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', -1, 64)
}

func appendOptional(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendField(b, key, v)
}

func appendField(b []byte, key, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return jsonw.AppendString(b, v)
}
