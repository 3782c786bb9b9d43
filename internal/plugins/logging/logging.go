package logging

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnpikegw/turnpike/internal/logfile"
	"github.com/turnpikegw/turnpike/internal/plugin"
)

// Config is the guide's logging plugin config, plus `path`.
type Config struct {
	// LogLevel is the level of the plugin's lines: they are written when
	// the gateway's --log-level admits it.
	LogLevel string `yaml:"log_level"`
	// LogFormat is the shape of each line; its string leaves hold
	// variables.
	LogFormat plugin.Ordered `yaml:"log_format"`
	// Path, when set, is a file the lines are appended to instead of the
	// access log's destination.
	Path string `yaml:"path"`
}

// SetDefaults applies the defaults.
func (c *Config) SetDefaults() { c.LogLevel = "info" }

const name = "logging"

// Registration describes the plugin to the registry. Its priority, 5,
// places it among Kong's log plugins (file-log 9, udp-log 8, tcp-log 7,
// loggly 6, syslog 4) on a number none of them uses; it matters only for
// the order of the log phase.
func Registration() plugin.Registration {
	return plugin.Registration{
		Name:      name,
		Priority:  5,
		NewConfig: func() any { return &Config{} },
		New:       New,
	}
}

var levels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// maxPooledLine is the largest line buffer kept for reuse: a request
// with huge headers does not pin its buffer in the pool.
const maxPooledLine = 64 << 10

type instance struct {
	format *format
	// out is nil when the gateway's log level leaves the lines out, or
	// where there is nowhere to write (dry runs).
	out  plugin.LineWriter
	file *fileWriter
	bufs sync.Pool
}

// New compiles the format and checks that the file the config names can
// be opened; the writer opens it.
func New(raw any, env plugin.Env) (plugin.Instance, error) {
	cfg := raw.(*Config)
	var errs plugin.Errors
	level, ok := levels[cfg.LogLevel]
	if !ok {
		errs = append(errs, plugin.Problem{Path: "log_level", Message: "expected one of: debug, info, warn, error"})
	}
	if len(cfg.LogFormat.Keys) == 0 {
		errs = append(errs, plugin.Problem{Path: "log_format", Message: "required field missing"})
	}
	if cfg.Path != "" && (!filepath.IsAbs(cfg.Path) || strings.ContainsRune(cfg.Path, 0)) {
		errs = append(errs, plugin.Problem{Path: "path", Message: "expected an absolute file path"})
	}
	f, ferrs := compileFormat(&cfg.LogFormat, "log_format")
	if errs = append(errs, ferrs...); len(errs) > 0 {
		return nil, errs
	}
	in := &instance{format: f}
	in.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	if env.Logger != nil && !env.Logger.Enabled(context.Background(), level) {
		return in, nil
	}
	if cfg.Path == "" {
		in.out = env.AccessLog
		return in, nil
	}
	if err := logfile.Check(cfg.Path); err != nil {
		return nil, plugin.FieldError("path", err.Error())
	}
	var dropped prometheus.Counter
	if env.Metrics != nil {
		// By the plugin's id, which the config defines: a file path
		// would show the host's layout on /metrics.
		dropped = plugin.RegisterMetric(env.Metrics, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnpike_logging_dropped_lines_total",
			Help: "Lines of the logging plugin's path lost to a full queue, a failed write or the shutdown flush, by plugin id.",
		}, []string{"plugin_id"})).WithLabelValues(env.PluginID)
	}
	in.file = newFileWriter(cfg.Path, dropped, env.Logger)
	in.out = in.file
	return in, nil
}

// Log renders the request's line and hands it on without waiting.
func (in *instance) Log(c *plugin.Ctx) {
	if in.out == nil {
		return
	}
	bp := in.bufs.Get().(*[]byte)
	b := append(in.format.render((*bp)[:0], c), '\n')
	in.out.WriteLine(b)
	if cap(b) <= maxPooledLine {
		*bp = b
		in.bufs.Put(bp)
	}
}

// Close writes out the file's queued lines and closes it.
func (in *instance) Close() {
	if in.file != nil {
		in.file.Close()
	}
}
