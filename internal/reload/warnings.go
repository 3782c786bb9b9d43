package reload

import (
	"github.com/turnpikegw/turnpike/internal/config"
)

// maxWarningsLogged bounds the warnings one load logs one by one; a file
// that repeats one (thousands of credentials) still logs a few lines.
const maxWarningsLogged = 20

// warnConfig logs the warnings of m, just put in force, at WARN, and
// records them in res for /status.
func (l *Loader) warnConfig(m *config.Model, res *Result) {
	for i, w := range m.Warnings {
		res.Warnings = append(res.Warnings, w.Error())
		if i < maxWarningsLogged {
			l.logger.Warn("configuration warning", "trigger", res.Trigger, "warning", w.Error())
		}
	}
	if n := len(m.Warnings) - maxWarningsLogged; n > 0 {
		l.logger.Warn("configuration warnings not logged", "trigger", res.Trigger, "count", n)
	}
}
