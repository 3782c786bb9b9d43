package logs

import (
	"time"

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
