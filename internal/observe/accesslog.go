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
// writer; when the queue is full a line is dropped and counted rather than
// making a request wait.
type AccessLog struct {
	queue   chan *[]byte
	out     *bufio.Writer
	dst     io.Writer
	bufs    sync.Pool
	dropped atomic.Uint64
	stop    chan struct{}
	done    chan struct{}
}

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
	select {
	case l.queue <- bp:
	default:
		l.dropped.Add(1)
		l.bufs.Put(bp)
	}
}

func (l *AccessLog) run() {
	defer close(l.done)
	for {
		select {
		case bp := <-l.queue:
			l.write(bp)
		case <-l.stop:
			// Write what is queued; lines logged after this are dropped
			// and counted. The queue is never closed, so a request that
			// finishes during shutdown cannot panic on a closed channel.
			for {
				select {
				case bp := <-l.queue:
					l.write(bp)
				default:
					l.out.Flush()
					return
				}
			}
		}
	}
}

func (l *AccessLog) write(bp *[]byte) {
	l.out.Write(*bp)
	l.bufs.Put(bp)
	// Flush when the queue is momentarily empty: batches under load,
	// prompt lines when idle.
	if len(l.queue) == 0 {
		l.out.Flush()
	}
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
	if len(r.Attempts) > 1 {
		b = append(b, `,"tries":[`...)
		for i := range r.Attempts {
			t := &r.Attempts[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"target":`...)
			b = jsonw.AppendString(b, t.Target)
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
