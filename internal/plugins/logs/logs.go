package logs

import (
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/queue"
)

// Kong's priorities of the log plugins.
const (
	priorityHTTPLog = 12
	priorityFileLog = 9
	priorityUDPLog  = 8
	priorityTCPLog  = 7
	prioritySyslog  = 4
)

// shipper is the log phase every log plugin but syslog shares: the
// request's log object, queued.
type shipper struct {
	q       *queue.Queue
	release func()
	// newline ends each entry (file-log, tcp-log: one JSON object a line).
	newline bool
}

// Log queues the request's log object; it never waits.
func (s *shipper) Log(c *plugin.Ctx) {
	bp := s.q.Buffer()
	*bp = AppendEntry(*bp, c)
	if s.newline {
		*bp = append(*bp, '\n')
	}
	s.q.Enqueue(bp)
}

// Close gives the queue back; the last instance using it flushes it.
func (s *shipper) Close() { s.release() }

// droppedMetric is the count of log entries lost, by plugin.
func droppedMetric(r prometheus.Registerer) *prometheus.CounterVec {
	return plugin.RegisterMetric(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "turnpike_log_entries_dropped_total",
		Help: "Log entries the log plugins dropped: queue full, delivery failed past the retry time, or not delivered within the shutdown flush.",
	}, []string{"plugin"}))
}

// openQueue returns the queue of plugin name for key: the one instances
// with the same key use already (through env.Store), or a new one
// delivering through the sender newSender makes. release gives it back.
func openQueue(env plugin.Env, name, key string, s queue.Settings, newSender func() queue.Sender) (q *queue.Queue, release func()) {
	s.Plugin = name
	s.Logger = env.Logger
	if env.Metrics != nil {
		s.Dropped = droppedMetric(env.Metrics).WithLabelValues(name)
	}
	if env.Store == nil || env.Store.Shared == nil {
		q := queue.New(s, newSender())
		return q, func() { q.Close() }
	}
	v, release := env.Store.Shared.Acquire(name+"\x00"+key, func() io.Closer { return queue.New(s, newSender()) })
	return v.(*queue.Queue), release
}

// millis turns a Kong millisecond field into a duration.
func millis(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// refuseLua refuses custom_fields_by_lua: Turnpike runs no Lua.
func refuseLua(fields map[string]string) plugin.Errors {
	if len(fields) == 0 {
		return nil
	}
	return plugin.Errors{{Path: "custom_fields_by_lua", Message: "Lua code is not supported by Turnpike: remove custom_fields_by_lua (the log object's fields are fixed)"}}
}

// positive checks a millisecond field that must be above 0.
func positive(errs plugin.Errors, path string, v float64) plugin.Errors {
	if !(v > 0) || v > 1e9 {
		errs = append(errs, plugin.Problem{Path: path, Message: "value should be between 0 and 1000000000 (exclusive of 0)"})
	}
	return errs
}

// nonNegative is positive with 0 allowed (a keepalive of 0 closes the
// connection after each send).
func nonNegative(errs plugin.Errors, path string, v float64) plugin.Errors {
	if !(v >= 0) || v > 1e9 {
		errs = append(errs, plugin.Problem{Path: path, Message: "value should be between 0 and 1000000000"})
	}
	return errs
}
