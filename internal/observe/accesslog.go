package observe

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnpikegw/turnpike/internal/jsonw"
)

// Entry is one request as the access log records it.
type Entry struct {
	Time            time.Time
	RequestID       string
	ClientIP        string
	Method          string
	URI             string
	Host            string
	Proto           string
	Status          int
	BytesSent       int64
	BytesReceived   int64
	Route           string
	Service         string
	Consumer        string
	Upstream        string
	UpstreamStatus  int
	Latency         time.Duration
	UpstreamLatency time.Duration
	UserAgent       string
	// Source is "upstream" for proxied responses, "gateway" for responses
	// the gateway or a plugin made (Kong's "kong").
	Source string
	Error  string
	// Tries are the upstream attempts, logged when there was more than one.
	Tries []Try
}

// Try is one upstream attempt of a request.
type Try struct {
	Target  string // host:port
	Status  int    // 0 when no response head was received
	Latency time.Duration
	// Outcome is "response" (passed on), "status" (a retryable status,
	// dropped), "connect_error", "timeout" or "error".
	Outcome string
}

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

// Log queues e.
func (l *AccessLog) Log(e *Entry) {
	bp := l.bufs.Get().(*[]byte)
	*bp = AppendEntry((*bp)[:0], e)
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

// AppendEntry formats e as one JSON line.
func AppendEntry(b []byte, e *Entry) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, '"')
	b = appendField(b, "request_id", e.RequestID)
	b = appendField(b, "client_ip", e.ClientIP)
	b = appendField(b, "method", e.Method)
	b = appendField(b, "uri", e.URI)
	b = appendField(b, "host", e.Host)
	b = appendField(b, "protocol", e.Proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"bytes_sent":`...)
	b = strconv.AppendInt(b, e.BytesSent, 10)
	b = append(b, `,"bytes_received":`...)
	b = strconv.AppendInt(b, e.BytesReceived, 10)
	b = append(b, `,"latency_ms":`...)
	b = appendMillis(b, e.Latency)
	if e.Upstream != "" {
		b = appendField(b, "upstream", e.Upstream)
		b = append(b, `,"upstream_status":`...)
		b = strconv.AppendInt(b, int64(e.UpstreamStatus), 10)
		b = append(b, `,"upstream_latency_ms":`...)
		b = appendMillis(b, e.UpstreamLatency)
	}
	b = appendOptional(b, "route", e.Route)
	b = appendOptional(b, "service", e.Service)
	b = appendOptional(b, "consumer", e.Consumer)
	b = appendOptional(b, "user_agent", e.UserAgent)
	b = appendField(b, "source", e.Source)
	b = appendOptional(b, "error", e.Error)
	if len(e.Tries) > 1 {
		b = append(b, `,"tries":[`...)
		for i := range e.Tries {
			t := &e.Tries[i]
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
			b = appendMillis(b, t.Latency)
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
