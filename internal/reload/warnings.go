package reload

import (
	"strconv"

	"github.com/turnpikegw/turnpike/internal/config"
)

// maxWarnings bounds the warnings a load lists and logs, so that a file
// with thousands of them still gives a readable status and log.
const maxWarnings = 20

// noteWarnings puts the warnings of m, just applied, in res and logs each
// at WARN; past maxWarnings only their number.
func (l *Loader) noteWarnings(res *Result, m *config.Model) {
	for i, w := range m.Warnings {
		if i == maxWarnings {
			more := strconv.Itoa(len(m.Warnings)-maxWarnings) + " more warnings"
			res.Warnings = append(res.Warnings, more)
			l.logger.Warn("configuration warning", "trigger", res.Trigger, "warning", more)
			return
		}
		res.Warnings = append(res.Warnings, config.Shorten(w.Error(), maxMessageLen))
		l.logger.Warn("configuration warning", "trigger", res.Trigger, "warning", w.Error())
	}
}
