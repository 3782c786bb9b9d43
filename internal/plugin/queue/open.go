package queue

import (
	"io"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/plugin"
)

// droppedMetric is the count of entries lost, by plugin.
func droppedMetric(r prometheus.Registerer) *prometheus.CounterVec {
	return plugin.RegisterMetric(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "turnpike_log_entries_dropped_total",
		Help: "Log entries the log plugins dropped: queue full, delivery failed past the retry time, or not delivered within the shutdown flush.",
	}, []string{"plugin"}))
}

// Open returns the queue of plugin name for key: the one instances with
// the same key use already (through env.Store), so that a reload keeps
// what waits, or a new one delivering through the sender newSender
// makes. release gives it back; the last user's release flushes it.
func Open(env plugin.Env, name, key string, s Settings, newSender func() Sender) (q *Queue, release func()) {
	s.Plugin = name
	s.Logger = env.Logger
	if env.Metrics != nil {
		s.Dropped = droppedMetric(env.Metrics).WithLabelValues(name)
	}
	if env.Store == nil || env.Store.Shared == nil {
		q := New(s, newSender())
		return q, func() { q.Close() }
	}
	v, release := env.Store.Shared.Acquire(name+"\x00"+key, func() io.Closer { return New(s, newSender()) })
	return v.(*Queue), release
}
